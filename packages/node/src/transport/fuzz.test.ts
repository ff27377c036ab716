/**
 * Hostile input on authenticated connections: mutated and random frames must never crash the node,
 * never reach `handler.process` unless they decode cleanly, and always be counted; a mutated
 * snapshot stream is acknowledged only if it is a well-formed one, and then the node got exactly
 * the bytes its trailer vouches for.
 */
import { createHash } from "node:crypto";
import type { Message } from "@tsraft/raft/raftpb";
import { decodeMessage, EntryType, MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import fc from "fast-check";
import protobuf from "protobufjs/minimal.js";
import { afterEach, describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import * as harness from "../../test/transport/harness.js";

import * as wire from "./frame.js";

const SEED = 20240607;

let nodes: harness.TestNode[] = [];
afterEach(async () => {
  await harness.stopAll(nodes);
  nodes = [];
});

/** Messages node 1 could legitimately send node 2. */
const arbMessage: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(
      MessageType.MsgApp,
      MessageType.MsgAppResp,
      MessageType.MsgVote,
      MessageType.MsgHeartbeat,
      MessageType.MsgHeartbeatResp,
      MessageType.MsgProp,
      MessageType.MsgReadIndex,
    ),
    term: fc.nat(1000),
    index: fc.maxSafeNat(),
    logTerm: fc.nat(1000),
    commit: fc.nat(),
    reject: fc.boolean(),
    context: fc.uint8Array({ maxLength: 8 }),
    entries: fc.array(
      fc.record({
        term: fc.nat(1000),
        index: fc.nat(),
        type: fc.constantFrom(EntryType.EntryNormal, EntryType.EntryConfChange),
        data: fc.uint8Array({ maxLength: 64 }),
      }),
      { maxLength: 4 },
    ),
  })
  .map((m) => newMessage({ ...m, from: 1, to: 2 }));

const arbBatch = fc.array(arbMessage, { minLength: 1, maxLength: 4 }).map((ms) => wire.encodeBatch(ms));

/** A frame to throw at the node: a valid batch mutated, or noise. */
const arbFrame: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  // Bit flips.
  fc.tuple(arbBatch, fc.array(fc.nat(), { minLength: 1, maxLength: 3 })).map(([f, flips]) => {
    const out = Uint8Array.from(f);
    for (const x of flips) out[x % out.length]! ^= 1 << (x % 8);
    return out;
  }),
  // Truncations.
  fc.tuple(arbBatch, fc.nat()).map(([f, n]) => f.slice(0, n % f.length)),
  // Random bytes behind a batch kind byte, and random bytes outright.
  fc.uint8Array({ maxLength: 200 }).map((b) => Uint8Array.of(wire.FrameKind.Batch, ...b)),
  fc.uint8Array({ maxLength: 200 }),
  // A message field declaring a huge length (varint up to 2^49) with few bytes behind it.
  fc.tuple(fc.integer({ min: 1, max: 2 ** 49 }), fc.uint8Array({ maxLength: 16 })).map(([len, tail]) => {
    const w = protobuf.Writer.create();
    w.uint32(wire.FrameKind.Batch).uint32(10).uint64(len);
    return Uint8Array.of(...w.finish(), ...tail);
  }),
  // Inside a message: entries declaring huge lengths.
  fc.tuple(arbBatch, fc.integer({ min: 2, max: 60 })).map(([f, at]) => {
    const out = Uint8Array.from(f);
    const i = at % out.length;
    out.set([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f].slice(0, out.length - i), i);
    return out;
  }),
  // Frames of other kinds, and text.
  fc
    .tuple(fc.constantFrom(0, 1, 2, 4, 5, 6, 7, 8, 255), fc.uint8Array({ maxLength: 32 }))
    .map(([k, b]) => Uint8Array.of(k, ...b)),
  fc.string({ maxLength: 32 }),
  // Untouched valid batches, so clean decodes are exercised too.
  arbBatch,
);

/**
 * The oracle, independent of frame.ts: a frame is a batch kind byte followed only by field-1
 * length-delimited Messages, read with protobufjs's Reader and raftpb's decodeMessage. Returns the
 * messages, or undefined if the frame does not decode cleanly.
 */
function oracle(frame: Uint8Array | string): Message[] | undefined {
  if (typeof frame === "string" || frame[0] !== wire.FrameKind.Batch) return undefined;
  const r = protobuf.Reader.create(frame.subarray(1));
  const out: Message[] = [];
  try {
    while (r.pos < r.len) {
      if (r.uint32() !== 10) return undefined;
      out.push(decodeMessage(r.bytes()));
    }
  } catch {
    return undefined;
  }
  return out;
}

