import { createHash } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type Message, MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import { afterEach, describe, expect, it } from "vitest";
import type { ReceivedSnapshot, TestImage, TestNode } from "../../test/transport/harness.js";
import {
  count,
  fakeAcceptor,
  pieceOf,
  RawClient,
  sha256Hex,
  startCluster,
  startNode,
  startNodeOnServer,
  stopAll,
  tamperingProxy,
  testImage,
  waitFor,
  waitUntil,
} from "../../test/transport/harness.js";
import {
  CloseCode,
  ConnKind,
  decodeSnapHeader,
  decodeSnapTrailer,
  encodeBatch,
  encodeSnapChunk,
  encodeSnapHeader,
  encodeSnapTrailer,
  FrameKind,
} from "./frame.js";
import { SnapshotTransferError } from "./incoming-image.js";
import type { TransportOptions } from "./options.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let nodes: TestNode[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
  for (const c of cleanups.splice(0)) await c();
});

/** The node's metadata travelling in `snapshot.data` (membership, in the real node). */
const META = new TextEncoder().encode('{"members":[1,2]}');

function msgSnap(from: number, to: number, index = 100): Message {
  return newMessage({
    type: MessageType.MsgSnap,
    from,
    to,
    term: 3,
    snapshot: newSnapshot({
      data: META,
      metadata: {
        index,
        term: 3,
        confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      },
    }),
  });
}

/** `n` pieces of `size` bytes from seed `seed`, produced lazily. */
function lazyImage(seed: number, n: number, size: number, opts: { sync?: boolean } = {}): TestImage {
  return testImage((i) => (i < n ? pieceOf(seed, i, size) : undefined), opts);
}

/** SHA-256 of what {@link lazyImage} produces. */
function lazySha(seed: number, n: number, size: number): string {
  return sha256Hex(Array.from({ length: n }, (_, i) => pieceOf(seed, i, size)));
}

/**
 * Node 2 sends snapshots to node 1. Node 1 dials the stream connection itself, so when node 2 is
 * told node 1 lives behind a proxy, only snapshot connections pass through it.
 */
async function pair(
  opts: {
    receiver?: Partial<TransportOptions>;
    sender?: Partial<TransportOptions>;
    proxy?: { flipAt?: number; cutAt?: number };
  } = {},
) {
  const one = await startNodeOnServer(1, opts.receiver);
  const two = await startNode(2, opts.sender);
  nodes = [one, two];
  let oneUrl = one.url;
  let kill = (): void => {};
  if (opts.proxy) {
    const p = await tamperingProxy(one.url, opts.proxy);
    oneUrl = p.url;
    kill = p.kill;
    cleanups.push(p.close);
  }
  one.t.addPeer(2, two.url);
  two.t.addPeer(1, oneUrl);
  await waitFor(() => one.t.peers()[0]!.active && two.t.peers()[0]!.active, "the stream connection");
  return { one, two, kill };
}

/** Waits for the `n`th snapshot report and the `n`th incoming snapshot's handler to settle. */
async function settledTransfer(one: TestNode, two: TestNode, n: number): Promise<ReceivedSnapshot> {
  await waitFor(() => two.rec.snapshots.length >= n, "the snapshot report", 30_000);
  await waitFor(() => one.rec.received[n - 1]?.settled === true, "the receiving handler", 30_000);
  return one.rec.received[n - 1]!;
}

