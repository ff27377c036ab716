import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { MessageType, newMessage } from "@tsraft/raft/raftpb";
import { afterEach, describe, expect, it } from "vitest";
import type { TestNode } from "../../test/transport/harness.js";
import {
  app,
  count,
  RawClient,
  Recorder,
  startCluster,
  startNode,
  stopAll,
  waitFor,
  waitUntil,
} from "../../test/transport/harness.js";
import { createNodeMetrics } from "../metrics.js";
import { CloseCode } from "./frame.js";
import { Transport } from "./transport.js";

let nodes: TestNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

/** Sends `n` MsgApps from a to b in one call, indexes starting at `start`. */
function burst(a: TestNode, b: TestNode, start: number, n: number): void {
  const msgs = [];
  for (let i = 0; i < n; i++) msgs.push(app(a.id, b.id, start + i, 2, 100));
  a.t.send(msgs);
}

describe("Transport between two nodes", () => {
  it("carries batches in both directions, in order, over one connection", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    burst(a, b, 1, 500);
    burst(b, a, 1, 500);
    await waitFor(() => a.rec.processed.length === 500 && b.rec.processed.length === 500, "both bursts");
    expect(b.rec.processed.map((m) => m.index)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(a.rec.processed.map((m) => m.index)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    // The message arrives whole: entries, data, every field.
    expect(b.rec.processed[41]).toEqual(app(1, 2, 42, 2, 100));
    expect(await count(a.metrics.messagesSent)).toBe(500);
    expect(await count(b.metrics.messagesReceived)).toBe(500);
    // Per peer, ids in decimal (as the HTTP API names members).
    expect(await count(a.metrics.messagesSent, { to: "2" })).toBe(500);
    expect(await count(b.metrics.messagesReceived, { from: "1" })).toBe(500);
    expect(a.rec.unreachable).toEqual([]);
    expect(b.rec.unreachable).toEqual([]);
    // One connection per pair: each side sees the other active.
    expect(a.t.peers().map((p) => [p.id, p.active])).toEqual([[2, true]]);
    expect(b.t.peers().map((p) => [p.id, p.active])).toEqual([[1, true]]);
  });

  it("queues messages sent before the connection is up and delivers them once it is", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    // Sent in the same turn as the peers were introduced: no connection exists yet.
    burst(b, a, 1, 10);
    await waitFor(() => a.rec.processed.length === 10, "the early messages");
    expect(b.rec.unreachable).toEqual([]);
  });

  it("cuts batches at maxBatchBytes and sends a message bigger than that alone", async () => {
    nodes = await startCluster([1, 2], { maxBatchBytes: 4096, maxPayload: 64 * 1024 });
    const [a, b] = nodes as [TestNode, TestNode];
    await waitFor(() => a.t.peers()[0]!.active, "the connection");
    a.t.send([app(1, 2, 1, 1, 10), app(1, 2, 2, 1, 20_000), app(1, 2, 3, 40, 100), app(1, 2, 4, 1, 10)]);
    await waitFor(() => b.rec.processed.length === 4, "all four");
    expect(b.rec.processed.map((m) => m.entries[0]!.data.length)).toEqual([10, 20_000, 100, 10]);
    // A message that cannot fit in maxPayload at all is dropped and counted, not sent.
    a.t.send([app(1, 2, 5, 1, 70_000), app(1, 2, 6)]);
    await waitFor(() => b.rec.processed.length === 5, "the message after the oversized one");
    expect(b.rec.processed[4]!.index).toBe(6);
    expect(await count(a.metrics.messagesDropped, { reason: "too-large" })).toBe(1);
    await waitFor(() => a.rec.unreachable.length === 1, "the unreachable report");
  });

  it("drops and counts messages to unknown peers and never delivers them", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    a.t.send([app(1, 7, 1), app(1, 2, 1), app(1, 9, 1)]);
    await waitFor(() => b.rec.processed.length === 1, "the known peer's message");
    expect(await count(a.metrics.messagesDropped, { reason: "unknown-peer" })).toBe(2);
  });

  it("drops local message types and misaddressed messages that arrive from the network", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    a.t.send([
      newMessage({ type: MessageType.MsgHup, from: 1, to: 2 }),
      newMessage({ type: MessageType.MsgStorageAppend, from: 1, to: 2 }),
      newMessage({ type: MessageType.MsgHeartbeat, from: 3, to: 2 }), // forged sender
      newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 5 }),
    ]);
    await waitFor(() => b.rec.processed.length === 1, "the heartbeat");
    expect(b.rec.processed[0]!.type).toBe(MessageType.MsgHeartbeat);
    expect(b.rec.processed[0]!.term).toBe(5);
    expect(await count(b.metrics.messagesDropped, { reason: "bad-type" })).toBe(2);
    expect(await count(b.metrics.messagesDropped, { reason: "misrouted" })).toBe(1);
  });
});

