import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import type { TestNode } from "../../test/transport/harness.js";
import {
  app,
  count,
  hello,
  RawClient,
  startCluster,
  startNode,
  stopAll,
  waitFor,
} from "../../test/transport/harness.js";
import {
  CloseCode,
  ConnKind,
  decodeHello,
  encodeBatch,
  encodeHello,
  FrameKind,
  PROTOCOL_VERSION,
} from "./frame.js";

let nodes: TestNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

const enc = (s: string) => new TextEncoder().encode(s);

/** Node 2 of a cluster {1, 2} with token "s3cret", and its peer 1's view. */
async function target(): Promise<TestNode> {
  nodes = await startCluster([1, 2], { token: "s3cret" });
  return nodes[1]!;
}

describe("handshake refusals", () => {
  const cases: {
    name: string;
    frame: (to: TestNode) => Uint8Array | string;
    code: number;
    metric: string;
  }[] = [
    {
      name: "another cluster",
      frame: () => hello({ from: 1, to: 2, clusterId: 0x9999, token: enc("s3cret") }),
      code: CloseCode.ClusterMismatch,
      metric: "cluster-mismatch",
    },
    {
      name: "a non-member sender",
      frame: () => hello({ from: 5, to: 2, token: enc("s3cret") }),
      code: CloseCode.NotMember,
      metric: "non-member",
    },
    {
      name: "a sender claiming the receiver's own id",
      frame: () => hello({ from: 2, to: 2, token: enc("s3cret") }),
      code: CloseCode.NotMember,
      metric: "non-member",
    },
    {
      name: "the wrong receiver",
      frame: () => hello({ from: 1, to: 3, token: enc("s3cret") }),
      code: CloseCode.WrongReceiver,
      metric: "wrong-receiver",
    },
    {
      name: "a bad token",
      frame: () => hello({ from: 1, to: 2, token: enc("s3cres") }),
      code: CloseCode.BadToken,
      metric: "bad-token",
    },
    {
      name: "no token",
      frame: () => hello({ from: 1, to: 2 }),
      code: CloseCode.BadToken,
      metric: "bad-token",
    },
    {
      name: "another protocol version",
      frame: () => hello({ from: 1, to: 2, token: enc("s3cret"), version: PROTOCOL_VERSION + 1 }),
      code: CloseCode.UnsupportedVersion,
      metric: "version",
    },
    {
      name: "an unknown connection kind",
      frame: () => hello({ from: 1, to: 2, token: enc("s3cret"), kind: 9 as ConnKind }),
      code: CloseCode.BadHandshake,
      metric: "bad-handshake",
    },
    {
      name: "garbage instead of a hello",
      frame: () => Uint8Array.of(FrameKind.Hello, 0xff, 0xff),
      code: CloseCode.BadHandshake,
      metric: "bad-handshake",
    },
    {
      name: "a batch before the handshake",
      frame: (to) => encodeBatch([app(1, to.id, 1)]),
      code: CloseCode.BadHandshake,
      metric: "bad-handshake",
    },
    {
      name: "a text frame",
      frame: () => "hello?",
      code: CloseCode.BadHandshake,
      metric: "bad-handshake",
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name} with ${c.code} and counts it`, async () => {
      const to = await target();
      const raw = new RawClient(to.url);
      await raw.open();
      raw.send(c.frame(to));
      const closed = await raw.waitClosed();
      expect(closed.code).toBe(c.code);
      expect(closed.reason.length).toBeGreaterThan(0);
      expect(raw.frames).toEqual([]); // no HelloAck, nothing else
      expect(await count(to.metrics.framesRejected, { reason: c.metric })).toBe(1);
      expect(to.rec.processed).toEqual([]);
    });
  }

  it("refuses a stream from the higher id (the lower id dials)", async () => {
    nodes = await startCluster([1, 2], { token: "s3cret" });
    const one = nodes[0]!;
    const raw = new RawClient(one.url);
    await raw.open();
    raw.send(hello({ from: 2, to: 1, token: enc("s3cret") }));
    expect((await raw.waitClosed()).code).toBe(CloseCode.WrongDirection);
    expect(await count(one.metrics.framesRejected, { reason: "wrong-direction" })).toBe(1);
  });

  it("closes a connection that sends nothing within the handshake timeout", async () => {
    const n = await startNode(2, { handshakeTimeoutMs: 100 });
    nodes = [n];
    n.t.addPeer(1, "ws://127.0.0.1:1");
    const raw = new RawClient(n.url);
    await raw.open();
    expect((await raw.waitClosed()).code).toBe(CloseCode.HandshakeTimeout);
    expect(await count(n.metrics.framesRejected, { reason: "handshake-timeout" })).toBe(1);
  });

  it("accepts the right token and answers with the acceptor's own credentials", async () => {
    const to = await target();
    const raw = new RawClient(to.url);
    await raw.open();
    raw.send(hello({ from: 1, to: 2, token: enc("s3cret") }));
    await waitFor(() => raw.frames.length === 1, "the HelloAck");
    const ack = decodeHello(FrameKind.HelloAck, raw.frames[0]!);
    expect(ack).toMatchObject({
      version: PROTOCOL_VERSION,
      clusterId: 0x1234,
      from: 2,
      to: 1,
      kind: ConnKind.Stream,
    });
    expect(new TextDecoder().decode(ack.token)).toBe("s3cret");
    raw.ws.close();
  });

  it("a dialer refuses an acceptor from another cluster and keeps the peer down", async () => {
    const a = await startNode(1, { clusterId: 0x1234 });
    const b = await startNode(2, { clusterId: 0x1234 });
    const other = await startNode(2, { clusterId: 0x7777 });
    nodes = [a, b, other];
    other.t.addPeer(1, a.url);
    // Node 1 believes node 2 lives at `other`'s URL; `other` refuses it (cluster mismatch) on its side.
    a.t.addPeer(2, other.url);
    await waitFor(() => a.rec.unreachable.includes(2), "the peer reported unreachable");
    expect(await count(other.metrics.framesRejected, { reason: "cluster-mismatch" })).toBeGreaterThanOrEqual(
      1,
    );
    expect(a.t.peers()[0]!.active).toBe(false);
    a.t.send([app(1, 2, 1)]);
    expect(other.rec.processed).toEqual([]);
  });

  it("a dialer checks the HelloAck and refuses an impostor answering at the peer's URL", async () => {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    const closes: number[] = [];
    wss.on("connection", (ws) => {
      ws.once("message", () => {
        // Accepts the Hello, but answers as node 3.
        const ack = {
          version: PROTOCOL_VERSION,
          clusterId: 0x1234,
          from: 3,
          to: 1,
          kind: ConnKind.Stream,
          token: new Uint8Array(0),
        };
        ws.send(encodeHello(FrameKind.HelloAck, ack));
      });
      ws.on("close", (code) => closes.push(code));
    });
    const a = await startNode(1);
    nodes = [a];
    const { port } = wss.address() as { port: number };
    a.t.addPeer(2, `ws://127.0.0.1:${port}`);
    await waitFor(() => closes.length > 0, "the dialer closing");
    expect(closes[0]).toBe(CloseCode.WrongReceiver);
    expect(await count(a.metrics.framesRejected, { reason: "wrong-receiver" })).toBeGreaterThanOrEqual(1);
    await waitFor(() => a.rec.unreachable.includes(2), "the peer reported unreachable");
    expect(a.t.peers()[0]!.active).toBe(false);
    await a.t.stop();
    await new Promise((r) => wss.close(r));
  });

  it("logs a refusal at warn, naming the reason", async () => {
    const lines: { level: number; msg: string; code?: number }[] = [];
    const logger = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s)) });
    const n = await startNode(2, { logger });
    nodes = [n];
    n.t.addPeer(1, "ws://127.0.0.1:1");
    const raw = new RawClient(n.url);
    await raw.open();
    raw.send(hello({ from: 1, to: 2, clusterId: 0x9999 }));
    await raw.waitClosed();
    const warn = lines.find((l) => l.level === 40 && l.msg.startsWith("refused connection"));
    expect(warn?.msg).toMatch(/cluster id mismatch/);
    // Ids in decimal, as the HTTP API and the flags give them (0x9999).
    expect(warn?.msg).toMatch(/remote 39321\b/);
    expect(warn?.code).toBe(CloseCode.ClusterMismatch);
  });

  it("tokens match only when equal (constant-time compare over digests)", async () => {
    const { tokenMatches } = await import("./handshake.js");
    const { tokenDigest } = await import("./options.js");
    const local = enc("abc");
    const d = tokenDigest(local);
    expect(tokenMatches(local, d, enc("abc"))).toBe(true);
    expect(tokenMatches(local, d, enc("abd"))).toBe(false);
    expect(tokenMatches(local, d, enc("abcd"))).toBe(false);
    expect(tokenMatches(local, d, new Uint8Array(0))).toBe(false);
    // No local token: anything goes (the cluster runs without one).
    expect(tokenMatches(new Uint8Array(0), tokenDigest(new Uint8Array(0)), enc("x"))).toBe(true);
  });
});
