/**
 * @tsraft/raft/raftpb: etcd's raft.proto types as plain objects (types.ts: the types, enums, `new*`
 * factories), their protobuf codec wire-compatible with etcd's (encode.ts: `encodeX`, with the rules
 * the bytes follow; decode.ts: `decodeX`), and the helpers etcd users rely on around them
 * (confchange.ts, util.ts, and size.ts for the encoded sizes etcd's `proto.Size`-based limits count).
 */

export {
  asV1,
  asV2,
  type ConfChangeI,
  confChangesFromString,
  confChangesToString,
  enterJoint,
  isConfChangeV2,
  leaveJoint,
  simpleConfChangeV2,
} from "./confchange.js";
export {
  type DecodeOptions,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
} from "./decode.js";
export {
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
} from "./encode.js";
export { entriesSize, entrySize, getVarint, putVarint, varintSize } from "./size.js";
export {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newEntry,
  newHardState,
  newMessage,
  newSnapshot,
  type Snapshot,
  type SnapshotMetadata,
  zeroMessage,
} from "./types.js";
export {
  confChangeTransitionName,
  confChangeTypeName,
  confStateEquivalent,
  entryTypeName,
  isEmptyHardState,
  isEmptySnap,
  isHardStateEqual,
  marshalConfChange,
  messageTypeName,
} from "./util.js";
