import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Message, MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import { afterEach, describe, expect, it } from "vitest";
import {
  count,
  fakeAcceptor,
  RawClient,
  startCluster,
  startNode,
  stopAll,
  type TestNode,
  tamperingProxy,
  waitFor,
} from "../../test/transport/harness.js";
import {
  CloseCode,
  ConnKind,
  decodeSnapHeader,
  decodeSnapTrailer,
  encodeSnapChunk,
  encodeSnapHeader,
  encodeSnapTrailer,
  FrameKind,
} from "./frame.js";

const MiB = 1024 * 1024;

let nodes: TestNode[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stagingDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tsraft-snap-test-"));
  dirs.push(d);
  return d;
}

function msgSnap(from: number, to: number, data: Uint8Array): Message {
  return newMessage({
    type: MessageType.MsgSnap,
    from,
    to,
    term: 3,
    snapshot: newSnapshot({
      data,
      metadata: {
        index: 100,
        term: 3,
        confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      },
    }),
  });
}

/**
 * Node 2 sends snapshots to node 1. Node 1 dials the stream connection itself, so when node 2 is
 * told node 1 lives behind `proxyUrl`, only the snapshot connection passes through the proxy.
 */
async function pair(opts: {
  receiverDir: string;
  proxy?: { flipAt?: number; cutAt?: number };
  maxSnapshotBytes?: number;
}) {
  const one = await startNode(1, {
    snapshotDir: opts.receiverDir,
    ...(opts.maxSnapshotBytes ? { maxSnapshotBytes: opts.maxSnapshotBytes } : {}),
  });
  const two = await startNode(2);
  nodes = [one, two];
  let oneUrl = one.url;
  let closeProxy = async () => {};
  if (opts.proxy) {
    const p = await tamperingProxy(one.url, opts.proxy);
    oneUrl = p.url;
    closeProxy = p.close;
  }
  one.t.addPeer(2, two.url);
  two.t.addPeer(1, oneUrl);
  await waitFor(() => one.t.peers()[0]!.active && two.t.peers()[0]!.active, "the stream connection");
  return { one, two, closeProxy };
}