describe("streamed snapshots between two transports", () => {
  it("a 12 MiB image from a lazy generator, in pieces smaller and larger than a chunk, arrives intact", async () => {
    const { one, two } = await pair();
    // Pieces of 300 KiB, 3 MiB and 7 bytes, cycling: re-cut into 1 MiB frames by the sender.
    const sizes = [300 * KiB, 3 * MiB, 7];
    const pieces: number[] = [];
    for (let total = 0; total < 12 * MiB; total += sizes[pieces.length % 3]!)
      pieces.push(sizes[pieces.length % 3]!);
    const img = testImage((i) => (i < pieces.length ? pieceOf(7, i, pieces[i]!) : undefined));
    const expected = sha256Hex(pieces.map((s, i) => pieceOf(7, i, s)));
    const total = pieces.reduce((a, b) => a + b, 0);

    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    const r = await settledTransfer(one, two, 1);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "finish" }]);
    expect(r.error).toBeUndefined();
    expect(r.image!.length).toBe(total);
    expect(createHash("sha256").update(r.image!).digest("hex")).toBe(expected);
    // The header carried the MsgSnap as it was, metadata bytes included.
    expect(r.msg).toEqual(msgSnap(2, 1));
    expect(one.rec.processed.at(-1)).toEqual(msgSnap(2, 1));
    expect(img.reads()).toBe(1);
    expect(img.releases()).toBe(1);
    expect(img.pulled().chunks).toBe(pieces.length);
    expect(await count(two.metrics.snapshotsSent, { result: "success" })).toBe(1);
    expect(await count(two.metrics.snapshotBytesSent)).toBe(total);
    expect(await count(one.metrics.snapshotsReceived, { result: "success" })).toBe(1);
    expect(await count(one.metrics.snapshotBytesReceived)).toBe(total);
    expect(two.rec.unreachable).toEqual([]);
  });

  it("snapshotSendBytesPerSec paces the image: 6 MiB at 8 MiB/s take at least ~0.6 s, and arrive intact", async () => {
    const { one, two } = await pair({ sender: { snapshotSendBytesPerSec: 8 * MiB } });
    const t0 = performance.now();
    two.t.sendSnapshot(msgSnap(2, 1), lazyImage(3, 6, MiB).source);
    const r = await settledTransfer(one, two, 1);
    const seconds = (performance.now() - t0) / 1000;
    expect(r.error).toBeUndefined();
    expect(sha256Hex([r.image!])).toBe(lazySha(3, 6, MiB));
    // The last 1 MiB frame may go out at once: 5 MiB due at 8 MiB/s is 0.625 s (a floor: a busy
    // machine only makes it slower).
    expect(seconds).toBeGreaterThanOrEqual(0.6);
  });

  it("a sync iterable, an empty image and a one-byte image stream too", async () => {
    const { one, two } = await pair();
    const imgs = [
      lazyImage(1, 5, 100 * KiB, { sync: true }),
      lazyImage(2, 0, 0),
      testImage((i) => (i === 0 ? Uint8Array.of(42) : undefined)),
    ];
    for (const [i, img] of imgs.entries()) {
      two.t.sendSnapshot(msgSnap(2, 1, 100 + i), img.source);
      await settledTransfer(one, two, i + 1);
    }
    expect(two.rec.snapshots.map((s) => s.status)).toEqual(["finish", "finish", "finish"]);
    const got = one.rec.received.map((r) => r.image!);
    expect(sha256Hex([got[0]!])).toBe(lazySha(1, 5, 100 * KiB));
    expect(got[1]!.length).toBe(0);
    expect([...got[2]!]).toEqual([42]);
    expect(imgs.map((i) => i.releases())).toEqual([1, 1, 1]);
  });

  it("the image is released as soon as it is read, before the receiver acknowledges", async () => {
    const { one, two } = await pair();
    let releasedBeforeAck: boolean | undefined;
    const img = lazyImage(3, 4, 64 * KiB);
    one.rec.onSnapshot = async (_m, image) => {
      for await (const _ of image);
      // The sender pulled the end of the iteration before sending the trailer we just verified.
      releasedBeforeAck = img.releases() === 1 && two.rec.snapshots.length === 0;
    };
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    await waitFor(() => two.rec.snapshots.length === 1, "the report");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "finish" }]);
    expect(releasedBeforeAck).toBe(true);
    expect(img.releases()).toBe(1);
  });

  it("the receiver hands chunks over as they arrive: the handler reads the first before the last is produced", async () => {
    const { one, two } = await pair({ sender: { snapshotChunkBytes: 16 * KiB } });
    let firstSeen = false;
    let lateProduction = false;
    const img = testImage(async (i) => {
      if (i === 20) {
        // Produce the rest only once the receiving node has the first chunk in hand.
        await waitFor(() => firstSeen, "the first chunk at the receiving node");
        lateProduction = true;
      }
      return i < 40 ? pieceOf(4, i, 16 * KiB) : undefined;
    });
    one.rec.onSnapshot = async (_m, image) => {
      for await (const _ of image) firstSeen = true;
    };
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    await waitFor(() => two.rec.snapshots.length === 1, "the report");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "finish" }]);
    expect(lateProduction).toBe(true);
  });
});

