import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { arbEntry, arbMessage, CODEC_CASES } from "../../../../test/raftpb-arbitraries.js";
import * as pb from "./index.js";

const SEED = 20240601;
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
/** The varint of 2^53 − 1: seven 0xff groups, then the top four bits. */
const MAX_SAFE_VARINT = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];

describe("round trips", () => {
  for (const [name, arb, encode, decode] of CODEC_CASES) {
    it(`decode(encode(x)) equals x for every ${name}`, () => {
      fc.assert(
        fc.property(arb, (x) => {
          expect(decode(encode(x as never))).toEqual(x);
        }),
        { seed: SEED, numRuns: runs(300) },
      );
    });
  }

  it("encoding is deterministic and canonical: encode(decode(b)) gives back b", () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const b = pb.encodeMessage(m);
        expect(pb.encodeMessage(pb.decodeMessage(b))).toEqual(b);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("decoded objects have the factories' keys in the factories' order", () => {
    const m = pb.decodeMessage(
      pb.encodeMessage(
        pb.newMessage({ type: pb.MessageType.MsgSnap, entries: [pb.newEntry()], snapshot: pb.newSnapshot() }),
      ),
    );
    expect(Object.keys(m)).toEqual(Object.keys(pb.newMessage({ type: pb.MessageType.MsgHup })));
    expect(Object.keys(m.entries[0]!)).toEqual(Object.keys(pb.newEntry()));
    expect(Object.keys(m.snapshot!)).toEqual(Object.keys(pb.newSnapshot()));
    expect(Object.keys(m.snapshot!.metadata)).toEqual(Object.keys(pb.newSnapshot().metadata));
    expect(Object.keys(m.snapshot!.metadata.confState)).toEqual(Object.keys(pb.newConfState()));
    expect(Object.keys(pb.decodeHardState(new Uint8Array(0)))).toEqual(Object.keys(pb.newHardState()));
    expect(Object.keys(pb.decodeConfChange(new Uint8Array(0)))).toEqual(Object.keys(pb.newConfChange()));
    expect(Object.keys(pb.decodeConfChangeV2(new Uint8Array(0)))).toEqual(Object.keys(pb.newConfChangeV2()));
  });

  it("empty input decodes to the zero value of each type", () => {
    const empty = new Uint8Array(0);
    expect(pb.decodeMessage(empty)).toEqual(pb.newMessage({ type: pb.MessageType.MsgHup }));
    expect(pb.decodeEntry(empty)).toEqual(pb.newEntry());
    expect(pb.decodeHardState(empty)).toEqual(pb.newHardState());
    expect(pb.decodeConfState(empty)).toEqual(pb.newConfState());
    expect(pb.decodeSnapshot(empty)).toEqual(pb.newSnapshot());
    expect(pb.decodeConfChange(empty)).toEqual(pb.newConfChange());
    expect(pb.decodeConfChangeV2(empty)).toEqual(pb.newConfChangeV2());
  });

  it("zero values encode to nothing", () => {
    expect(pb.encodeMessage(pb.newMessage({ type: pb.MessageType.MsgHup })).length).toBe(0);
    expect(pb.encodeEntry(pb.newEntry()).length).toBe(0);
    expect(pb.encodeHardState(pb.newHardState()).length).toBe(0);
    expect(pb.encodeConfState(pb.newConfState()).length).toBe(0);
    expect(pb.encodeConfChange(pb.newConfChange()).length).toBe(0);
    expect(pb.encodeConfChangeV2(pb.newConfChangeV2()).length).toBe(0);
    // Snapshot.metadata and its confState are always written.
    expect(pb.encodeSnapshot(pb.newSnapshot())).toEqual(bytes(0x12, 0x02, 0x0a, 0x00));
  });
});

// Expected bytes written out by hand from the proto2 wire rules: a tag is (field << 3 | wire type),
// wire type 0 for varints and 2 for length-delimited fields (a varint length, then the payload);
// a varint holds 7 bits a byte, least significant group first, the high bit set on all but the last.
describe("hand-checked encodings", () => {
  function check<T>(x: T, expected: number[], encode: (x: T) => Uint8Array, decode: (b: Uint8Array) => T) {
    expect(Array.from(encode(x))).toEqual(expected);
    expect(decode(Uint8Array.from(expected))).toEqual(x);
  }

  it("an EntryNormal: type omitted, term 2, index 3, data 4", () => {
    const e = pb.newEntry({ term: 1, index: 2, data: ascii("ab") });
    check(e, [0x10, 0x01, 0x18, 0x02, 0x22, 0x02, 0x61, 0x62], pb.encodeEntry, pb.decodeEntry);
  });

  it("an EntryConfChange with a two-byte index (300 = 0xac 0x02)", () => {
    const e = pb.newEntry({ term: 5, index: 300, type: pb.EntryType.EntryConfChange, data: bytes(0x01) });
    check(e, [0x08, 0x01, 0x10, 0x05, 0x18, 0xac, 0x02, 0x22, 0x01, 0x01], pb.encodeEntry, pb.decodeEntry);
  });

  it("a MsgApp with two entries and a commit index", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgApp,
      to: 2,
      from: 1,
      term: 4,
      logTerm: 4,
      index: 10,
      entries: [pb.newEntry({ term: 4, index: 11, data: ascii("x") }), pb.newEntry({ term: 4, index: 12 })],
      commit: 10,
    });
    const expected = [
      ...[0x08, 0x03], // type = MsgApp
      ...[0x10, 0x02], // to
      ...[0x18, 0x01], // from
      ...[0x20, 0x04], // term
      ...[0x28, 0x04], // logTerm
      ...[0x30, 0x0a], // index
      ...[0x3a, 0x07, 0x10, 0x04, 0x18, 0x0b, 0x22, 0x01, 0x78], // entries[0]: 7 bytes
      ...[0x3a, 0x04, 0x10, 0x04, 0x18, 0x0c], // entries[1]: 4 bytes (no data)
      ...[0x40, 0x0a], // commit
    ];
    check(m, expected, pb.encodeMessage, pb.decodeMessage);
  });

  it("a MsgAppResp rejection: bool and hint fields, context (12)", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgAppResp,
      to: 1,
      from: 2,
      term: 5,
      logTerm: 3,
      index: 7,
      reject: true,
      rejectHint: 6,
      context: ascii("c"),
    });
    const expected = [0x08, 0x04, 0x10, 0x01, 0x18, 0x02, 0x20, 0x05, 0x28, 0x03, 0x30, 0x07];
    expected.push(0x50, 0x01, 0x58, 0x06, 0x62, 0x01, 0x63);
    check(m, expected, pb.encodeMessage, pb.decodeMessage);
  });

  it("a MsgStorageAppend: 2^53 - 1 ids, vote (13) after context (12), a nested response (14)", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgStorageAppend,
      to: Number.MAX_SAFE_INTEGER,
      from: 1,
      term: 2,
      commit: 3,
      vote: 1,
      context: ascii("c"),
      responses: [
        pb.newMessage({
          type: pb.MessageType.MsgStorageAppendResp,
          to: 1,
          from: Number.MAX_SAFE_INTEGER,
          logTerm: 2,
          index: 5,
        }),
      ],
    });
    const resp = [0x08, 0x14, 0x10, 0x01, 0x18, ...MAX_SAFE_VARINT, 0x28, 0x02, 0x30, 0x05];
    expect(resp.length).toBe(17);
    const expected = [0x08, 0x13, 0x10, ...MAX_SAFE_VARINT, 0x18, 0x01, 0x20, 0x02, 0x40, 0x03];
    expected.push(0x62, 0x01, 0x63, 0x68, 0x01);
    expected.push(0x72, 17, ...resp);
    check(m, expected, pb.encodeMessage, pb.decodeMessage);
  });

  it("a HardState with commit 2^53 - 1 (an 8-byte varint)", () => {
    const hs = pb.newHardState({ term: 1, vote: 3, commit: Number.MAX_SAFE_INTEGER });
    check(hs, [0x08, 0x01, 0x10, 0x03, 0x18, ...MAX_SAFE_VARINT], pb.encodeHardState, pb.decodeHardState);
    // 2^32 = 16 · 2^28: four empty 7-bit groups, then 16.
    const hs2 = pb.newHardState({ commit: 2 ** 32 });
    check(hs2, [0x18, 0x80, 0x80, 0x80, 0x80, 0x10], pb.encodeHardState, pb.decodeHardState);
  });

  it("a joint ConfState: repeated ids unpacked (one tag each), autoLeave", () => {
    const cs = pb.newConfState({
      voters: [1, 2],
      learners: [4],
      votersOutgoing: [1, 2, 3],
      learnersNext: [3],
      autoLeave: true,
    });
    const expected = [0x08, 0x01, 0x08, 0x02, 0x10, 0x04, 0x18, 0x01, 0x18, 0x02, 0x18, 0x03, 0x20, 0x03];
    expected.push(0x28, 0x01);
    check(cs, expected, pb.encodeConfState, pb.decodeConfState);
  });

  it("a ConfChangeV2: transition, two changes (AddNode's type 0 omitted), context", () => {
    const cc = pb.newConfChangeV2({
      transition: pb.ConfChangeTransition.ConfChangeTransitionJointExplicit,
      changes: [
        { type: pb.ConfChangeType.ConfChangeAddNode, nodeId: 2 },
        { type: pb.ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
      ],
      context: ascii("c"),
    });
    const expected = [
      0x08, 0x02, 0x12, 0x02, 0x10, 0x02, 0x12, 0x04, 0x08, 0x01, 0x10, 0x03, 0x1a, 0x01, 0x63,
    ];
    check(cc, expected, pb.encodeConfChangeV2, pb.decodeConfChangeV2);
  });

  it("a ConfChange: id is field 1", () => {
    const cc = pb.newConfChange({
      id: 1,
      type: pb.ConfChangeType.ConfChangeAddLearnerNode,
      nodeId: 4,
      context: ascii("ctx"),
    });
    const expected = [0x08, 0x01, 0x10, 0x03, 0x18, 0x04, 0x22, 0x03, 0x63, 0x74, 0x78];
    check(cc, expected, pb.encodeConfChange, pb.decodeConfChange);
  });

  it("a MsgSnap: snapshot (9) holding data and metadata (confState, index 200, term 2)", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgSnap,
      to: 2,
      from: 1,
      term: 3,
      snapshot: pb.newSnapshot({
        data: bytes(0xaa, 0xbb),
        metadata: { confState: pb.newConfState({ voters: [1, 2, 3] }), index: 200, term: 2 },
      }),
    });
    const confState = [0x08, 0x01, 0x08, 0x02, 0x08, 0x03];
    const metadata = [0x0a, 0x06, ...confState, 0x10, 0xc8, 0x01, 0x18, 0x02];
    expect(metadata.length).toBe(13);
    const snapshot = [0x0a, 0x02, 0xaa, 0xbb, 0x12, 0x0d, ...metadata];
    expect(snapshot.length).toBe(19);
    const expected = [0x08, 0x07, 0x10, 0x02, 0x18, 0x01, 0x20, 0x03, 0x4a, 0x13, ...snapshot];
    check(m, expected, pb.encodeMessage, pb.decodeMessage);
  });

  it("reads what etcd's gogoproto-era encoder wrote: zero Type, Term and Index present", () => {
    // gogoproto's non-nullable Entry fields were always written, zeros included.
    expect(pb.decodeEntry(bytes(0x08, 0x00, 0x10, 0x00, 0x18, 0x00))).toEqual(pb.newEntry());
    expect(pb.decodeEntry(bytes(0x08, 0x00, 0x10, 0x01, 0x18, 0x02))).toEqual(
      pb.newEntry({ term: 1, index: 2 }),
    );
    // protoc-gen-go writes a field whose pointer is set, even to zero or false.
    expect(pb.decodeMessage(bytes(0x08, 0x00, 0x50, 0x00, 0x62, 0x00))).toEqual(
      pb.newMessage({ type: pb.MessageType.MsgHup }),
    );
  });
});