describe("Transport in a three-node cluster", () => {
  it("every pair exchanges batches both ways", async () => {
    nodes = await startCluster([1, 2, 3]);
    for (const a of nodes) for (const b of nodes) if (a !== b) burst(a, b, 1, 100);
    await waitFor(() => nodes.every((n) => n.rec.processed.length === 200), "all traffic");
    for (const n of nodes) {
      for (const other of nodes) {
        if (other === n) continue;
        expect(n.rec.from(other.id).map((m) => m.index)).toEqual(
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
      }
      expect(n.t.peers().every((p) => p.active)).toBe(true);
    }
  });
});

/** Starts node `stopped` again on its port, with `peer` as its peer. */
async function restartOnPort(stopped: TestNode, peer: TestNode): Promise<TestNode> {
  const n = await startNode(stopped.id, {}, Number(new URL(stopped.url).port));
  nodes.push(n);
  n.t.addPeer(peer.id, peer.url);
  return n;
}

/** Sends `n` MsgApps each way (x → y from index `xFrom`, y → x from 1); resolves once both got them all. */
async function exchange(x: TestNode, y: TestNode, xFrom: number, n: number): Promise<void> {
  burst(x, y, xFrom, n);
  burst(y, x, 1, n);
  await waitFor(
    () => y.rec.processed.length === n && x.rec.processed.length === n,
    "traffic after the restart",
  );
}

describe("Transport across restarts and membership changes", () => {
  it("a restarted acceptor (higher id) is redialed and traffic resumes", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    burst(a, b, 1, 5);
    await waitFor(() => b.rec.processed.length === 5, "first traffic");
    await b.t.stop();
    await waitFor(() => a.rec.unreachable.includes(2), "the peer reported unreachable");
    // While it is down, sends are dropped at once and reported.
    a.t.send([app(1, 2, 100)]);
    expect(await count(a.metrics.messagesDropped, { reason: "peer-down" })).toBeGreaterThanOrEqual(1);

    const b2 = await restartOnPort(b, a);
    await waitFor(() => a.t.peers()[0]!.active, "the redial");
    await exchange(a, b2, 6, 5);
    expect(b2.rec.processed.map((m) => m.index)).toEqual([6, 7, 8, 9, 10]);
  });

  it("a restarted dialer (lower id) reconnects and supersedes its old connection", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    burst(b, a, 1, 3);
    await waitFor(() => a.rec.processed.length === 3, "first traffic");
    await a.t.stop();
    await waitFor(() => !b.t.peers()[0]!.active, "the acceptor noticing");
    const a2 = await restartOnPort(a, b);
    await waitFor(() => b.t.peers()[0]!.active, "the new connection");
    await exchange(b, a2, 4, 3);
    expect(a2.rec.processed.map((m) => m.index)).toEqual([4, 5, 6]);
  });

  it("a newly added peer connects to the existing ones", async () => {
    nodes = await startCluster([1, 2]);
    const c = await startNode(3);
    nodes.push(c);
    for (const n of nodes.slice(0, 2)) {
      n.t.addPeer(3, c.url);
      c.t.addPeer(n.id, n.url);
    }
    for (const n of nodes.slice(0, 2)) {
      burst(n, c, 1, 4);
      burst(c, n, 1, 4);
    }
    // Node 3 hears from both; each of the others from node 3 (waiting for all of it: under load
    // node 2's burst may land after node 1's).
    await waitFor(
      () => nodes.every((n) => n.rec.from(n.id === 3 ? 1 : 3).length === 4) && c.rec.from(2).length >= 4,
      "traffic with the new peer",
    );
    expect(c.rec.from(2).length).toBe(4);
  });

  it("a removed peer is disconnected, refused when it redials, and no longer routed to", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    await waitFor(() => b.t.peers()[0]?.active === true, "the connection");
    b.t.removePeer(1);
    expect(b.t.peers()).toEqual([]);
    // Node 1 (the dialer) does not know it was removed; it redials and is refused as a non-member.
    await waitFor(() => a.rec.unreachable.includes(2), "the dialer noticing");
    await waitUntil(async () => (await count(b.metrics.framesRejected, { reason: "non-member" })) >= 1);
    expect(a.t.peers()[0]!.active).toBe(false);
    a.t.send([app(1, 2, 1)]);
    b.t.send([app(2, 1, 1)]);
    expect(await count(b.metrics.messagesDropped, { reason: "unknown-peer" })).toBe(1);
    expect(b.rec.processed).toEqual([]);
  });

  it("a member refused as removed is told so once and stops dialing; a non-member keeps redialing", async () => {
    nodes = await startCluster([1, 2, 3]);
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    await waitFor(() => c.t.peers().every((p) => p.active), "node 3's connections");
    c.rec.removed = (id) => id === 1; // removed for good
    c.rec.member = (id) => id !== 2; // not a member now, not removed (the control)
    c.t.removePeer(1);
    c.t.removePeer(2);
    await waitFor(() => a.rec.removedBy.length === 1, "node 1 told it was removed");
    expect(a.rec.removedBy).toEqual([3]);
    // The control redials (refused as a non-member) five times meanwhile; node 1 never again.
    await waitUntil(async () => (await count(c.metrics.framesRejected, { reason: "non-member" })) >= 5);
    expect(await count(c.metrics.framesRejected, { reason: "removed-member" })).toBe(1);
    expect(a.t.peers().find((p) => p.id === 3)?.refusedAsRemoved).toBe(true);
    expect(b.rec.removedBy).toEqual([]);
    expect(b.t.peers().find((p) => p.id === 3)?.refusedAsRemoved).toBe(false);
  });

  it("updatePeer moves the dialer to the peer's new URL", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    await waitFor(() => a.t.peers()[0]!.active, "the connection");
    await b.t.stop();
    const b2 = await startNode(2);
    nodes.push(b2);
    b2.t.addPeer(1, a.url);
    a.t.updatePeer(2, b2.url);
    expect(a.t.peers()[0]!.url).toBe(b2.url);
    await waitFor(() => a.t.peers()[0]!.active, "the connection to the new URL");
    burst(a, b2, 1, 3);
    await waitFor(() => b2.rec.processed.length === 3, "traffic to the new URL");
  });

  it("handler.isMember can refuse a peer still in the peer set", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    await waitFor(() => b.t.peers()[0]!.active, "the connection");
    b.rec.member = (id) => id !== 1;
    await a.t.stop();
    const a2 = await startNode(1, {}, Number(new URL(a.url).port));
    nodes.push(a2);
    a2.t.addPeer(2, b.url);
    await waitUntil(async () => (await count(b.metrics.framesRejected, { reason: "non-member" })) >= 1);
    expect(b.t.peers()[0]!.active).toBe(false);
  });
});