const DELIVERABLE = (m: Message): boolean =>
  m.from === 1 && m.to === 2 && MessageType[m.type] !== undefined && !isLocal(m.type);

function isLocal(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum ||
    (t >= MessageType.MsgStorageAppend && t <= MessageType.MsgStorageApplyResp)
  );
}

describe("hostile frames on an authenticated connection", () => {
  it("≥ 10^4 mutated and random frames: no crash, only clean decodes delivered, every drop counted", async () => {
    const n = await harness.startNode(2);
    nodes = [n];
    n.t.addPeer(1, "ws://127.0.0.1:1"); // node 1 dials; we play node 1 by hand
    const raw = new harness.RawClient(n.url);
    await raw.handshake(1, 2);

    const frames = fc.sample(arbFrame, { seed: SEED, numRuns: runs(10_000) });
    let rejected = 0;
    let filtered = 0;
    const expected: Message[] = [];
    for (const f of frames) {
      const ms = oracle(f);
      if (ms === undefined) {
        rejected++;
      } else {
        const ok = ms.filter(DELIVERABLE);
        expected.push(...ok);
        filtered += ms.length - ok.length;
      }
      raw.send(f);
    }
    // A last, valid frame: once it is in, everything before it has been handled.
    const sentinel = harness.app(1, 2, 424242);
    raw.send(wire.encodeBatch([sentinel]));
    await harness.waitFor(() => n.rec.processed.at(-1)?.index === 424242, "the sentinel", 30_000);

    expect(raw.closed).toBeUndefined(); // the connection survived all of it
    expect(n.rec.processed.slice(0, -1)).toEqual(expected);
    const counted = await harness.count(n.metrics.framesRejected);
    expect(counted).toBe(rejected);
    // Clean decodes that are not ours to deliver (misaddressed, local or unknown types) are counted too.
    expect(await harness.count(n.metrics.messagesDropped)).toBe(filtered);
    expect(rejected).toBeGreaterThan(frames.length / 2); // the generator does produce mostly garbage
    expect(expected.length).toBeGreaterThan(100); // ... and some clean frames too
  });

  it("refuses a frame above maxPayload from its header alone, closing with 1009", async () => {
    const n = await harness.startNode(2, { maxPayload: 64 * 1024 });
    nodes = [n];
    n.t.addPeer(1, "ws://127.0.0.1:1");
    const bare = await harness.BareClient.connect(n.url);
    bare.writeFrame(harness.hello({ from: 1, to: 2 }));
    expect((await bare.readFrame()).payload[0]).toBe(wire.FrameKind.HelloAck);
    // Declare a 1 TiB payload and send none of it: ws must refuse on the header, not wait to buffer.
    bare.writeFrame(new Uint8Array(0), 2 ** 40);
    const close = await bare.readFrame();
    expect(close.opcode).toBe(0x8);
    expect(close.payload.readUInt16BE(0)).toBe(1009);
    await harness.waitFor(() => n.t.peers()[0]!.active === false, "the connection to drop");
    expect(await harness.count(n.metrics.framesRejected, { reason: "oversize" })).toBe(1);
    expect(n.rec.processed).toEqual([]);
    bare.sock.destroy();

    // The node carries on: a well-behaved connection still works.
    const raw = new harness.RawClient(n.url);
    await raw.handshake(1, 2);
    raw.send(wire.encodeBatch([harness.app(1, 2, 1)]));
    await harness.waitFor(() => n.rec.processed.length === 1, "a message on a fresh connection");
  });

  it("a dialer refuses an oversized frame from the peer it dialed (maxPayload on client sockets too)", async () => {
    const fake = await harness.fakeAcceptor(2);
    const n = await harness.startNode(1, { maxPayload: 8192 });
    nodes = [n];
    n.t.addPeer(2, fake.url);
    await harness.waitFor(() => n.t.peers()[0]!.active, "the connection");
    fake.send(wire.encodeBatch([harness.app(2, 1, 1, 1, 10_000)]));
    await harness.waitFor(() => n.rec.unreachable.includes(2), "the connection to drop");
    expect(await harness.count(n.metrics.framesRejected, { reason: "oversize" })).toBe(1);
    expect(n.rec.processed).toEqual([]);
    await fake.close();
  });

  it("refuses an oversized frame before the handshake too", async () => {
    const n = await harness.startNode(2, { maxPayload: 8192 });
    nodes = [n];
    const raw = new harness.RawClient(n.url);
    await raw.open();
    raw.send(new Uint8Array(8193));
    expect((await raw.waitClosed()).code).toBe(1009);
    expect(await harness.count(n.metrics.framesRejected, { reason: "oversize" })).toBe(1);
  });

  it("oracle sanity: it accepts a valid batch and rejects its truncation", () => {
    const f = wire.encodeBatch([harness.app(1, 2, 1, 2), harness.app(1, 2, 3)]);
    expect(oracle(f)).toEqual([harness.app(1, 2, 1, 2), harness.app(1, 2, 3)]);
    expect(oracle(f.subarray(0, f.length - 1))).toBeUndefined();
  });
});

