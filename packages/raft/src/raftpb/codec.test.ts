import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import {
  arbConfChange,
  arbConfChangeV2,
  arbConfState,
  arbEntry,
  arbHardState,
  arbMessage,
  arbSnapshot,
} from "../../../../test/raftpb-arbitraries.js";
import {
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
} from "./codec.js";
import { entriesSize, entrySize, varintSize } from "./size.js";
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newEntry,
  newHardState,
  newMessage,
  newSnapshot,
} from "./types.js";

const SEED = 20240601;
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
/** The varint of 2^53 − 1: seven 0xff groups, then the top four bits. */
const MAX_SAFE_VARINT = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];

describe("round trips", () => {
  const cases = [
    ["Message", arbMessage, encodeMessage, decodeMessage],
    ["Entry", arbEntry, encodeEntry, decodeEntry],
    ["HardState", arbHardState, encodeHardState, decodeHardState],
    ["ConfState", arbConfState, encodeConfState, decodeConfState],
    ["Snapshot", arbSnapshot, encodeSnapshot, decodeSnapshot],
    ["ConfChange", arbConfChange, encodeConfChange, decodeConfChange],
    ["ConfChangeV2", arbConfChangeV2, encodeConfChangeV2, decodeConfChangeV2],
  ] as const;
  for (const [name, arb, encode, decode] of cases) {
    it(`decode(encode(x)) equals x for every ${name}`, () => {
      fc.assert(
        fc.property(arb as fc.Arbitrary<never>, (x) => {
          const enc = (encode as (v: never) => Uint8Array)(x);
          expect((decode as (b: Uint8Array) => unknown)(enc)).toEqual(x);
        }),
        { seed: SEED, numRuns: runs(300) },
      );
    });
  }

  it("encoding is deterministic and canonical: encode(decode(b)) gives back b", () => {
    fc.assert(
      fc.property(arbMessage, (m) => {
        const b = encodeMessage(m);
        expect(encodeMessage(decodeMessage(b))).toEqual(b);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("decoded objects have the factories' keys in the factories' order", () => {
    const m = decodeMessage(
      encodeMessage(
        newMessage({ type: MessageType.MsgSnap, entries: [newEntry()], snapshot: newSnapshot() }),
      ),
    );
    expect(Object.keys(m)).toEqual(Object.keys(newMessage({ type: MessageType.MsgHup })));
    expect(Object.keys(m.entries[0]!)).toEqual(Object.keys(newEntry()));
    expect(Object.keys(m.snapshot!)).toEqual(Object.keys(newSnapshot()));
    expect(Object.keys(m.snapshot!.metadata)).toEqual(Object.keys(newSnapshot().metadata));
    expect(Object.keys(m.snapshot!.metadata.confState)).toEqual(Object.keys(newConfState()));
    expect(Object.keys(decodeHardState(new Uint8Array(0)))).toEqual(Object.keys(newHardState()));
    expect(Object.keys(decodeConfChange(new Uint8Array(0)))).toEqual(Object.keys(newConfChange()));
    expect(Object.keys(decodeConfChangeV2(new Uint8Array(0)))).toEqual(Object.keys(newConfChangeV2()));
  });

  it("empty input decodes to the zero value of each type", () => {
    const empty = new Uint8Array(0);
    expect(decodeMessage(empty)).toEqual(newMessage({ type: MessageType.MsgHup }));
    expect(decodeEntry(empty)).toEqual(newEntry());
    expect(decodeHardState(empty)).toEqual(newHardState());
    expect(decodeConfState(empty)).toEqual(newConfState());
    expect(decodeSnapshot(empty)).toEqual(newSnapshot());
    expect(decodeConfChange(empty)).toEqual(newConfChange());
    expect(decodeConfChangeV2(empty)).toEqual(newConfChangeV2());
  });

  it("zero values encode to nothing", () => {
    expect(encodeMessage(newMessage({ type: MessageType.MsgHup })).length).toBe(0);
    expect(encodeEntry(newEntry()).length).toBe(0);
    expect(encodeHardState(newHardState()).length).toBe(0);
    expect(encodeConfState(newConfState()).length).toBe(0);
    expect(encodeConfChange(newConfChange()).length).toBe(0);
    expect(encodeConfChangeV2(newConfChangeV2()).length).toBe(0);
    // Snapshot.metadata and its confState are always written.
    expect(encodeSnapshot(newSnapshot())).toEqual(bytes(0x12, 0x02, 0x0a, 0x00));
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
    const e = newEntry({ term: 1, index: 2, data: ascii("ab") });
    check(e, [0x10, 0x01, 0x18, 0x02, 0x22, 0x02, 0x61, 0x62], encodeEntry, decodeEntry);
  });

  it("an EntryConfChange with a two-byte index (300 = 0xac 0x02)", () => {
    const e = newEntry({ term: 5, index: 300, type: EntryType.EntryConfChange, data: bytes(0x01) });
    check(e, [0x08, 0x01, 0x10, 0x05, 0x18, 0xac, 0x02, 0x22, 0x01, 0x01], encodeEntry, decodeEntry);
  });

  it("a MsgApp with two entries and a commit index", () => {
    const m = newMessage({
      type: MessageType.MsgApp,
      to: 2,
      from: 1,
      term: 4,
      logTerm: 4,
      index: 10,
      entries: [newEntry({ term: 4, index: 11, data: ascii("x") }), newEntry({ term: 4, index: 12 })],
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
    check(m, expected, encodeMessage, decodeMessage);
  });

  it("a MsgAppResp rejection: bool and hint fields, context (12)", () => {
    const m = newMessage({
      type: MessageType.MsgAppResp,
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
    check(m, expected, encodeMessage, decodeMessage);
  });

  it("a MsgStorageAppend: 2^53 - 1 ids, vote (13) after context (12), a nested response (14)", () => {
    const m = newMessage({
      type: MessageType.MsgStorageAppend,
      to: Number.MAX_SAFE_INTEGER,
      from: 1,
      term: 2,
      commit: 3,
      vote: 1,
      context: ascii("c"),
      responses: [
        newMessage({
          type: MessageType.MsgStorageAppendResp,
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
    check(m, expected, encodeMessage, decodeMessage);
  });

  it("a HardState with commit 2^53 - 1 (an 8-byte varint)", () => {
    const hs = newHardState({ term: 1, vote: 3, commit: Number.MAX_SAFE_INTEGER });
    check(hs, [0x08, 0x01, 0x10, 0x03, 0x18, ...MAX_SAFE_VARINT], encodeHardState, decodeHardState);
    // 2^32 = 16 · 2^28: four empty 7-bit groups, then 16.
    const hs2 = newHardState({ commit: 2 ** 32 });
    check(hs2, [0x18, 0x80, 0x80, 0x80, 0x80, 0x10], encodeHardState, decodeHardState);
  });

  it("a joint ConfState: repeated ids unpacked (one tag each), autoLeave", () => {
    const cs = newConfState({
      voters: [1, 2],
      learners: [4],
      votersOutgoing: [1, 2, 3],
      learnersNext: [3],
      autoLeave: true,
    });
    const expected = [0x08, 0x01, 0x08, 0x02, 0x10, 0x04, 0x18, 0x01, 0x18, 0x02, 0x18, 0x03, 0x20, 0x03];
    expected.push(0x28, 0x01);
    check(cs, expected, encodeConfState, decodeConfState);
  });

  it("a ConfChangeV2: transition, two changes (AddNode's type 0 omitted), context", () => {
    const cc = newConfChangeV2({
      transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
      changes: [
        { type: ConfChangeType.ConfChangeAddNode, nodeId: 2 },
        { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
      ],
      context: ascii("c"),
    });
    const expected = [
      0x08, 0x02, 0x12, 0x02, 0x10, 0x02, 0x12, 0x04, 0x08, 0x01, 0x10, 0x03, 0x1a, 0x01, 0x63,
    ];
    check(cc, expected, encodeConfChangeV2, decodeConfChangeV2);
  });

  it("a ConfChange: id is field 1", () => {
    const cc = newConfChange({
      id: 1,
      type: ConfChangeType.ConfChangeAddLearnerNode,
      nodeId: 4,
      context: ascii("ctx"),
    });
    const expected = [0x08, 0x01, 0x10, 0x03, 0x18, 0x04, 0x22, 0x03, 0x63, 0x74, 0x78];
    check(cc, expected, encodeConfChange, decodeConfChange);
  });

  it("a MsgSnap: snapshot (9) holding data and metadata (confState, index 200, term 2)", () => {
    const m = newMessage({
      type: MessageType.MsgSnap,
      to: 2,
      from: 1,
      term: 3,
      snapshot: newSnapshot({
        data: bytes(0xaa, 0xbb),
        metadata: { confState: newConfState({ voters: [1, 2, 3] }), index: 200, term: 2 },
      }),
    });
    const confState = [0x08, 0x01, 0x08, 0x02, 0x08, 0x03];
    const metadata = [0x0a, 0x06, ...confState, 0x10, 0xc8, 0x01, 0x18, 0x02];
    expect(metadata.length).toBe(13);
    const snapshot = [0x0a, 0x02, 0xaa, 0xbb, 0x12, 0x0d, ...metadata];
    expect(snapshot.length).toBe(19);
    const expected = [0x08, 0x07, 0x10, 0x02, 0x18, 0x01, 0x20, 0x03, 0x4a, 0x13, ...snapshot];
    check(m, expected, encodeMessage, decodeMessage);
  });

  it("reads what etcd's gogoproto-era encoder wrote: zero Type, Term and Index present", () => {
    // gogoproto's non-nullable Entry fields were always written, zeros included.
    expect(decodeEntry(bytes(0x08, 0x00, 0x10, 0x00, 0x18, 0x00))).toEqual(newEntry());
    expect(decodeEntry(bytes(0x08, 0x00, 0x10, 0x01, 0x18, 0x02))).toEqual(newEntry({ term: 1, index: 2 }));
    // protoc-gen-go writes a field whose pointer is set, even to zero or false.
    expect(decodeMessage(bytes(0x08, 0x00, 0x50, 0x00, 0x62, 0x00))).toEqual(
      newMessage({ type: MessageType.MsgHup }),
    );
  });
});

describe("entrySize", () => {
  it("equals the encoded length of every entry, and entriesSize their sum", () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 8 }), (ents) => {
        let sum = 0;
        for (const e of ents) {
          expect(entrySize(e)).toBe(encodeEntry(e).length);
          sum += encodeEntry(e).length;
        }
        expect(entriesSize(ents)).toBe(sum);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("varintSize matches the varint lengths at every 7-bit boundary", () => {
    for (let k = 1; k <= 7; k++) {
      expect(varintSize(2 ** (7 * k) - 1)).toBe(k);
      expect(varintSize(2 ** (7 * k))).toBe(k + 1);
      expect(encodeHardState(newHardState({ term: 2 ** (7 * k) - 1 })).length).toBe(1 + k);
      expect(encodeHardState(newHardState({ term: 2 ** (7 * k) })).length).toBe(2 + k);
    }
    expect(varintSize(0)).toBe(1);
    expect(varintSize(Number.MAX_SAFE_INTEGER)).toBe(8);
  });
});

describe("encoding", () => {
  it("refuses numbers that are not non-negative safe integers", () => {
    for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, 2 ** 64]) {
      expect(() => encodeHardState(newHardState({ term: bad }))).toThrow(
        new RangeError(`raftpb: HardState.term: ${bad} is not a non-negative safe integer`),
      );
    }
    expect(() => encodeConfState(newConfState({ voters: [1, -2] }))).toThrow(/ConfState\.voters: -2/);
    const m = newMessage({ type: MessageType.MsgApp, entries: [newEntry({ index: 0.5 })] });
    expect(() => encodeMessage(m)).toThrow(/Entry\.index: 0\.5/);
  });

  it("returns plain Uint8Arrays", () => {
    const b = encodeMessage(
      newMessage({ type: MessageType.MsgApp, entries: [newEntry({ data: ascii("x") })] }),
    );
    expect(b.constructor).toBe(Uint8Array);
  });

  it("a large message (past the allocator's pooled sizes) round-trips", () => {
    const data = new Uint8Array(10_000).map((_, i) => i & 0xff);
    const m = newMessage({ type: MessageType.MsgApp, entries: [newEntry({ term: 1, index: 1, data })] });
    const b = encodeMessage(m);
    expect(b.length).toBe(1 + varintSize(entrySize(m.entries[0]!)) + entrySize(m.entries[0]!) + 2);
    expect(decodeMessage(b)).toEqual(m);
  });
});