describe("MsgSnap streaming", () => {
  it("a 10 MiB snapshot streams in chunks, arrives intact, and reports finish", async () => {
    const dir = stagingDir();
    const { one, two } = await pair({ receiverDir: dir });
    const data = randomBytes(10 * MiB);
    two.t.send([msgSnap(2, 1, data)]);
    await waitFor(() => two.rec.snapshots.length === 1, "the snapshot report", 30_000);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "finish" }]);
    expect(one.rec.processed).toHaveLength(1);
    const got = one.rec.processed[0]!;
    expect(got.type).toBe(MessageType.MsgSnap);
    expect(got.snapshot!.metadata).toEqual(msgSnap(2, 1, data).snapshot!.metadata);
    expect(got.snapshot!.data.length).toBe(data.length);
    expect(got.snapshot!.data.constructor).toBe(Uint8Array);
    expect(createHash("sha256").update(got.snapshot!.data).digest("hex")).toBe(
      createHash("sha256").update(data).digest("hex"),
    );
    expect(await count(two.metrics.snapshotsSent, { result: "success" })).toBe(1);
    expect(await count(two.metrics.snapshotBytesSent)).toBe(10 * MiB);
    expect(await count(one.metrics.snapshotsReceived, { result: "success" })).toBe(1);
    expect(await count(one.metrics.snapshotBytesReceived)).toBe(10 * MiB);
    expect(readdirSync(dir)).toEqual([]); // the staging file is gone
    expect(two.rec.unreachable).toEqual([]);
  });

  it("an empty snapshot and a small one stream too (zero and one chunk)", async () => {
    const { one, two } = await pair({ receiverDir: stagingDir() });
    two.t.send([msgSnap(2, 1, new Uint8Array(0)), msgSnap(2, 1, Uint8Array.of(1, 2, 3))]);
    await waitFor(() => two.rec.snapshots.length === 2, "both reports");
    expect(two.rec.snapshots.map((s) => s.status)).toEqual(["finish", "finish"]);
    const sizes = one.rec.processed.map((m) => m.snapshot!.data.length).sort();
    expect(sizes).toEqual([0, 3]);
  });

  it("a snapshot corrupted in flight fails its checksum: rejected, counted, cleaned up, failure reported", async () => {
    const dir = stagingDir();
    // Offset 3,000,000 of the client stream lies inside the third 1 MiB chunk's payload.
    const { one, two, closeProxy } = await pair({ receiverDir: dir, proxy: { flipAt: 3_000_000 } });
    two.t.send([msgSnap(2, 1, randomBytes(5 * MiB))]);
    await waitFor(() => two.rec.snapshots.length === 1, "the snapshot report", 30_000);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(two.rec.unreachable).toContain(1);
    expect(one.rec.processed).toEqual([]);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-checksum" })).toBe(1);
    expect(await count(one.metrics.snapshotsReceived, { result: "failure" })).toBe(1);
    expect(await count(two.metrics.snapshotsSent, { result: "failure" })).toBe(1);
    await waitFor(() => readdirSync(dir).length === 0, "the staging file to be removed");
    await closeProxy();
  });

  it("a snapshot stream cut short is rejected as truncated and reports failure", async () => {
    const dir = stagingDir();
    const { one, two, closeProxy } = await pair({ receiverDir: dir, proxy: { cutAt: 5_000_000 } });
    two.t.send([msgSnap(2, 1, randomBytes(8 * MiB))]);
    await waitFor(() => two.rec.snapshots.length === 1, "the snapshot report", 30_000);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(one.rec.processed).toEqual([]);
    await waitFor(() => readdirSync(dir).length === 0, "the staging file to be removed");
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-truncated" })).toBe(1);
    await closeProxy();
  });

  it("a snapshot above the receiver's limit is refused from its header and reports failure", async () => {
    const { one, two } = await pair({ receiverDir: stagingDir(), maxSnapshotBytes: MiB });
    two.t.send([msgSnap(2, 1, randomBytes(2 * MiB))]);
    await waitFor(() => two.rec.snapshots.length === 1, "the snapshot report");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-too-large" })).toBe(1);
  });

  it("the sender fails after snapshotTimeoutMs when the receiver never acknowledges", async () => {
    const fake = await fakeAcceptor(1);
    const two = await startNode(2, { snapshotTimeoutMs: 300, snapshotChunkBytes: 64 * 1024 });
    nodes = [two];
    two.t.addPeer(1, fake.url);
    const data = randomBytes(200_000);
    two.t.send([msgSnap(2, 1, data)]);
    await waitFor(() => two.rec.snapshots.length === 1, "the snapshot report");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(two.rec.unreachable).toContain(1);
    // What went on the wire, read without the receiver: header, 64 KiB chunks, trailer.
    expect(fake.hellos[0]).toMatchObject({ from: 2, to: 1, kind: ConnKind.Snapshot });
    expect(fake.frames.map((f) => f[0])).toEqual([4, 5, 5, 5, 5, 6]);
    const header = decodeSnapHeader(fake.frames[0]!);
    expect(header.size).toBe(data.length);
    expect(header.message.snapshot!.data.length).toBe(0);
    const body = Buffer.concat(fake.frames.slice(1, 5).map((f) => f.subarray(1)));
    expect(body.equals(data)).toBe(true);
    const trailer = decodeSnapTrailer(fake.frames[5]!);
    expect(Buffer.from(trailer.sha256).equals(createHash("sha256").update(data).digest())).toBe(true);
    await fake.close();
  });

  it("a MsgSnap to an unknown peer is dropped and reported as failed", async () => {
    nodes = await startCluster([1, 2]);
    nodes[0]!.t.send([msgSnap(1, 9, Uint8Array.of(1))]);
    await waitFor(() => nodes[0]!.rec.snapshots.length === 1, "the report");
    expect(nodes[0]!.rec.snapshots).toEqual([{ id: 9, status: "failure" }]);
    expect(await count(nodes[0]!.metrics.messagesDropped, { reason: "unknown-peer" })).toBe(1);
  });
});