describe("hostile snapshot streams", () => {
  // A valid stream: header, 4 chunks of 10,000 bytes, trailer.
  const image = harness.pieceOf(77, 0, 40_000);
  const header = wire.encodeSnapHeader(
    newMessage({
      type: MessageType.MsgSnap,
      from: 2,
      to: 1,
      term: 4,
      snapshot: newSnapshot({ data: Uint8Array.of(1, 2, 3), metadata: { index: 9, term: 4 } }),
    }),
  );
  const valid: Uint8Array[] = [
    header,
    ...[0, 1, 2, 3].map((i) => wire.encodeSnapChunk(image.subarray(i * 10_000, (i + 1) * 10_000))),
    wire.encodeSnapTrailer({ size: image.length, sha256: createHash("sha256").update(image).digest() }),
  ];

  type Mutation =
    | { kind: "flip"; at: number; pos: number; bit: number }
    | { kind: "truncate"; at: number; len: number }
    | { kind: "drop"; at: number }
    | { kind: "duplicate"; at: number }
    | { kind: "swap"; at: number }
    | { kind: "replace"; at: number; with: Uint8Array | string }
    | { kind: "none" };
  const at = fc.nat(valid.length - 1);
  const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
    {
      arbitrary: fc.record({ kind: fc.constant("flip" as const), at, pos: fc.nat(), bit: fc.nat(7) }),
      weight: 4,
    },
    fc.record({ kind: fc.constant("truncate" as const), at, len: fc.nat() }),
    fc.record({ kind: fc.constant("drop" as const), at }),
    fc.record({ kind: fc.constant("duplicate" as const), at }),
    fc.record({ kind: fc.constant("swap" as const), at: fc.nat(valid.length - 2) }),
    fc.record({
      kind: fc.constant("replace" as const),
      at,
      with: fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc
          .tuple(fc.constantFrom(3, 4, 5, 6, 7), fc.uint8Array({ maxLength: 40 }))
          .map(([k, b]) => Uint8Array.of(k, ...b)),
        fc.string({ maxLength: 8 }),
      ),
    }),
    fc.constant({ kind: "none" as const }),
  );

  function mutate(m: Mutation): (Uint8Array | string)[] {
    const f: (Uint8Array | string)[] = valid.map((x) => Uint8Array.from(x));
    switch (m.kind) {
      case "flip": {
        const b = Uint8Array.from(f[m.at] as Uint8Array);
        b[m.pos % b.length]! ^= 1 << m.bit;
        f[m.at] = b;
        break;
      }
      case "truncate":
        f[m.at] = (f[m.at] as Uint8Array).subarray(0, m.len % (f[m.at] as Uint8Array).length);
        break;
      case "drop":
        f.splice(m.at, 1);
        break;
      case "duplicate":
        f.splice(m.at, 0, f[m.at]!);
        break;
      case "swap":
        [f[m.at], f[m.at + 1]] = [f[m.at + 1]!, f[m.at]!];
        break;
      case "replace":
        f[m.at] = m.with;
        break;
      case "none":
        break;
    }
    return f;
  }

  /** Fields of a protobuf body read with protobufjs, or undefined if it does not parse. */
  function fields(body: Uint8Array): { tag: number; value: number | Uint8Array }[] | undefined {
    const r = protobuf.Reader.create(body);
    const out: { tag: number; value: number | Uint8Array }[] = [];
    try {
      while (r.pos < r.len) {
        const tag = r.uint32();
        if (tag === 10 || tag === 18) out.push({ tag, value: r.bytes() });
        else if (tag === 8) out.push({ tag, value: Number(r.uint64()) });
        else return undefined;
      }
    } catch {
      return undefined;
    }
    return out;
  }

  /**
   * The oracle, independent of the receiver: "valid" for a canonical well-formed stream (header
   * with one message, a MsgSnap 2 → 1; non-empty chunks; a trailer with size and a 32-byte digest
   * matching the chunks), "invalid" when its shape or its digest is plainly wrong, "unsure" for
   * the odd encodings (unknown fields, repeated fields) where the receiver may go either way.
   */
  function oracle(frames: (Uint8Array | string)[]): "valid" | "invalid" | "unsure" {
    const [h, ...rest] = frames;
    const t = rest.pop();
    if (typeof h !== "object" || h[0] !== wire.FrameKind.SnapHeader) return "invalid";
    if (typeof t !== "object" || t[0] !== wire.FrameKind.SnapTrailer) return "invalid";
    if (rest.some((c) => typeof c !== "object" || c[0] !== wire.FrameKind.SnapChunk || c.length < 2))
      return "invalid";
    const data = Buffer.concat(rest.map((c) => (c as Uint8Array).subarray(1)));
    const hf = fields(h.subarray(1));
    const tf = fields(t.subarray(1));
    if (hf === undefined || tf === undefined) return "unsure";
    if (hf.length !== 1 || hf[0]!.tag !== 10) return "unsure";
    if (tf.length !== 2 || tf[0]!.tag !== 8 || tf[1]!.tag !== 18) return "unsure";
    let m: Message;
    try {
      m = decodeMessage(hf[0]!.value as Uint8Array);
    } catch {
      return "invalid";
    }
    if (m.type !== MessageType.MsgSnap || m.snapshot === undefined || m.from !== 2 || m.to !== 1)
      return "invalid";
    const sha = tf[1]!.value as Uint8Array;
    if (sha.length !== 32 || tf[0]!.value !== data.length) return "invalid";
    return Buffer.from(sha).equals(createHash("sha256").update(data).digest()) ? "valid" : "invalid";
  }

  it("mutated streams: acknowledged only when well-formed, with exactly the vouched bytes; every other one closed 4010", async () => {
    const SNAP_SEED = 4242;
    const n = await harness.startNode(1, { snapshotTimeoutMs: 500 });
    nodes = [n];
    n.t.addPeer(2, "ws://127.0.0.1:1");
    const mutations = fc.sample(arbMutation, { seed: SNAP_SEED, numRuns: runs(150) });
    const tally = { valid: 0, invalid: 0, unsure: 0, acked: 0 };
    for (const [i, m] of mutations.entries()) {
      const ctx = `seed ${SNAP_SEED}, sample ${i}: ${JSON.stringify(m)}`;
      const frames = mutate(m);
      const expect_ = oracle(frames);
      tally[expect_]++;
      const received = n.rec.received.length;
      const raw = new harness.RawClient(n.url);
      await raw.handshake(2, 1, { kind: wire.ConnKind.Snapshot });
      for (const f of frames) raw.send(f);
      const closed = await raw.waitClosed(10_000);
      const acked = raw.frames.length === 1 && raw.frames[0]![0] === wire.FrameKind.SnapAck;
      expect([1000, wire.CloseCode.SnapshotRejected], ctx).toContain(closed.code);
      expect(acked, ctx).toBe(closed.code === 1000);
      if (expect_ !== "unsure") expect(acked, ctx).toBe(expect_ === "valid");
      const r = n.rec.received[received];
      if (acked) {
        tally.acked++;
        // The node read exactly the chunks' bytes, and the trailer vouched for them.
        const chunks = frames.slice(1, -1).map((c) => (c as Uint8Array).subarray(1));
        expect(r?.image?.equals(Buffer.concat(chunks)), ctx).toBe(true);
      } else if (r !== undefined) {
        await harness.waitFor(() => r.settled, `${ctx}: the handler`);
        expect(r.error, ctx).toBeDefined();
      }
    }
    expect(await harness.count(n.metrics.snapshotsReceived, { result: "failure" })).toBe(
      mutations.length - tally.acked,
    );
    expect(await harness.count(n.metrics.snapshotsReceived, { result: "success" })).toBe(tally.acked);
    console.log(JSON.stringify({ test: "snapshot-stream-fuzz", runs: mutations.length, ...tally }));
    // The generator exercises both sides.
    expect(tally.valid).toBeGreaterThan(5);
    expect(tally.invalid).toBeGreaterThan(mutations.length / 2);
  }, 120_000);
});