describe("flow control and memory", () => {
  // Default 64 MiB: shows the producer is held back by the consumer. TSRAFT_SNAPSHOT_STREAM_MIB=256
  // (or more) adds the RSS bound; it takes a few seconds per 256 MiB on a busy 2-core machine.
  const mib = Number(process.env.TSRAFT_SNAPSHOT_STREAM_MIB ?? 64);
  it(`a ${mib} MiB image from a generator, to a handler that discards it: bounded lead and memory`, async () => {
    const chunk = MiB;
    const { one, two } = await pair({
      sender: { snapshotChunkBytes: chunk },
      receiver: { snapshotChunkBytes: chunk },
    });
    const n = mib;
    let consumed = 0;
    let maxLead = 0;
    let maxInReceiver = 0;
    const rss0 = process.memoryUsage.rss();
    let maxRss = rss0;
    const fill = new Uint8Array(chunk);
    const img = testImage((i) => {
      if (i >= n) return undefined;
      const c = new Uint8Array(chunk); // created on demand, garbage once sent
      c.set(fill);
      c[0] = i & 0xff;
      maxLead = Math.max(maxLead, (i + 1) * chunk - consumed);
      if (i % 8 === 0) maxRss = Math.max(maxRss, process.memoryUsage.rss());
      return c;
    });
    one.rec.onSnapshot = async (_m, image) => {
      for await (const c of image) {
        consumed += c.length;
        // A slow consumer (a disk): yield to the event loop between chunks so the sender could race ahead.
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        const inReceiver = (await count(one.metrics.snapshotBytesReceived)) - consumed;
        maxInReceiver = Math.max(maxInReceiver, inReceiver);
      }
    };
    const t0 = Date.now();
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    await waitFor(() => two.rec.snapshots.length === 1, "the report", 120_000);
    loop.disable();
    const ms = Date.now() - t0;
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "finish" }]);
    expect(consumed).toBe(n * chunk);
    const figures = {
      imageMiB: mib,
      ms,
      maxLeadMiB: +(maxLead / MiB).toFixed(1),
      maxQueuedInReceiverMiB: +(maxInReceiver / MiB).toFixed(1),
      rssGrowthMiB: +((maxRss - rss0) / MiB).toFixed(1),
      // Both ends and the test in one process: how long the event loop was held at worst (a figure).
      eventLoopDelayMaxMs: +(loop.max / 1e6).toFixed(1),
      eventLoopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(1),
    };
    console.log(JSON.stringify({ test: "snapshot-stream-memory", ...figures }));
    // In the receiver: its queue (4 chunks) plus what ws parsed after the pause (one socket read).
    expect(maxInReceiver).toBeLessThanOrEqual(6 * chunk);
    // Producer ahead of the consumer: the sender's window (2 chunks) and a frame being filled, the
    // kernel's socket buffers on both sides (loopback autotuning: up to 4 MiB + 32 MiB here), the
    // receiver's queue. Without flow control the generator would run to the end at once.
    expect(maxLead).toBeLessThanOrEqual(48 * MiB);
    if (mib >= 256) expect(maxRss - rss0).toBeLessThan(64 * MiB);
  }, 180_000);
});

/**
 * Interrupts a transfer of N chunks at every chunk boundary k (0..N: k chunks are at the receiving
 * node, chunk k not yet produced, no trailer sent), three ways; each time the sender reports failure
 * once, the receiving node's iteration throws, the image is released once, and the next transfer on
 * the same transports succeeds.
 */
