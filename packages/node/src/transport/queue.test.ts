import type { Message } from "@tsraft/raft/raftpb";
import { EntryType, encodeMessage, MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import type { TestNode } from "../../test/transport/harness.js";
import { app, count, fakeAcceptor, startNode, stopAll, waitFor } from "../../test/transport/harness.js";
import { Backoff } from "./backoff.js";
import { decodeBatch, encodeBatch } from "./frame.js";
import { BoundedQueue } from "./queue.js";
import { messageSizeBound } from "./size.js";

const SEED = 4242;

let nodes: TestNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

describe("BoundedQueue", () => {
  it("refuses items beyond its count or byte limit and batches by bytes", () => {
    const q = new BoundedQueue<string>(3, 100);
    expect(q.push("a", 40)).toBe(true);
    expect(q.push("b", 40)).toBe(true);
    expect(q.push("c", 30)).toBe(false); // 110 bytes
    expect(q.push("c", 20)).toBe(true);
    expect(q.push("d", 0)).toBe(false); // 4 items
    expect([q.length, q.bytes]).toEqual([3, 100]);
    expect(q.shiftBatch(50)).toEqual(["a"]);
    expect(q.shiftBatch(1)).toEqual(["b"]); // always at least one
    expect(q.shiftBatch(1000)).toEqual(["c"]);
    expect([q.length, q.bytes]).toEqual([0, 0]);
    expect(q.shiftBatch(10)).toEqual([]);
  });

  it("behaves like an array model under random pushes and shifts", () => {
    const op = fc.oneof(
      fc.record({ push: fc.nat(50) }),
      fc.record({ shift: fc.nat(200) }),
      fc.constant({ clear: true as const }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const q = new BoundedQueue<number>(20, 400);
        const model: { v: number; s: number }[] = [];
        let next = 0;
        for (const o of ops) {
          if ("push" in o) {
            const fits = model.length < 20 && model.reduce((a, x) => a + x.s, 0) + o.push <= 400;
            expect(q.push(next, o.push)).toBe(fits);
            if (fits) model.push({ v: next, s: o.push });
            next++;
          } else if ("shift" in o) {
            const want: number[] = [];
            let sum = 0;
            while (model.length > 0 && (want.length === 0 || sum + model[0]!.s <= o.shift)) {
              sum += model[0]!.s;
              want.push(model.shift()!.v);
            }
            expect(q.shiftBatch(o.shift)).toEqual(want);
          } else {
            expect(q.clear()).toBe(model.length);
            model.length = 0;
          }
          expect(q.length).toBe(model.length);
          expect(q.bytes).toBe(model.reduce((a, x) => a + x.s, 0));
        }
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("Backoff", () => {
  it("doubles up to the cap, jitters within [d/2, d], and resets", () => {
    const lo = new Backoff(100, 1000, () => 0);
    expect([lo.next(), lo.next(), lo.next(), lo.next(), lo.next(), lo.next()]).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    const hi = new Backoff(100, 1000, () => 0.999999);
    const d = [hi.next(), hi.next(), hi.next(), hi.next(), hi.next()];
    expect(d.map(Math.round)).toEqual([100, 200, 400, 800, 1000]);
    hi.reset();
    expect(Math.round(hi.next())).toBe(100);
  });
});

describe("messageSizeBound", () => {
  const arbMessage: fc.Arbitrary<Message> = fc
    .record({
      type: fc.integer({ min: 0, max: 23 }),
      to: fc.maxSafeNat(),
      from: fc.maxSafeNat(),
      term: fc.maxSafeNat(),
      logTerm: fc.maxSafeNat(),
      index: fc.maxSafeNat(),
      commit: fc.maxSafeNat(),
      vote: fc.maxSafeNat(),
      reject: fc.boolean(),
      rejectHint: fc.maxSafeNat(),
      context: fc.uint8Array({ maxLength: 300 }),
      entries: fc.array(
        fc.record({
          term: fc.maxSafeNat(),
          index: fc.maxSafeNat(),
          type: fc.constantFrom(EntryType.EntryNormal, EntryType.EntryConfChangeV2),
          data: fc.uint8Array({ maxLength: 300 }),
        }),
        { maxLength: 5 },
      ),
      snap: fc.option(
        fc.record({
          data: fc.uint8Array({ maxLength: 300 }),
          voters: fc.array(fc.maxSafeNat(), { maxLength: 7 }),
          learners: fc.array(fc.maxSafeNat(), { maxLength: 3 }),
          index: fc.maxSafeNat(),
          term: fc.maxSafeNat(),
        }),
        { nil: undefined },
      ),
    })
    .map(({ snap, ...m }) =>
      newMessage({
        ...m,
        snapshot:
          snap &&
          newSnapshot({
            data: snap.data,
            metadata: {
              index: snap.index,
              term: snap.term,
              confState: {
                voters: snap.voters,
                learners: snap.learners,
                votersOutgoing: [],
                learnersNext: snap.voters,
                autoLeave: true,
              },
            },
          }),
      }),
    );

  it("is never below what the message takes in a batch frame", () => {
    fc.assert(
      fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 4 }), (ms) => {
        for (const m of ms) expect(messageSizeBound(m)).toBeGreaterThanOrEqual(encodeMessage(m).length + 2);
        const bound = ms.reduce((a, m) => a + messageSizeBound(m), 0);
        expect(encodeBatch(ms).length).toBeLessThanOrEqual(1 + bound);
      }),
      { seed: SEED, numRuns: runs(500) },
    );
  });

  it("is tight for entry data (within a couple hundred bytes)", () => {
    const m = app(1, 2, 1, 10, 1000);
    expect(messageSizeBound(m) - encodeMessage(m).length).toBeLessThan(200);
  });
});

describe("batching", () => {
  it("sends what one send() call queues as few frames, each within maxBatchBytes", async () => {
    const n = await startNode(1, { maxBatchBytes: 64 * 1024 });
    nodes = [n];
    const peer = await fakeAcceptor(2);
    n.t.addPeer(2, peer.url);
    await waitFor(() => n.t.peers()[0]!.active, "the connection");
    const msgs = Array.from({ length: 200 }, (_, i) => app(1, 2, i + 1, 1, 1000));
    n.t.send(msgs);
    await waitFor(() => peer.frames.reduce((a, f) => a + decodeBatch(f).length, 0) === 200, "all messages");
    // 200 × ~1.1 KB = ~220 KB in frames of at most 64 KiB: 4 frames, not 200.
    expect(peer.frames.length).toBe(4);
    for (const f of peer.frames) expect(f.length).toBeLessThanOrEqual(64 * 1024 + 1);
    expect(peer.frames.flatMap((f) => decodeBatch(f))).toEqual(msgs);
    await n.t.stop();
    await peer.close();
  });
});

describe("send queue overflow", () => {
  it("drops, counts and reports unreachable when a stalled peer's queue is full; memory stays bounded", async () => {
    const queueSize = 1000;
    const queueBytes = 512 * 1024;
    const maxPayload = 256 * 1024;
    const n = await startNode(1, { queueSize, queueBytes, maxPayload, maxBatchBytes: 64 * 1024 });
    nodes = [n];
    const peer = await fakeAcceptor(2, { pause: true });
    n.t.addPeer(2, peer.url);
    await waitFor(() => n.t.peers()[0]!.active, "the connection");

    const m = newMessage({ ...app(1, 2, 1, 1, 1000), type: MessageType.MsgApp });
    const burst = 100; // ~120 KB: a burst alone never fills the queue, only a stalled socket does
    let sent = 0;
    let maxQueued = 0;
    let maxBuffered = 0;
    const step = async (): Promise<void> => {
      n.t.send(Array(burst).fill(m));
      sent += burst;
      const p = n.t.peers()[0]!;
      maxQueued = Math.max(maxQueued, p.queuedBytes);
      expect(p.queuedMessages).toBeLessThanOrEqual(queueSize);
      await new Promise((r) => setImmediate(r)); // let the batch flush
      maxBuffered = Math.max(maxBuffered, n.t.peers()[0]!.bufferedBytes);
    };
    // Keep sending until the queue overflows: the kernel's socket buffers fill first, then ws's
    // buffer up to the high-water mark, then the queue.
    while ((await count(n.metrics.messagesDropped, { reason: "queue-full" })) === 0) {
      expect(sent).toBeLessThan(200_000); // far more than the kernel's socket buffers hold
      await step();
    }
    // The socket was in backpressure when the queue overflowed: the transport stopped writing at
    // the high-water mark instead of piling everything into the socket's buffer.
    expect(maxBuffered).toBeGreaterThanOrEqual(maxPayload);
    // A few more bursts while full: each is dropped and reported, nothing accumulates.
    for (let i = 0; i < 5; i++) await step();
    expect(maxQueued).toBeLessThanOrEqual(queueBytes);
    expect(maxBuffered).toBeLessThanOrEqual(maxPayload + 64 * 1024 + 1);
    await waitFor(() => n.rec.unreachable.length >= 5, "unreachable reports");
    expect(new Set(n.rec.unreachable)).toEqual(new Set([2]));
    const dropped = await count(n.metrics.messagesDropped, { reason: "queue-full" });
    expect(dropped).toBeGreaterThan(0);
    expect(await count(n.metrics.peerUnreachable)).toBe(n.rec.unreachable.length);

    // The peer catches up: everything not dropped arrives, and the connection is still the same one.
    peer.resume();
    const received = () => peer.frames.reduce((a, f) => a + decodeBatch(f).length, 0);
    await waitFor(() => received() === sent - dropped, "the backlog to drain", 30_000);
    expect(await count(n.metrics.messagesSent)).toBe(sent - dropped);
    expect(n.t.peers()[0]).toMatchObject({ active: true, queuedMessages: 0, queuedBytes: 0 });
    await n.t.stop();
    await peer.close();
  });
});