describe("snapshot receiver against a hand-written sender", () => {
  const data = randomBytes(300_000);
  const sha = createHash("sha256").update(data).digest();
  const header = (size = data.length, m = msgSnap(2, 1, data)) => encodeSnapHeader(m, size);
  const chunks = () => [0, 100_000, 200_000].map((o) => encodeSnapChunk(data.subarray(o, o + 100_000)));

  const cases: { name: string; frames: () => (Uint8Array | string)[]; metric: string }[] = [
    {
      name: "a wrong checksum",
      frames: () => [
        header(),
        ...chunks(),
        encodeSnapTrailer({ size: data.length, sha256: Buffer.alloc(32, 7) }),
      ],
      metric: "snapshot-checksum",
    },
    {
      name: "a missing chunk",
      frames: () => [
        header(),
        ...chunks().slice(0, 2),
        encodeSnapTrailer({ size: data.length, sha256: sha }),
      ],
      metric: "snapshot-length",
    },
    {
      name: "a trailer disagreeing with the header",
      frames: () => [header(), ...chunks(), encodeSnapTrailer({ size: data.length - 1, sha256: sha })],
      metric: "snapshot-length",
    },
    {
      name: "more data than declared",
      frames: () => [header(250_000), ...chunks()],
      metric: "snapshot-length",
    },
    {
      name: "a huge declared length",
      frames: () => [header(2 ** 50)],
      metric: "snapshot-too-large",
    },
    {
      name: "a chunk before the header",
      frames: () => [...chunks()],
      metric: "snapshot-malformed",
    },
    {
      name: "a header that is not a MsgSnap",
      frames: () => [header(data.length, newMessage({ type: MessageType.MsgApp, from: 2, to: 1 }))],
      metric: "snapshot-malformed",
    },
    {
      name: "a header from a forged sender",
      frames: () => [header(data.length, msgSnap(3, 1, data))],
      metric: "snapshot-malformed",
    },
    {
      name: "a garbled header",
      frames: () => [Uint8Array.of(FrameKind.SnapHeader, 0x0a, 0xff, 0xff, 0x7f)],
      metric: "snapshot-malformed",
    },
    {
      name: "a batch frame",
      frames: () => [Uint8Array.of(FrameKind.Batch)],
      metric: "snapshot-malformed",
    },
    {
      name: "text",
      frames: () => ["snapshot?"],
      metric: "snapshot-malformed",
    },
  ];

  for (const c of cases) {
    it(`rejects ${c.name}: close 4010, counted, staging file removed, nothing delivered`, async () => {
      const dir = stagingDir();
      const one = await startNode(1, { snapshotDir: dir });
      nodes = [one];
      one.t.addPeer(2, "ws://127.0.0.1:1");
      const raw = new RawClient(one.url);
      await raw.handshake(2, 1, { kind: ConnKind.Snapshot });
      for (const f of c.frames()) raw.send(f);
      const closed = await raw.waitClosed();
      expect(closed.code).toBe(CloseCode.SnapshotRejected);
      expect(await count(one.metrics.framesRejected, { reason: c.metric })).toBe(1);
      expect(await count(one.metrics.snapshotsReceived, { result: "failure" })).toBe(1);
      expect(one.rec.processed).toEqual([]);
      await waitFor(() => readdirSync(dir).length === 0, "the staging file to be removed");
    });
  }

  it("rejects a stream that stalls, after snapshotTimeoutMs", async () => {
    const dir = stagingDir();
    const one = await startNode(1, { snapshotDir: dir, snapshotTimeoutMs: 200 });
    nodes = [one];
    one.t.addPeer(2, "ws://127.0.0.1:1");
    const raw = new RawClient(one.url);
    await raw.handshake(2, 1, { kind: ConnKind.Snapshot });
    raw.send(header());
    raw.send(chunks()[0]!);
    expect((await raw.waitClosed()).code).toBe(CloseCode.SnapshotRejected);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-timeout" })).toBe(1);
    await waitFor(() => readdirSync(dir).length === 0, "the staging file to be removed");
  });

  it("accepts a well-formed hand-written stream and acknowledges it", async () => {
    const one = await startNode(1, { snapshotDir: stagingDir() });
    nodes = [one];
    one.t.addPeer(2, "ws://127.0.0.1:1");
    const raw = new RawClient(one.url);
    await raw.handshake(2, 1, { kind: ConnKind.Snapshot });
    for (const f of [header(), ...chunks(), encodeSnapTrailer({ size: data.length, sha256: sha })])
      raw.send(f);
    await waitFor(() => raw.frames.length === 1, "the SnapAck");
    expect([...raw.frames[0]!]).toEqual([FrameKind.SnapAck]);
    expect(Buffer.from(one.rec.processed[0]!.snapshot!.data).equals(data)).toBe(true);
  });
});