describe("Transport options", () => {
  it("attaches to an existing http server and leaves its other requests alone", async () => {
    const server = createServer((_req, res) => res.end("kv says hi"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const rec = new Recorder();
    const t = new Transport({
      id: 2,
      clusterId: 0x1234,
      server,
      handler: rec.handler,
      metrics: createNodeMetrics(),
    });
    await t.start();
    const a = await startNode(1);
    nodes.push(a);
    t.addPeer(1, a.url);
    a.t.addPeer(2, url);
    a.t.send([app(1, 2, 1)]);
    await waitFor(() => rec.processed.length === 1, "the message via the shared server");
    const body = await (
      await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/kv/x`)
    ).text();
    expect(body).toBe("kv says hi");
    await t.stop();
    expect(server.listening).toBe(true); // not ours to close
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("refuses to start without exactly one of listen and server, or with a bad id", () => {
    const handler = new Recorder().handler;
    expect(() => new Transport({ id: 1, clusterId: 1, handler })).toThrow(/exactly one/);
    expect(() => new Transport({ id: 0, clusterId: 1, handler, listen: "ws://127.0.0.1:0" })).toThrow(
      /node id/,
    );
    expect(() => new Transport({ id: 1, clusterId: 1, handler, listen: "wss://127.0.0.1:0" })).toThrow(/tls/);
  });

  it("closes the stream with 4009 when a peer is removed", async () => {
    nodes = await startCluster([1, 2]);
    const [a, b] = nodes as [TestNode, TestNode];
    const raw = new RawClient(b.url);
    b.t.removePeer(1);
    b.t.addPeer(1, a.url);
    await raw.handshake(1, 2); // supersedes node 1's own connection
    b.t.removePeer(1);
    expect((await raw.waitClosed()).code).toBe(CloseCode.PeerRemoved);
  });
});