describe("a transfer interrupted at every chunk boundary", () => {
  const N = 6;
  const CHUNK = 16 * KiB;
  type Mode = "receiver killed" | "sender killed" | "producer throws";
  for (const mode of ["receiver killed", "sender killed", "producer throws"] as Mode[]) {
    it(`${mode}: failure reported once, receiving iteration throws, image released once, next transfer succeeds`, async () => {
      const opts = { snapshotChunkBytes: CHUNK };
      const { one, two, kill } = await pair({ sender: opts, receiver: opts, proxy: {} });
      for (let k = 0; k <= N; k++) {
        const ctx = `k=${k}`;
        let consumed = 0;
        const before = two.rec.snapshots.length;
        let handlerRejected = false;
        one.rec.onSnapshot = one.rec.counting(
          () => consumed++,
          () => {
            handlerRejected = true;
          },
        );
        const img = testImage(async (i) => {
          if (i === k) {
            await waitFor(
              () => consumed === k && one.rec.received.length === before + 1,
              `${ctx}: chunk boundary`,
            );
            if (mode === "producer throws") throw new Error(`producer fails at chunk ${k}`);
            // The receiving node's end of the connection, or the sender's (reset under it).
            if (mode === "receiver killed") one.upgraded.at(-1)!.destroy();
            else kill();
            await waitFor(() => two.rec.snapshots.length > before, `${ctx}: the failure report`);
          }
          return i < N ? pieceOf(k, i, CHUNK) : undefined;
        });
        two.t.sendSnapshot(msgSnap(2, 1, 1000 + k), img.source);
        await waitFor(() => two.rec.snapshots.length === before + 1, `${ctx}: the report`);
        await waitFor(() => handlerRejected, `${ctx}: the receiving iteration to throw`);
        await waitFor(() => img.releases() === 1, `${ctx}: the release`);
        expect(two.rec.snapshots.slice(before), ctx).toEqual([{ id: 1, status: "failure" }]);
        expect(one.rec.received.at(-1)!.error, ctx).toBeInstanceOf(SnapshotTransferError);
        // An abandoned generator is closed (its finally runs); a throwing one ended by itself.
        await waitFor(() => img.closed(), `${ctx}: the generator closed`);

        // The same transports carry the next snapshot whole.
        one.rec.onSnapshot = undefined;
        const next = lazyImage(100 + k, N, CHUNK);
        two.t.sendSnapshot(msgSnap(2, 1, 2000 + k), next.source);
        await waitFor(() => two.rec.snapshots.length === before + 2, `${ctx}: the next report`);
        expect(two.rec.snapshots.at(-1), ctx).toEqual({ id: 1, status: "finish" });
        const r = one.rec.received.at(-1)!;
        expect(r.msg.snapshot!.metadata.index, ctx).toBe(2000 + k);
        expect(sha256Hex([r.image!]), ctx).toBe(lazySha(100 + k, N, CHUNK));
        expect([img.releases(), next.releases()], ctx).toEqual([1, 1]);
      }
      expect(await count(two.metrics.snapshotsSent, { result: "failure" })).toBe(N + 1);
      expect(await count(two.metrics.snapshotsSent, { result: "success" })).toBe(N + 1);
      expect(await count(one.metrics.snapshotsReceived, { result: "success" })).toBe(N + 1);
      expect(await count(one.metrics.snapshotsReceived, { result: "failure" })).toBe(N + 1);
    }, 120_000);
  }

  it("a connection lost after the trailer, while the node stores the image: no ack, the sender reports failure", async () => {
    const { one, two } = await pair();
    let stored = false;
    one.rec.onSnapshot = async (_m, image) => {
      for await (const _ of image);
      // The image is complete and verified; the connection dies while the node "fsyncs".
      one.upgraded.at(-1)!.destroy();
      await waitFor(() => two.rec.snapshots.length === 1, "the sender's report");
      stored = true;
    };
    const img = lazyImage(8, 3, 64 * KiB);
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    await waitFor(() => stored, "the handler to finish");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(img.releases()).toBe(1);
    // The receiver counts it failed (it could not acknowledge) even though the node kept the image:
    // raft copes (the follower answers the MsgSnap it stepped; the leader probes again).
    await waitUntil(
      async () => (await count(one.metrics.snapshotsReceived, { result: "failure" })) === 1,
      "the receiver to count the failure",
    );
    expect(await count(one.metrics.snapshotsReceived, { result: "success" })).toBe(0);
  });
});

