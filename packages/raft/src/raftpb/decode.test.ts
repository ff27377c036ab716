import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { arbConfChangeV2, arbMessage } from "../../../../test/raftpb-arbitraries.js";
import { isRaftError, RaftError } from "../errors.js";
import * as pb from "./index.js";

const SEED = 20240602;
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
/** MaxUint64 as a varint: nine 0xff groups and a final 0x01 (the 64th bit). */
const MAX_UINT64_VARINT = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
/** 2^53 as a varint: seven empty groups, then 2^53 / 2^49 = 16. */
const TWO_POW_53_VARINT = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];

/** Runs `f`, expecting a "Decode" RaftError; returns its message. */
function decodeFailure(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!isRaftError(e, "Decode")) throw e;
    return e.message;
  }
  throw new Error("expected a Decode error, but decoding succeeded");
}

describe("numbers above 2^53 - 1", () => {
  it("fail with a message naming the message type, the field and the exact value", () => {
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x20, ...MAX_UINT64_VARINT)))).toBe(
      "raftpb: Message.term: 18446744073709551615 exceeds 2^53-1",
    );
    expect(decodeFailure(() => pb.decodeHardState(bytes(0x18, ...TWO_POW_53_VARINT)))).toBe(
      "raftpb: HardState.commit: 9007199254740992 exceeds 2^53-1",
    );
  });

  it("name the innermost message when nested", () => {
    // Message{entries: [Entry{index: MaxUint64}]}
    const entry = [0x18, ...MAX_UINT64_VARINT];
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x3a, entry.length, ...entry)))).toBe(
      "raftpb: Entry.index: 18446744073709551615 exceeds 2^53-1",
    );
    // Snapshot{metadata: {confState: {voters: packed [1, 2^53]}}}
    const packed = [0x0a, 9, 0x01, ...TWO_POW_53_VARINT];
    const md = [0x0a, packed.length, ...packed];
    expect(decodeFailure(() => pb.decodeSnapshot(bytes(0x12, md.length, ...md)))).toBe(
      "raftpb: ConfState.voters: 9007199254740992 exceeds 2^53-1",
    );
  });

  it("2^53 - 1 itself decodes", () => {
    const v = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
    expect(pb.decodeHardState(bytes(0x08, ...v)).term).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("non-minimal varints (padded with 0x80 groups) still decode", () => {
    expect(pb.decodeHardState(bytes(0x08, 0x85, 0x80, 0x80, 0x00)).term).toBe(5);
  });

  it("enum values outside int32 fail (a negative enum is a 10-byte varint)", () => {
    const minusOne = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x08, ...minusOne)))).toMatch(
      /^raftpb: Message\.type: /,
    );
    expect(decodeFailure(() => pb.decodeEntry(bytes(0x08, 0x80, 0x80, 0x80, 0x80, 0x08)))).toMatch(
      /^raftpb: Entry\.type: enum value 2147483648 out of range/,
    );
  });
});

