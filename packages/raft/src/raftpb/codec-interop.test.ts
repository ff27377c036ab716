/**
 * Differential tests: the hand-written codec against protobufjs's reflection-based one, built from a
 * schema with raft.proto's field numbers and types (field names in our camelCase; names are not on
 * the wire). Two independent implementations of proto2 agreeing byte for byte, on random values of
 * every type, is the evidence that the codec is wire-compatible with etcd's.
 */
import fc from "fast-check";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { CODEC_CASES } from "../../../../test/raftpb-arbitraries.js";

const SEED = 20240603;

/** raft.proto's messages: same field numbers, types and labels. `packed` marks ConfState's ids packed. */
function schema(packed: boolean): string {
  const p = packed ? " [packed=true]" : "";
  return `
    syntax = "proto2";
    package raftpb;
    enum EntryType { EntryNormal = 0; EntryConfChange = 1; EntryConfChangeV2 = 2; }
    message Entry {
      optional uint64 term = 2; optional uint64 index = 3; optional EntryType type = 1; optional bytes data = 4;
    }
    message SnapshotMetadata {
      optional ConfState confState = 1; optional uint64 index = 2; optional uint64 term = 3;
    }
    message Snapshot { optional bytes data = 1; optional SnapshotMetadata metadata = 2; }
    enum MessageType {
      MsgHup = 0; MsgBeat = 1; MsgProp = 2; MsgApp = 3; MsgAppResp = 4; MsgVote = 5; MsgVoteResp = 6;
      MsgSnap = 7; MsgHeartbeat = 8; MsgHeartbeatResp = 9; MsgUnreachable = 10; MsgSnapStatus = 11;
      MsgCheckQuorum = 12; MsgTransferLeader = 13; MsgTimeoutNow = 14; MsgReadIndex = 15;
      MsgReadIndexResp = 16; MsgPreVote = 17; MsgPreVoteResp = 18; MsgStorageAppend = 19;
      MsgStorageAppendResp = 20; MsgStorageApply = 21; MsgStorageApplyResp = 22; MsgForgetLeader = 23;
    }
    message Message {
      optional MessageType type = 1; optional uint64 to = 2; optional uint64 from = 3;
      optional uint64 term = 4; optional uint64 logTerm = 5; optional uint64 index = 6;
      repeated Entry entries = 7; optional uint64 commit = 8; optional uint64 vote = 13;
      optional Snapshot snapshot = 9; optional bool reject = 10; optional uint64 rejectHint = 11;
      optional bytes context = 12; repeated Message responses = 14;
    }
    message HardState { optional uint64 term = 1; optional uint64 vote = 2; optional uint64 commit = 3; }
    enum ConfChangeTransition {
      ConfChangeTransitionAuto = 0; ConfChangeTransitionJointImplicit = 1; ConfChangeTransitionJointExplicit = 2;
    }
    message ConfState {
      repeated uint64 voters = 1${p}; repeated uint64 learners = 2${p};
      repeated uint64 votersOutgoing = 3${p}; repeated uint64 learnersNext = 4${p};
      optional bool autoLeave = 5;
    }
    enum ConfChangeType {
      ConfChangeAddNode = 0; ConfChangeRemoveNode = 1; ConfChangeUpdateNode = 2; ConfChangeAddLearnerNode = 3;
    }
    message ConfChange {
      optional ConfChangeType type = 2; optional uint64 nodeId = 3; optional bytes context = 4; optional uint64 id = 1;
    }
    message ConfChangeSingle { optional ConfChangeType type = 1; optional uint64 nodeId = 2; }
    message ConfChangeV2 {
      optional ConfChangeTransition transition = 1; repeated ConfChangeSingle changes = 2; optional bytes context = 3;
    }`;
}

const unpackedRoot = protobuf.parse(schema(false), { keepCase: true }).root;
const packedRoot = protobuf.parse(schema(true), { keepCase: true }).root;

/** The value without its zero scalar fields: what "present iff non-zero" means to protobufjs. */
function withoutZeros(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutZeros);
  if (v instanceof Uint8Array || typeof v !== "object" || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === 0 || x === false || x === undefined) continue;
    if (x instanceof Uint8Array && x.length === 0) continue;
    out[k] = withoutZeros(x);
  }
  return out;
}

/** A protobufjs toObject() result in our shape: plain Uint8Arrays, absent messages undefined. */
function normalize(v: unknown): unknown {
  if (v === null) return undefined;
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
  return out;
}

const TO_OBJECT = { longs: Number, enums: Number, defaults: true, arrays: true } as const;

describe.each(CODEC_CASES)("%s against protobufjs", (name, arb, encode, dec) => {
  const enc = encode as (x: unknown) => Uint8Array;
  const unpacked = unpackedRoot.lookupType(`raftpb.${name}`);
  const packed = packedRoot.lookupType(`raftpb.${name}`);

  it("encodes exactly the bytes protobufjs writes for the non-zero fields", () => {
    fc.assert(
      fc.property(arb, (x) => {
        const theirs = unpacked.encode(unpacked.fromObject(withoutZeros(x) as object)).finish();
        expect(Array.from(enc(x))).toEqual(Array.from(theirs));
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("encodes what protobufjs decodes back to the same value", () => {
    fc.assert(
      fc.property(arb, (x) => {
        const theirs = unpacked.toObject(unpacked.decode(enc(x)), TO_OBJECT);
        expect(normalize(theirs)).toEqual(x);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("decodes protobufjs's encoding with every field present, zeros written, ids packed or not", () => {
    fc.assert(
      fc.property(arb, fc.boolean(), (x, usePacked) => {
        const t = usePacked ? packed : unpacked;
        const theirs = t.encode(t.fromObject(x as object)).finish();
        expect(dec(theirs)).toEqual(x);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });
});