describe("entrySize", () => {
  it("equals the encoded length of every entry, and entriesSize their sum", () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 8 }), (ents) => {
        let sum = 0;
        for (const e of ents) {
          expect(pb.entrySize(e)).toBe(pb.encodeEntry(e).length);
          sum += pb.encodeEntry(e).length;
        }
        expect(pb.entriesSize(ents)).toBe(sum);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("varintSize matches the varint lengths at every 7-bit boundary", () => {
    for (let k = 1; k <= 7; k++) {
      expect(pb.varintSize(2 ** (7 * k) - 1)).toBe(k);
      expect(pb.varintSize(2 ** (7 * k))).toBe(k + 1);
      expect(pb.encodeHardState(pb.newHardState({ term: 2 ** (7 * k) - 1 })).length).toBe(1 + k);
      expect(pb.encodeHardState(pb.newHardState({ term: 2 ** (7 * k) })).length).toBe(2 + k);
    }
    expect(pb.varintSize(0)).toBe(1);
    expect(pb.varintSize(Number.MAX_SAFE_INTEGER)).toBe(8);
  });

  it("getVarint reads what putVarint wrote, and refuses a truncated or oversized varint", () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 49 + 3, Number.MAX_SAFE_INTEGER]) {
      const buf = new Uint8Array(12);
      const end = pb.putVarint(buf, 3, v);
      expect(pb.getVarint(buf, 3)).toEqual({ value: v, end });
    }
    expect(() => pb.getVarint(Uint8Array.of(0x80, 0x80), 0)).toThrow(/truncated varint/);
    expect(() =>
      pb.getVarint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), 0),
    ).toThrow(/exceeds 2\^53-1/);
    expect(() => pb.getVarint(new Uint8Array(10).fill(0xff), 0)).toThrow(/varint too long/);
  });

  it("putVarint writes varintSize bytes, as the codec writes a varint field", () => {
    const zero = new Uint8Array(1).fill(0xee);
    expect([pb.putVarint(zero, 0, 0), zero[0]]).toEqual([1, 0]);
    for (const v of [1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49 + 3, Number.MAX_SAFE_INTEGER]) {
      const buf = new Uint8Array(12).fill(0xee);
      const end = pb.putVarint(buf, 2, v);
      expect(end - 2).toBe(pb.varintSize(v));
      expect(buf[end]).toBe(0xee);
      // HardState.term is field 1: a 0x08 tag, then the varint (the whole encoding, term alone set).
      expect(pb.encodeHardState(pb.newHardState({ term: v }))).toEqual(
        Uint8Array.of(0x08, ...buf.subarray(2, end)),
      );
    }
  });
});