describe("failures end to end", () => {
  it("an image corrupted in flight fails its checksum: the iteration throws, failure reported, image released", async () => {
    // Offset 3,000,000 of the client stream lies inside the third 1 MiB chunk's payload.
    const { one, two } = await pair({ proxy: { flipAt: 3_000_000 } });
    const img = lazyImage(5, 5, MiB);
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    const r = await settledTransfer(one, two, 1);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(two.rec.unreachable).toContain(1);
    expect((r.error as SnapshotTransferError).reason).toBe("snapshot-checksum");
    expect(one.rec.processed.filter((m) => m.type === MessageType.MsgSnap)).toEqual([]);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-checksum" })).toBe(1);
    expect(await count(one.metrics.snapshotsReceived, { result: "failure" })).toBe(1);
    expect(await count(two.metrics.snapshotsSent, { result: "failure" })).toBe(1);
    expect(img.releases()).toBe(1);
  });

  it("an image above the receiver's maxSnapshotBytes fails as the bytes arrive, before the end", async () => {
    const { one, two } = await pair({ receiver: { maxSnapshotBytes: MiB } });
    let produced = 0;
    const img = testImage((i) => {
      produced = i;
      return i < 64 ? pieceOf(6, i, 256 * KiB) : undefined; // 16 MiB
    });
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    const r = await settledTransfer(one, two, 1);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect((r.error as SnapshotTransferError).reason).toBe("snapshot-too-large");
    expect(await count(one.metrics.snapshotBytesReceived)).toBeLessThanOrEqual(MiB);
    expect(produced).toBeLessThan(63); // the sender stopped pulling
    expect(img.releases()).toBe(1);
  });

  it("a handler that rejects, one that returns early, and one that breaks out: each fails the transfer (4010)", async () => {
    const { one, two } = await pair();
    const handlers: ((image: AsyncIterable<Uint8Array>) => Promise<void>)[] = [
      async (image) => {
        for await (const _ of image) throw new Error("disk full");
      },
      async () => {},
      async (image) => {
        for await (const _ of image) break;
      },
    ];
    for (const [i, h] of handlers.entries()) {
      one.rec.onSnapshot = (_m, image) => h(image);
      const img = lazyImage(i, 3, 100 * KiB);
      two.t.sendSnapshot(msgSnap(2, 1), img.source);
      await waitFor(() => two.rec.snapshots.length === i + 1, `report ${i}`);
      await waitFor(() => img.releases() === 1, `release ${i}`);
    }
    expect(two.rec.snapshots.map((s) => s.status)).toEqual(["failure", "failure", "failure"]);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-handler" })).toBe(3);
    expect(await count(one.metrics.snapshotsReceived, { result: "failure" })).toBe(3);
  });

  it("a producer yielding something other than bytes fails the transfer and closes the generator", async () => {
    const { one, two } = await pair();
    const img = testImage((i) => (i === 0 ? pieceOf(1, 0, 10) : ("oops" as unknown as Uint8Array)));
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    const r = await settledTransfer(one, two, 1);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(r.error).toBeInstanceOf(SnapshotTransferError);
    expect(img.releases()).toBe(1);
    await waitFor(() => img.closed(), "the generator's finally");
  });

  it("a producer whose read() throws: failure reported, image released", async () => {
    const { two } = await pair();
    let released = 0;
    two.t.sendSnapshot(msgSnap(2, 1), {
      read: () => {
        throw new Error("no image");
      },
      release: () => {
        released++;
      },
    });
    await waitFor(() => two.rec.snapshots.length === 1, "the report");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(released).toBe(1);
  });

  it("transport stop aborts both ends: the sender reports and releases before stop resolves; the receiving iteration throws", async () => {
    for (const stopper of ["sender", "receiver"] as const) {
      const { one, two } = await pair({ sender: { snapshotChunkBytes: 16 * KiB } });
      let consumed = 0;
      let stopped: Promise<void> | undefined;
      const img = testImage(async (i) => {
        if (i === 3) {
          await waitFor(() => consumed === 3, "three chunks at the receiving node");
          stopped = (stopper === "sender" ? two : one).t.stop();
        }
        return pieceOf(9, i, 16 * KiB); // endless: only stop ends it
      });
      one.rec.onSnapshot = one.rec.counting(() => consumed++);
      two.t.sendSnapshot(msgSnap(2, 1), img.source);
      await waitFor(() => stopped !== undefined, `${stopper}: stop called`);
      await stopped;
      if (stopper === "sender") {
        // Reported and released by the time stop() resolved.
        expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
        expect(img.releases()).toBe(1);
      }
      await waitFor(() => one.rec.received[0]?.settled === true, `${stopper}: the receiving handler`);
      expect(one.rec.received[0]!.error, stopper).toBeInstanceOf(SnapshotTransferError);
      await waitFor(() => two.rec.snapshots.length === 1 && img.releases() === 1, `${stopper}: report`);
      expect(two.rec.snapshots, stopper).toEqual([{ id: 1, status: "failure" }]);
      expect(img.releases(), stopper).toBe(1);
      await stopAll(nodes);
    }
  });

  it("abortSnapshots (a leader stepping down) fails the transfers in flight, then the transport sends again", async () => {
    const { one, two } = await pair({ sender: { snapshotChunkBytes: 16 * KiB } });
    let consumed = 0;
    const img = testImage(async (i) => {
      if (i === 3) {
        await waitFor(() => consumed === 3, "three chunks at the receiving node");
        two.t.abortSnapshots("no longer leader");
      }
      return pieceOf(5, i, 16 * KiB); // endless: only the abort ends it
    });
    one.rec.onSnapshot = one.rec.counting(() => consumed++);
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    const r = await settledTransfer(one, two, 1);
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(img.releases()).toBe(1);
    expect(r.error).toBeInstanceOf(SnapshotTransferError);
    // Nothing is left that would stop the next transfer.
    one.rec.onSnapshot = undefined;
    const next = lazyImage(6, 4, 16 * KiB);
    two.t.sendSnapshot(msgSnap(2, 1), next.source);
    await waitFor(() => two.rec.snapshots.length === 2, "the second report", 30_000);
    expect(two.rec.snapshots[1]).toEqual({ id: 1, status: "finish" });
    await stopAll(nodes);
  });

  it("the sender fails after snapshotTimeoutMs when the receiver never acknowledges; the frames on the wire", async () => {
    const fake = await fakeAcceptor(1);
    cleanups.push(fake.close);
    const two = await startNode(2, { snapshotTimeoutMs: 300, snapshotChunkBytes: 64 * KiB });
    nodes = [two];
    two.t.addPeer(1, fake.url);
    // 2000 pieces of 100 bytes: packed into 64 KiB frames.
    const img = lazyImage(11, 2000, 100);
    two.t.sendSnapshot(msgSnap(2, 1), img.source);
    await waitFor(() => two.rec.snapshots.length === 1, "the report");
    expect(two.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(two.rec.unreachable).toContain(1);
    expect(img.releases()).toBe(1);
    expect(fake.hellos[0]).toMatchObject({ from: 2, to: 1, kind: ConnKind.Snapshot });
    // Header, ⌈200,000 / 65,536⌉ = 4 chunks, trailer.
    expect(fake.frames.map((f) => f[0])).toEqual([4, 5, 5, 5, 5, 6]);
    expect(decodeSnapHeader(fake.frames[0]!)).toEqual(msgSnap(2, 1));
    expect(fake.frames.slice(1, 4).map((f) => f.length - 1)).toEqual([65536, 65536, 65536]);
    const body = Buffer.concat(fake.frames.slice(1, 5).map((f) => f.subarray(1)));
    expect(body.length).toBe(200_000);
    expect(sha256Hex([body])).toBe(lazySha(11, 2000, 100));
    const trailer = decodeSnapTrailer(fake.frames[5]!);
    expect(trailer.size).toBe(200_000);
    expect(Buffer.from(trailer.sha256).toString("hex")).toBe(lazySha(11, 2000, 100));
  });

  it("caller errors: a MsgSnap given to send(), a non-MsgSnap given to sendSnapshot, an unknown peer", async () => {
    nodes = await startCluster([1, 2]);
    const a = nodes[0]!;
    a.t.send([msgSnap(1, 2)]);
    const notSnap = lazyImage(1, 1, 10);
    a.t.sendSnapshot(newMessage({ type: MessageType.MsgApp, from: 1, to: 2 }), notSnap.source);
    const unknown = lazyImage(1, 1, 10);
    a.t.sendSnapshot(msgSnap(1, 9), unknown.source);
    await waitFor(() => a.rec.snapshots.length === 3, "three reports");
    expect(a.rec.snapshots).toEqual([
      { id: 2, status: "failure" },
      { id: 2, status: "failure" },
      { id: 9, status: "failure" },
    ]);
    expect([notSnap.releases(), unknown.releases()]).toEqual([1, 1]);
    expect([notSnap.reads(), unknown.reads()]).toEqual([0, 0]);
    expect(await count(a.metrics.messagesDropped, { reason: "msgsnap-without-image" })).toBe(1);
    expect(await count(a.metrics.messagesDropped, { reason: "unknown-peer" })).toBe(1);
    expect(nodes[1]!.rec.received).toEqual([]);
  });
});

describe("snapshot receiver against a hand-written sender", () => {
  const data = Buffer.from(pieceOf(42, 0, 300_000));
  const sha = createHash("sha256").update(data).digest();
  const header = (m = msgSnap(2, 1)) => encodeSnapHeader(m);
  const chunks = () => [0, 100_000, 200_000].map((o) => encodeSnapChunk(data.subarray(o, o + 100_000)));
  const trailer = (size = data.length, sha256: Uint8Array = sha) => encodeSnapTrailer({ size, sha256 });

  const cases: { name: string; frames: () => (Uint8Array | string)[]; metric: string; handled: boolean }[] = [
    {
      name: "a wrong checksum",
      frames: () => [header(), ...chunks(), trailer(data.length, Buffer.alloc(32, 7))],
      metric: "snapshot-checksum",
      handled: true,
    },
    {
      name: "a missing chunk",
      frames: () => [header(), ...chunks().slice(0, 2), trailer()],
      metric: "snapshot-length",
      handled: true,
    },
    {
      name: "an extra chunk",
      frames: () => [header(), ...chunks(), chunks()[0]!, trailer()],
      metric: "snapshot-length",
      handled: true,
    },
    {
      name: "a trailer declaring less",
      frames: () => [header(), ...chunks(), trailer(data.length - 1)],
      metric: "snapshot-length",
      handled: true,
    },
    {
      name: "a digest of 31 bytes",
      frames: () => [header(), ...chunks(), trailer(data.length, sha.subarray(0, 31))],
      metric: "snapshot-malformed",
      handled: true,
    },
    {
      name: "an empty chunk",
      frames: () => [header(), encodeSnapChunk(new Uint8Array(0))],
      metric: "snapshot-malformed",
      handled: true,
    },
    {
      name: "a second header",
      frames: () => [header(), chunks()[0]!, header()],
      metric: "snapshot-malformed",
      handled: true,
    },
    {
      name: "a batch frame mid-stream",
      frames: () => [header(), encodeBatch([])],
      metric: "snapshot-malformed",
      handled: true,
    },
    {
      name: "text mid-stream",
      frames: () => [header(), "snapshot?"],
      metric: "snapshot-malformed",
      handled: true,
    },
    {
      name: "a chunk before the header",
      frames: () => [...chunks()],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "a trailer before the header",
      frames: () => [trailer()],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "a header that is not a MsgSnap",
      frames: () => [header(newMessage({ type: MessageType.MsgApp, from: 2, to: 1 }))],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "a header from a forged sender",
      frames: () => [header(msgSnap(3, 1))],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "a header for another node",
      frames: () => [header(msgSnap(2, 5))],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "a garbled header",
      frames: () => [Uint8Array.of(FrameKind.SnapHeader, 0x0a, 0xff, 0xff, 0x7f)],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "a header without a message",
      frames: () => [Uint8Array.of(FrameKind.SnapHeader)],
      metric: "snapshot-malformed",
      handled: false,
    },
    {
      name: "an unknown frame kind",
      frames: () => [Uint8Array.of(99, 1, 2)],
      metric: "snapshot-malformed",
      handled: false,
    },
  ];

  async function receiver(opts: Partial<TransportOptions> = {}) {
    const one = await startNode(1, opts);
    nodes = [one];
    one.t.addPeer(2, "ws://127.0.0.1:1");
    const raw = new RawClient(one.url);
    await raw.handshake(2, 1, { kind: ConnKind.Snapshot });
    return { one, raw };
  }

  for (const c of cases) {
    it(`rejects ${c.name}: close 4010, counted, the node's iteration throws, nothing acknowledged`, async () => {
      const { one, raw } = await receiver();
      for (const f of c.frames()) raw.send(f);
      const closed = await raw.waitClosed();
      expect(closed.code).toBe(CloseCode.SnapshotRejected);
      expect(await count(one.metrics.framesRejected, { reason: c.metric })).toBe(1);
      expect(await count(one.metrics.snapshotsReceived, { result: "failure" })).toBe(1);
      expect(raw.frames).toEqual([]); // no SnapAck
      if (c.handled) {
        await waitFor(() => one.rec.received[0]?.settled === true, "the handler");
        expect((one.rec.received[0]!.error as SnapshotTransferError).reason).toBe(c.metric);
      } else {
        expect(one.rec.received).toEqual([]);
      }
      expect(one.rec.processed).toEqual([]);
    });
  }

  it("rejects a frame after the trailer while the node is still storing the image: close 4010, no ack", async () => {
    const { one, raw } = await receiver();
    let read = false;
    one.rec.onSnapshot = async (_m, image) => {
      for await (const _ of image);
      read = true;
      await waitFor(() => raw.closed !== undefined, "the connection to close");
    };
    for (const f of [header(), ...chunks(), trailer()]) raw.send(f);
    await waitFor(() => read, "the image read to its end");
    raw.send(chunks()[0]!);
    expect((await raw.waitClosed()).code).toBe(CloseCode.SnapshotRejected);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-malformed" })).toBe(1);
    expect(raw.frames).toEqual([]);
  });

  it("rejects a stream that stalls, after snapshotTimeoutMs without a frame; the iteration throws", async () => {
    const { one, raw } = await receiver({ snapshotTimeoutMs: 200 });
    raw.send(header());
    raw.send(chunks()[0]!);
    expect((await raw.waitClosed()).code).toBe(CloseCode.SnapshotRejected);
    expect(await count(one.metrics.framesRejected, { reason: "snapshot-timeout" })).toBe(1);
    await waitFor(() => one.rec.received[0]?.settled === true, "the handler");
    expect((one.rec.received[0]!.error as SnapshotTransferError).reason).toBe("snapshot-timeout");
  });

  it("a newer snapshot connection from the same peer supersedes the older one", async () => {
    const { one, raw } = await receiver();
    raw.send(header());
    raw.send(chunks()[0]!);
    await waitFor(() => one.rec.received.length === 1, "the first header at the node");
    const raw2 = new RawClient(one.url);
    await raw2.handshake(2, 1, { kind: ConnKind.Snapshot });
    expect((await raw.waitClosed()).code).toBe(CloseCode.SnapshotRejected);
    await waitFor(() => one.rec.received[0]?.settled === true, "the first handler");
    expect((one.rec.received[0]!.error as SnapshotTransferError).reason).toBe("snapshot-superseded");
    for (const f of [header(), ...chunks(), trailer()]) raw2.send(f);
    await waitFor(() => raw2.frames.length === 1, "the SnapAck");
    expect([...raw2.frames[0]!]).toEqual([FrameKind.SnapAck]);
  });

  it("accepts a well-formed hand-written stream, acknowledges it, and closes", async () => {
    const { one, raw } = await receiver();
    for (const f of [header(), ...chunks(), trailer()]) raw.send(f);
    await waitFor(() => raw.frames.length === 1, "the SnapAck");
    expect([...raw.frames[0]!]).toEqual([FrameKind.SnapAck]);
    expect((await raw.waitClosed()).code).toBe(1000);
    expect(one.rec.received[0]!.image!.equals(data)).toBe(true);
    expect(one.rec.processed).toEqual([msgSnap(2, 1)]);
    expect(await count(one.metrics.snapshotsReceived, { result: "success" })).toBe(1);
  });
});