describe("malformed input", () => {
  it("a varint longer than 64 bits fails", () => {
    expect(decodeFailure(() => pb.decodeHardState(bytes(0x08, ...Array(10).fill(0xff), 0x01)))).toBe(
      "raftpb: HardState.term: varint overflows 64 bits at offset 1",
    );
    // The 10th byte may only carry the 64th bit.
    expect(decodeFailure(() => pb.decodeHardState(bytes(0x08, ...Array(9).fill(0xff), 0x02)))).toBe(
      "raftpb: HardState.term: varint overflows 64 bits at offset 1",
    );
  });

  it("truncated varints and lengths fail", () => {
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x20)))).toBe(
      "raftpb: Message.term: unexpected end of input at offset 1",
    );
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x20, 0x80)))).toBe(
      "raftpb: Message.term: unexpected end of input at offset 1",
    );
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x3a)))).toMatch(
      /^raftpb: Message\.entries: unexpected end/,
    );
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x80)))).toMatch(
      /^raftpb: Message tag: unexpected end/,
    );
  });

  it("a length past the end fails, at the top level and inside a nested message", () => {
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x3a, 100, 0x10, 0x01, 0x18)))).toBe(
      "raftpb: Message.entries: length 100 at offset 1 runs past the end (3 bytes left)",
    );
    // Entry{data} claims 5 bytes but its Entry is 3 bytes long (the outer message has more after it).
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x3a, 3, 0x22, 5, 0x61, 0x40, 0x01)))).toBe(
      "raftpb: Entry.data: length 5 at offset 3 runs past the end (1 bytes left)",
    );
    // A length beyond 2^53 is refused as a number first.
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x62, ...MAX_UINT64_VARINT)))).toBe(
      "raftpb: Message.context: 18446744073709551615 exceeds 2^53-1",
    );
  });

  it("a known field with another wire type fails", () => {
    // Message.to (field 2) as length-delimited.
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x12, 0x01, 0x00)))).toBe(
      "raftpb: Message.to: wrong wire type 2 at offset 1",
    );
    // Message.entries (field 7) as a varint.
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x38, 0x01)))).toMatch(
      /^raftpb: Message\.entries: wrong wire type 0/,
    );
    // Entry.data (field 4) as fixed32.
    expect(decodeFailure(() => pb.decodeEntry(bytes(0x25, 1, 2, 3, 4)))).toMatch(
      /^raftpb: Entry\.data: wrong wire type 5/,
    );
  });

  it("invalid wire types, field number 0 and stray end-of-group tags fail", () => {
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x7e, 0x00)))).toBe(
      "raftpb: Message: invalid wire type 6 (field 15) at offset 1",
    );
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x7f, 0x00)))).toMatch(/invalid wire type 7/);
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x00, 0x00)))).toBe(
      "raftpb: Message: invalid field number 0 at offset 0",
    );
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x7c)))).toMatch(
      /unexpected end of group \(field 15\)/,
    );
    // A group whose end tag names another field.
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x7b, 0x84, 0x01)))).toMatch(/mismatched end of group/);
    // A group never closed.
    expect(decodeFailure(() => pb.decodeMessage(bytes(0x7b, 0x78, 0x01)))).toMatch(/unexpected end of input/);
  });

  it("truncating any encoded message either decodes (at a field boundary) or fails with Decode", () => {
    fc.assert(
      fc.property(arbMessage, fc.nat(), (m, k) => {
        const b = pb.encodeMessage(m);
        if (b.length === 0) return;
        const cut = b.subarray(0, k % b.length);
        try {
          pb.decodeMessage(cut);
        } catch (e) {
          expect(isRaftError(e, "Decode")).toBe(true);
        }
      }),
      { seed: SEED, numRuns: runs(500) },
    );
  });

  it("cutting inside a nested message always fails", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgApp,
      entries: [pb.newEntry({ term: 1, index: 2, data: bytes(9, 9) })],
    });
    const b = pb.encodeMessage(m); // 08 03 | 3a 08 <8 bytes of entry>
    for (let k = 3; k < b.length; k++) {
      expect(decodeFailure(() => pb.decodeMessage(b.subarray(0, k)))).toMatch(/^raftpb: (Message|Entry)\./);
    }
  });

  it("random bytes decode or fail with a Decode RaftError, never another exception", () => {
    const decoders = [
      pb.decodeMessage,
      pb.decodeEntry,
      pb.decodeHardState,
      pb.decodeConfState,
      pb.decodeSnapshot,
      pb.decodeConfChangeV2,
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        for (const decode of decoders) {
          try {
            decode(b);
          } catch (e) {
            expect(e).toBeInstanceOf(RaftError);
            expect((e as RaftError).code).toBe("Decode");
          }
        }
      }),
      { seed: SEED, numRuns: runs(2000) },
    );
  });

  it("messages nested deeper than 100 levels fail instead of exhausting the stack", () => {
    const nest = (depth: number): Uint8Array => {
      let b = pb.encodeMessage(pb.newMessage({ type: pb.MessageType.MsgStorageAppendResp }));
      for (let i = 0; i < depth; i++) {
        b = pb.encodeMessage(
          pb.newMessage({ type: pb.MessageType.MsgStorageAppend, responses: [pb.decodeMessage(b)] }),
        );
      }
      return b;
    };
    expect(pb.decodeMessage(nest(100)).type).toBe(pb.MessageType.MsgStorageAppend);
    expect(decodeFailure(() => pb.decodeMessage(nest(101)))).toBe(
      "raftpb: Message.responses: messages nested more than 100 deep",
    );
  });
});