describe("encoding", () => {
  it("refuses numbers that are not non-negative safe integers", () => {
    for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, 2 ** 64]) {
      expect(() => pb.encodeHardState(pb.newHardState({ term: bad }))).toThrow(
        new RangeError(`raftpb: HardState.term: ${bad} is not a non-negative safe integer`),
      );
    }
    expect(() => pb.encodeConfState(pb.newConfState({ voters: [1, -2] }))).toThrow(/ConfState\.voters: -2/);
    const m = pb.newMessage({ type: pb.MessageType.MsgApp, entries: [pb.newEntry({ index: 0.5 })] });
    expect(() => pb.encodeMessage(m)).toThrow(/Entry\.index: 0\.5/);
  });

  it("returns plain Uint8Arrays", () => {
    const b = pb.encodeMessage(
      pb.newMessage({ type: pb.MessageType.MsgApp, entries: [pb.newEntry({ data: ascii("x") })] }),
    );
    expect(b.constructor).toBe(Uint8Array);
  });

  it("a large message (past the allocator's pooled sizes) round-trips", () => {
    const data = new Uint8Array(10_000).map((_, i) => i & 0xff);
    const m = pb.newMessage({
      type: pb.MessageType.MsgApp,
      entries: [pb.newEntry({ term: 1, index: 1, data })],
    });
    const b = pb.encodeMessage(m);
    expect(b.length).toBe(1 + pb.varintSize(pb.entrySize(m.entries[0]!)) + pb.entrySize(m.entries[0]!) + 2);
    expect(pb.decodeMessage(b)).toEqual(m);
  });
});
