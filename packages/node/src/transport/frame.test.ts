import { isRaftError } from "@tsraft/raft";
import { encodeMessage, type Message, MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import fc from "fast-check";
import protobuf from "protobufjs/minimal.js";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { app } from "../../test/transport/harness.js";
import {
  ConnKind,
  decodeBatch,
  decodeHello,
  decodeSnapHeader,
  decodeSnapTrailer,
  encodeBatch,
  encodeHello,
  encodeSnapChunk,
  encodeSnapHeader,
  encodeSnapTrailer,
  FrameKind,
  IN_PLACE_MIN_BYTES,
  snapChunkData,
} from "./frame.js";

const SEED = 777;

const decodeFails = (f: () => unknown): boolean => {
  try {
    f();
    return false;
  } catch (e) {
    return isRaftError(e, "Decode");
  }
};

describe("frames", () => {
  it("a batch is the kind byte plus protobuf `repeated Message messages = 1`, as protobufjs's Writer writes it", () => {
    const arb = fc.array(
      fc.record({ i: fc.nat(1000), n: fc.nat(5), size: fc.nat(300), term: fc.maxSafeNat() }),
      { maxLength: 20 },
    );
    fc.assert(
      fc.property(arb, (specs) => {
        const ms: Message[] = specs.map((s) => ({ ...app(1, 2, s.i, s.n, s.size), term: s.term }));
        const w = protobuf.Writer.create();
        w.uint32(FrameKind.Batch);
        for (const m of ms) w.uint32(10).bytes(encodeMessage(m));
        const frame = encodeBatch(ms);
        expect(Buffer.from(frame).equals(Buffer.from(w.finish()))).toBe(true);
        expect(decodeBatch(frame)).toEqual(ms);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("hello round-trips, skips unknown fields, and refuses numbers above 2^53-1", () => {
    const h = {
      version: 1,
      clusterId: 2 ** 53 - 1,
      from: 7,
      to: 9,
      kind: ConnKind.Snapshot,
      token: Uint8Array.of(1, 2),
    };
    expect(decodeHello(FrameKind.Hello, encodeHello(FrameKind.Hello, h))).toEqual(h);
    // Unknown fields of every wire type in front of the known ones are skipped.
    const w = protobuf.Writer.create();
    w.uint32(FrameKind.HelloAck);
    w.uint32((20 << 3) | 0).uint32(5);
    w.uint32((21 << 3) | 1).fixed64(1);
    w.uint32((22 << 3) | 2).bytes(Uint8Array.of(1, 2, 3));
    w.uint32((23 << 3) | 5).fixed32(1);
    w.uint32((3 << 3) | 0).uint32(4);
    expect(decodeHello(FrameKind.HelloAck, w.finish()).from).toBe(4);
    // clusterId = 2^64 - 1.
    const big = Uint8Array.of(
      FrameKind.Hello,
      0x10,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0x01,
    );
    expect(decodeFails(() => decodeHello(FrameKind.Hello, big))).toBe(true);
    // The wrong kind, truncations, and an 11-byte varint.
    const good = encodeHello(FrameKind.Hello, h);
    expect(decodeFails(() => decodeHello(FrameKind.HelloAck, good))).toBe(true);
    for (let n = 2; n < good.length; n++) {
      const cut = good.subarray(0, n);
      // A cut on a field boundary is a valid (shorter) hello; elsewhere it must fail cleanly.
      try {
        decodeHello(FrameKind.Hello, cut);
      } catch (e) {
        expect(isRaftError(e, "Decode")).toBe(true);
      }
    }
    const long = Uint8Array.of(FrameKind.Hello, 0x08, ...Array(10).fill(0x80), 0x01);
    expect(decodeFails(() => decodeHello(FrameKind.Hello, long))).toBe(true);
  });

  it("a batch's large messages are decoded in place (views into the frame), small ones copied", () => {
    // Messages of 16 KiB entries (decoded in place) around one of 128 B entries (copied).
    const ms = [app(1, 2, 10, 3, 16 * 1024), app(1, 2, 13, 2, 128), app(1, 2, 15, 1, IN_PLACE_MIN_BYTES)];
    const frame = Buffer.from(encodeBatch(ms)); // ws hands out Node Buffers
    const got = decodeBatch(frame);
    expect(got).toEqual(ms);
    let end = frame.byteOffset;
    for (const [i, m] of got.entries()) {
      for (const e of m.entries) {
        expect(e.data.constructor).toBe(Uint8Array);
        if (i === 1) {
          expect(e.data.buffer).not.toBe(frame.buffer);
          continue;
        }
        expect(e.data.buffer).toBe(frame.buffer);
        expect(e.data.byteOffset).toBeGreaterThan(end); // in frame order, none overlapping another
        end = e.data.byteOffset + e.data.byteLength;
      }
    }
    expect(end).toBeLessThanOrEqual(frame.byteOffset + frame.byteLength);
    frame.fill(0); // the copied message does not see it
    expect(got[1]).toEqual(ms[1]);
  });

  it("batch decoding is all or nothing and refuses fields other than messages", () => {
    const frame = encodeBatch([app(1, 2, 1), app(1, 2, 2)]);
    expect(decodeFails(() => decodeBatch(frame.subarray(0, frame.length - 3)))).toBe(true);
    expect(decodeFails(() => decodeBatch(Uint8Array.of(FrameKind.Batch, 0x08, 0x01)))).toBe(true); // field 1 varint
    expect(decodeFails(() => decodeBatch(Uint8Array.of(FrameKind.Batch, 0x12, 0x00)))).toBe(true); // field 2
    expect(decodeFails(() => decodeBatch(Uint8Array.of(FrameKind.Batch, 0x0a, 0xff, 0xff, 0xff, 0x7f)))).toBe(
      true,
    );
    expect(decodeBatch(Uint8Array.of(FrameKind.Batch))).toEqual([]);
  });

  it("snapshot header carries the MsgSnap whole (its metadata bytes too); chunk and trailer round-trip", () => {
    const meta = Uint8Array.from({ length: 40 }, (_, i) => i);
    const m = newMessage({
      type: MessageType.MsgSnap,
      from: 1,
      to: 2,
      snapshot: newSnapshot({ data: meta, metadata: { index: 5, term: 2 } }),
    });
    const hf = encodeSnapHeader(m);
    expect(hf[0]).toBe(FrameKind.SnapHeader);
    expect(decodeSnapHeader(hf)).toEqual(m);
    // protobuf `message SnapHeader { bytes message = 1; }` behind the kind byte.
    const w = protobuf.Writer.create();
    w.uint32(FrameKind.SnapHeader).uint32(10).bytes(encodeMessage(m));
    expect(Buffer.from(hf).equals(Buffer.from(w.finish()))).toBe(true);
    // Unknown fields (version 1's `size = 2`) are skipped.
    expect(decodeSnapHeader(Uint8Array.of(...hf, 0x10, 0x80, 0x01))).toEqual(m);
    expect(decodeFails(() => decodeSnapHeader(Uint8Array.of(FrameKind.SnapHeader)))).toBe(true); // no message
    expect(decodeFails(() => decodeSnapHeader(hf.subarray(0, hf.length - 1)))).toBe(true);

    const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    expect([...snapChunkData(encodeSnapChunk(data.subarray(10, 20)))]).toEqual([...data.subarray(10, 20)]);
    const t = { size: 2 ** 40, sha256: new Uint8Array(32).fill(9) };
    expect(decodeSnapTrailer(encodeSnapTrailer(t))).toEqual(t);
    // A digest must be 32 bytes.
    for (const n of [0, 31, 33]) {
      const bad = encodeSnapTrailer({ size: 1, sha256: new Uint8Array(n) });
      expect(
        decodeFails(() => decodeSnapTrailer(bad)),
        `${n}-byte digest`,
      ).toBe(true);
    }
  });
});