describe("lenient decoding", () => {
  const unknownFields = [
    ...[0x78, 0x2a], // field 15, varint
    ...[0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8], // field 16, fixed64
    ...[0x8d, 0x01, 1, 2, 3, 4], // field 17, fixed32
    ...[0x92, 0x01, 0x03, 0x61, 0x62, 0x63], // field 18, bytes
    ...[0x9b, 0x01, 0x08, 0x01, 0x12, 0x00, 0x9c, 0x01], // field 19, a group holding fields 1 and 2
    ...[0xa0, 0x01, ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]], // field 20, MaxUint64
  ];

  it("skips unknown fields of every wire type, anywhere", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgApp,
      to: 2,
      entries: [pb.newEntry({ term: 1, index: 1 })],
      commit: 1,
    });
    const enc = Array.from(pb.encodeMessage(m));
    const withUnknown = bytes(...unknownFields, ...enc.slice(0, 4), ...unknownFields, ...enc.slice(4));
    expect(pb.decodeMessage(withUnknown)).toEqual(m);
    const entry = [...unknownFields, 0x10, 0x01, 0x18, 0x01];
    expect(pb.decodeMessage(bytes(0x3a, entry.length, ...entry))).toEqual(
      pb.newMessage({ entries: [pb.newEntry({ term: 1, index: 1 })], type: pb.MessageType.MsgHup }),
    );
  });

  it("accepts fields in any order", () => {
    fc.assert(
      fc.property(arbConfChangeV2, (cc) => {
        // Split the canonical encoding into its top-level fields and reverse them (changes keep their
        // relative order, so the result is the same message).
        const b = pb.encodeConfChangeV2(cc);
        const fields: number[][] = [];
        for (let i = 0; i < b.length; ) {
          const start = i;
          const tag = b[i++]!;
          if ((tag & 7) === 0) {
            while (b[i++]! & 0x80);
          } else {
            let n = 0;
            for (let s = 0; ; s += 7) {
              const x = b[i++]!;
              n += (x & 0x7f) * 2 ** s;
              if (x < 0x80) break;
            }
            i += n;
          }
          fields.push(Array.from(b.subarray(start, i)));
        }
        const changes = fields.filter((f) => f[0] === 0x12);
        const others = fields.filter((f) => f[0] !== 0x12).reverse();
        expect(pb.decodeConfChangeV2(bytes(...others.flat(), ...changes.flat()))).toEqual(cc);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("decodes packed repeated ids, mixed with unpacked ones", () => {
    // voters packed [1, 2, 300], then voters 4 unpacked; learners packed [5]; learnersNext packed [].
    const b = bytes(0x0a, 0x04, 0x01, 0x02, 0xac, 0x02, 0x08, 0x04, 0x12, 0x01, 0x05, 0x22, 0x00);
    expect(pb.decodeConfState(b)).toEqual(pb.newConfState({ voters: [1, 2, 300, 4], learners: [5] }));
    expect(pb.decodeConfState(bytes(0x1a, 0x02, 0x07, 0x08))).toEqual(
      pb.newConfState({ votersOutgoing: [7, 8] }),
    );
    // A packed run cut short by its length.
    expect(decodeFailure(() => pb.decodeConfState(bytes(0x0a, 0x02, 0x01, 0x80)))).toBe(
      "raftpb: ConfState.voters: unexpected end of input at offset 3",
    );
  });

  it("keeps the last occurrence of a scalar field and merges occurrences of a message field", () => {
    expect(pb.decodeHardState(bytes(0x08, 0x01, 0x08, 0x02))).toEqual(pb.newHardState({ term: 2 }));
    // Message.snapshot twice: {data: "a", metadata: {index: 5, confState: {voters: [1]}}} then
    // {metadata: {term: 2, confState: {voters: [2]}}}.
    const s1 = [0x0a, 0x01, 0x61, 0x12, 0x06, 0x0a, 0x02, 0x08, 0x01, 0x10, 0x05];
    const s2 = [0x12, 0x06, 0x0a, 0x02, 0x08, 0x02, 0x18, 0x02];
    const m = pb.decodeMessage(bytes(0x4a, s1.length, ...s1, 0x4a, s2.length, ...s2));
    expect(m.snapshot).toEqual(
      pb.newSnapshot({
        data: bytes(0x61),
        metadata: { confState: pb.newConfState({ voters: [1, 2] }), index: 5, term: 2 },
      }),
    );
  });

  it("treats any non-zero bool varint as true", () => {
    expect(pb.decodeMessage(bytes(0x50, 0x02)).reject).toBe(true);
    expect(pb.decodeMessage(bytes(0x50, 0x80, 0x01)).reject).toBe(true);
    expect(pb.decodeMessage(bytes(0x50, 0x80, 0x00)).reject).toBe(false);
  });

  it("keeps enum values etcd does not define as numbers", () => {
    expect(pb.decodeMessage(bytes(0x08, 0x63)).type).toBe(99);
    expect(pb.decodeEntry(pb.encodeEntry(pb.newEntry({ type: 7 as pb.EntryType }))).type).toBe(7);
  });

  it("an empty snapshot field decodes as an empty Snapshot, not undefined", () => {
    const m = pb.decodeMessage(bytes(0x08, 0x03, 0x4a, 0x00));
    expect(m.snapshot).toEqual(pb.newSnapshot());
    expect(pb.decodeMessage(bytes(0x08, 0x03)).snapshot).toBeUndefined();
  });
});

describe("decoded bytes", () => {
  it("are plain Uint8Arrays that never alias the input, even a Node Buffer", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgApp,
      entries: [pb.newEntry({ term: 1, index: 1, data: bytes(1, 2, 3) })],
      context: bytes(9),
    });
    const input = Buffer.from(pb.encodeMessage(m));
    const out = pb.decodeMessage(input);
    input.fill(0);
    expect(out).toEqual(m);
    expect(out.entries[0]!.data.constructor).toBe(Uint8Array);
    expect(out.context.constructor).toBe(Uint8Array);
  });

  it("with aliasInput, are plain Uint8Array views into the input itself, even a Node Buffer", () => {
    const m = pb.newMessage({
      type: pb.MessageType.MsgApp,
      entries: [
        pb.newEntry({ term: 1, index: 1, data: bytes(1, 2, 3) }),
        pb.newEntry({ term: 1, index: 2, data: new Uint8Array(5000).fill(7) }),
      ],
      context: bytes(9),
      snapshot: pb.newSnapshot({ data: bytes(4, 5) }),
    });
    const frame = Buffer.alloc(10_000, 0xee);
    const encoded = pb.encodeMessage(m);
    frame.set(encoded, 100);
    const input = frame.subarray(100, 100 + encoded.length);
    const out = pb.decodeMessage(input, { aliasInput: true });
    expect(out).toEqual(m);
    for (const b of [out.entries[0]!.data, out.entries[1]!.data, out.context, out.snapshot!.data]) {
      expect(b.constructor).toBe(Uint8Array);
      expect(b.buffer).toBe(frame.buffer);
      expect(b.byteOffset).toBeGreaterThanOrEqual(input.byteOffset);
      expect(b.byteOffset + b.byteLength).toBeLessThanOrEqual(input.byteOffset + input.byteLength);
    }
    input.fill(0); // what the caller promises never to do: the decoded bytes change with it
    expect(out.entries[0]!.data).toEqual(new Uint8Array(3));
    // The default, and aliasInput: false, still copy.
    for (const options of [undefined, { aliasInput: false }]) {
      frame.set(encoded, 100);
      const copied = pb.decodeMessage(input, options);
      expect(copied.entries[1]!.data.buffer).not.toBe(frame.buffer);
      input.fill(0);
      expect(copied).toEqual(m);
    }
  });

  it("an empty bytes field decodes to an empty array", () => {
    expect(pb.decodeEntry(bytes(0x22, 0x00)).data.length).toBe(0);
  });
});
