/**
 * The protobuf codec of raftpb's types, wire-compatible with etcd's `raft.proto` (proto2, same field
 * numbers and enum values): a message encoded here decodes in etcd's Go code (gogoproto-era or
 * protoc-gen-go-era) and the other way round.
 *
 * Encoding rules (what the bytes look like):
 * - Fields are written in field-number order (so Message's `vote`, field 13, follows `context`, 12).
 * - A scalar field (number, enum, bool, bytes) is written only when it is non-zero / non-empty: the
 *   bytes proto2 gives for "field present iff set", with zero meaning unset. Go decodes an omitted
 *   field as zero (its getters), so every value round-trips. (protoc-gen-go also writes a pointer set to
 *   zero; a plain object cannot tell "set to zero" from "unset", and writes neither.)
 * - Message fields every object has (Snapshot.metadata, SnapshotMetadata.confState) are always
 *   written, even when empty; Message.snapshot is written iff it is not undefined; every element of a
 *   repeated message field (entries, responses, changes) is written, even an empty one.
 * - Repeated uint64 fields (ConfState's voters, learners, votersOutgoing, learnersNext) are unpacked,
 *   one tag per element (zeros included), as proto2 requires of fields not marked `[packed=true]`.
 * - Numbers must be non-negative safe integers; anything else throws a RangeError (a programming error).
 * `entrySize` (size.ts) gives the length of an encoded Entry without encoding it.
 * Encoded bytes may be views into a shared slab (as small Node Buffers are): never transfer or
 * reinterpret their `.buffer`.
 *
 * Decoding accepts any valid proto2 encoding of the message: fields in any order, unknown fields
 * skipped (groups included), repeated uint64 fields packed or unpacked, the last occurrence of a
 * singular scalar winning and occurrences of a singular message field merged. Enum values are kept as
 * numbers, known or not. Decoded objects have every field (zero defaults), in the shape the `new*`
 * factories build. Their bytes fields never alias the input: they are views into one private copy of
 * it made on the first bytes field (one allocation per message rather than one per entry), so keeping
 * any of them keeps that copy alive. A uint64 above 2^53 − 1, truncated input, a wire type other than
 * the field's, a length past the end or nesting deeper than 100 throws a RaftError with code "Decode"
 * whose message names the message type and field (e.g. `raftpb: Message.term: 18446744073709551615
 * exceeds 2^53-1`). Callers taking bytes off the network must catch it.
 */

export {
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
