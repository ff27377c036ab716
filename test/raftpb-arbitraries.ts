/**
 * fast-check arbitraries for raftpb's types, covering every field: zero and non-zero values, numbers
 * across all varint lengths up to 2^53 − 1, enum values etcd does not define, empty and non-empty
 * bytes, nested snapshots, entries and responses. Objects are built in the `new*` factories' key order.
 */
import fc from "fast-check";
import * as pb from "../packages/raft/src/raftpb/index.js";

/** A uint64 field's value: mostly small, often zero, sometimes at a varint-length boundary or 2^53 − 1. */
export const arbU64: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 300 }) },
  { weight: 2, arbitrary: fc.maxSafeNat() },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      127,
      128,
      16383,
      16384,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 35,
      2 ** 49 - 1,
      2 ** 49,
      Number.MAX_SAFE_INTEGER - 1,
      Number.MAX_SAFE_INTEGER,
    ),
  },
);

/** An enum field's value: one of the `n` defined values, or (rarely) an undefined one. */
function arbEnum(n: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: 0, max: n - 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: n, max: 2 ** 31 - 1 }) },
  );
}

export const arbBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.uint8Array({ minLength: 1, maxLength: 40 }),
  fc.uint8Array({ minLength: 100, maxLength: 300 }),
);

const arbIds: fc.Arbitrary<number[]> = fc.array(arbU64, { maxLength: 6 });

export const arbEntry: fc.Arbitrary<pb.Entry> = fc
  .tuple(arbU64, arbU64, arbEnum(3), arbBytes)
  .map(([term, index, type, data]) => ({ term, index, type, data }));

export const arbConfState: fc.Arbitrary<pb.ConfState> = fc
  .tuple(arbIds, arbIds, arbIds, arbIds, fc.boolean())
  .map(([voters, learners, votersOutgoing, learnersNext, autoLeave]) => ({
    voters,
    learners,
    votersOutgoing,
    learnersNext,
    autoLeave,
  }));

export const arbSnapshot: fc.Arbitrary<pb.Snapshot> = fc
  .tuple(arbBytes, arbConfState, arbU64, arbU64)
  .map(([data, confState, index, term]) => ({ data, metadata: { confState, index, term } }));

export const arbHardState: fc.Arbitrary<pb.HardState> = fc
  .tuple(arbU64, arbU64, arbU64)
  .map(([term, vote, commit]) => ({ term, vote, commit }));

export const arbConfChange: fc.Arbitrary<pb.ConfChange> = fc
  .tuple(arbU64, arbEnum(4), arbU64, arbBytes)
  .map(([id, type, nodeId, context]) => ({ id, type, nodeId, context }));

export const arbConfChangeSingle: fc.Arbitrary<pb.ConfChangeSingle> = fc
  .tuple(arbEnum(4), arbU64)
  .map(([type, nodeId]) => ({ type, nodeId }));

export const arbConfChangeV2: fc.Arbitrary<pb.ConfChangeV2> = fc
  .tuple(arbEnum(3), fc.array(arbConfChangeSingle, { maxLength: 5 }), arbBytes)
  .map(([transition, changes, context]) => ({ transition, changes, context }));

/** A Message whose `responses` are drawn from `arbResponse` (so nesting depth is bounded). */
function arbMessageWith(arbResponses: fc.Arbitrary<pb.Message[]>): fc.Arbitrary<pb.Message> {
  return fc
    .record({
      type: arbEnum(24),
      to: arbU64,
      from: arbU64,
      term: arbU64,
      logTerm: arbU64,
      index: arbU64,
      entries: fc.array(arbEntry, { maxLength: 5 }),
      commit: arbU64,
      vote: arbU64,
      snapshot: fc.option(arbSnapshot, { nil: undefined, freq: 3 }),
      reject: fc.boolean(),
      rejectHint: arbU64,
      context: arbBytes,
      responses: arbResponses,
    })
    .map((m) => ({
      type: m.type,
      to: m.to,
      from: m.from,
      term: m.term,
      logTerm: m.logTerm,
      index: m.index,
      entries: m.entries,
      commit: m.commit,
      vote: m.vote,
      snapshot: m.snapshot,
      reject: m.reject,
      rejectHint: m.rejectHint,
      context: m.context,
      responses: m.responses,
    }));
}

/** A message with responses nested up to two levels deep (MsgStorageAppend carries responses). */
export const arbMessage: fc.Arbitrary<pb.Message> = arbMessageWith(
  fc.array(arbMessageWith(fc.array(arbMessageWith(fc.constant([])), { maxLength: 2 })), { maxLength: 2 }),
);

/** One raftpb type's codec case: its name in raft.proto, an arbitrary, and its encode and decode. */
export type CodecCase = readonly [
  name: string,
  arb: fc.Arbitrary<unknown>,
  encode: (x: never) => Uint8Array,
  decode: (b: Uint8Array) => unknown,
];

/** Every top-level raftpb type the codec handles, for the tests that run one property over all of them. */
export const CODEC_CASES: readonly CodecCase[] = [
  ["Message", arbMessage, pb.encodeMessage, pb.decodeMessage],
  ["Entry", arbEntry, pb.encodeEntry, pb.decodeEntry],
  ["HardState", arbHardState, pb.encodeHardState, pb.decodeHardState],
  ["ConfState", arbConfState, pb.encodeConfState, pb.decodeConfState],
  ["Snapshot", arbSnapshot, pb.encodeSnapshot, pb.decodeSnapshot],
  ["ConfChange", arbConfChange, pb.encodeConfChange, pb.decodeConfChange],
  ["ConfChangeV2", arbConfChangeV2, pb.encodeConfChangeV2, pb.decodeConfChangeV2],
];
