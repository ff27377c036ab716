/**
 * The encoding half of raftpb's protobuf codec (decode.ts is the other), wire-compatible with etcd's
 * `raft.proto` (proto2, same field numbers and enum values): a message encoded here decodes in etcd's
 * Go code (gogoproto-era or protoc-gen-go-era) and the other way round.
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
 * Two passes, fields written by hand: the first computes the exact size (and checks every number),
 * the second writes into one buffer of that size from protobufjs's pooled allocator. That is about
 * three times faster than pushing each field through protobufjs's Writer, whose per-field operation
 * objects and fork/ldelim bookkeeping dominate for raft's small messages, and yields the same bytes.
 */
import { entrySize, putVarint, varintSize } from "./size.js";
import type * as pb from "./types.js";
import { alloc, badNumber } from "./wire.js";

// ---------------------------------------------------------------------------------------------------
// Sizes (first pass). Each also checks the numbers it meets, so the second pass can trust them.

/** The varint size of `v`, which must be a non-negative safe integer. */
function uintSize(v: number, what: string): number {
  if (v >>> 0 === v) return varintSize(v);
  if (v > 0 && Number.isSafeInteger(v)) return varintSize(v);
  throw badNumber(what, v);
}

/** {@link entrySize} with the numbers checked. */
function checkedEntrySize(e: pb.Entry): number {
  let n = 0;
  if (e.type !== 0) n += 1 + uintSize(e.type, "Entry.type");
  if (e.term !== 0) n += 1 + uintSize(e.term, "Entry.term");
  if (e.index !== 0) n += 1 + uintSize(e.index, "Entry.index");
  const d = e.data.length;
  if (d !== 0) n += 1 + varintSize(d) + d;
  return n;
}

function repeatedSize(vs: readonly number[], what: string): number {
  let n = vs.length; // one tag byte each
  for (let i = 0; i < vs.length; i++) n += uintSize(vs[i]!, what);
  return n;
}

function confStateSize(cs: pb.ConfState): number {
  return (
    repeatedSize(cs.voters, "ConfState.voters") +
    repeatedSize(cs.learners, "ConfState.learners") +
    repeatedSize(cs.votersOutgoing, "ConfState.votersOutgoing") +
    repeatedSize(cs.learnersNext, "ConfState.learnersNext") +
    (cs.autoLeave ? 2 : 0)
  );
}

function snapshotMetadataSize(md: pb.SnapshotMetadata): number {
  const cs = confStateSize(md.confState);
  let n = 1 + varintSize(cs) + cs;
  if (md.index !== 0) n += 1 + uintSize(md.index, "SnapshotMetadata.index");
  if (md.term !== 0) n += 1 + uintSize(md.term, "SnapshotMetadata.term");
  return n;
}

function snapshotSize(s: pb.Snapshot): number {
  const d = s.data.length;
  const md = snapshotMetadataSize(s.metadata);
  return (d !== 0 ? 1 + varintSize(d) + d : 0) + 1 + varintSize(md) + md;
}

function messageSize(m: pb.Message): number {
  let n = 0;
  if (m.type !== 0) n += 1 + uintSize(m.type, "Message.type");
  if (m.to !== 0) n += 1 + uintSize(m.to, "Message.to");
  if (m.from !== 0) n += 1 + uintSize(m.from, "Message.from");
  if (m.term !== 0) n += 1 + uintSize(m.term, "Message.term");
  if (m.logTerm !== 0) n += 1 + uintSize(m.logTerm, "Message.logTerm");
  if (m.index !== 0) n += 1 + uintSize(m.index, "Message.index");
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const s = checkedEntrySize(ents[i]!);
    n += 1 + varintSize(s) + s;
  }
  if (m.commit !== 0) n += 1 + uintSize(m.commit, "Message.commit");
  if (m.snapshot !== undefined) {
    const s = snapshotSize(m.snapshot);
    n += 1 + varintSize(s) + s;
  }
  if (m.reject) n += 2;
  if (m.rejectHint !== 0) n += 1 + uintSize(m.rejectHint, "Message.rejectHint");
  const c = m.context.length;
  if (c !== 0) n += 1 + varintSize(c) + c;
  if (m.vote !== 0) n += 1 + uintSize(m.vote, "Message.vote");
  const resps = m.responses;
  for (let i = 0; i < resps.length; i++) {
    const s = messageSize(resps[i]!);
    n += 1 + varintSize(s) + s;
  }
  return n;
}

function hardStateSize(hs: pb.HardState): number {
  let n = 0;
  if (hs.term !== 0) n += 1 + uintSize(hs.term, "HardState.term");
  if (hs.vote !== 0) n += 1 + uintSize(hs.vote, "HardState.vote");
  if (hs.commit !== 0) n += 1 + uintSize(hs.commit, "HardState.commit");
  return n;
}

function confChangeSize(cc: pb.ConfChange): number {
  let n = 0;
  if (cc.id !== 0) n += 1 + uintSize(cc.id, "ConfChange.id");
  if (cc.type !== 0) n += 1 + uintSize(cc.type, "ConfChange.type");
  if (cc.nodeId !== 0) n += 1 + uintSize(cc.nodeId, "ConfChange.nodeId");
  const c = cc.context.length;
  if (c !== 0) n += 1 + varintSize(c) + c;
  return n;
}

function confChangeSingleSize(ch: pb.ConfChangeSingle): number {
  let n = 0;
  if (ch.type !== 0) n += 1 + uintSize(ch.type, "ConfChangeSingle.type");
  if (ch.nodeId !== 0) n += 1 + uintSize(ch.nodeId, "ConfChangeSingle.nodeId");
  return n;
}

function confChangeV2Size(cc: pb.ConfChangeV2): number {
  let n = 0;
  if (cc.transition !== 0) n += 1 + uintSize(cc.transition, "ConfChangeV2.transition");
  const chs = cc.changes;
  for (let i = 0; i < chs.length; i++) {
    const s = confChangeSingleSize(chs[i]!);
    n += 1 + varintSize(s) + s;
  }
  const c = cc.context.length;
  if (c !== 0) n += 1 + varintSize(c) + c;
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Writing (second pass). Each put* writes at `pos` and returns the position after what it wrote; the
// buffer was sized by the first pass, and the numbers were checked there.

/** Writes a one-byte tag and a varint. */
function putField(buf: Uint8Array, pos: number, tag: number, v: number): number {
  buf[pos] = tag;
  return putVarint(buf, pos + 1, v);
}

/** Writes a one-byte tag, a length and the bytes. */
function putBytes(buf: Uint8Array, pos: number, tag: number, b: Uint8Array): number {
  buf[pos] = tag;
  pos = putVarint(buf, pos + 1, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

function putEntry(buf: Uint8Array, pos: number, e: pb.Entry): number {
  if (e.type !== 0) pos = putField(buf, pos, 0x08, e.type);
  if (e.term !== 0) pos = putField(buf, pos, 0x10, e.term);
  if (e.index !== 0) pos = putField(buf, pos, 0x18, e.index);
  if (e.data.length !== 0) pos = putBytes(buf, pos, 0x22, e.data);
  return pos;
}

function putRepeated(buf: Uint8Array, pos: number, tag: number, vs: readonly number[]): number {
  for (let i = 0; i < vs.length; i++) pos = putField(buf, pos, tag, vs[i]!);
  return pos;
}

function putConfState(buf: Uint8Array, pos: number, cs: pb.ConfState): number {
  pos = putRepeated(buf, pos, 0x08, cs.voters);
  pos = putRepeated(buf, pos, 0x10, cs.learners);
  pos = putRepeated(buf, pos, 0x18, cs.votersOutgoing);
  pos = putRepeated(buf, pos, 0x20, cs.learnersNext);
  if (cs.autoLeave) pos = putField(buf, pos, 0x28, 1);
  return pos;
}

function putSnapshotMetadata(buf: Uint8Array, pos: number, md: pb.SnapshotMetadata): number {
  pos = putField(buf, pos, 0x0a, confStateSize(md.confState));
  pos = putConfState(buf, pos, md.confState);
  if (md.index !== 0) pos = putField(buf, pos, 0x10, md.index);
  if (md.term !== 0) pos = putField(buf, pos, 0x18, md.term);
  return pos;
}

function putSnapshot(buf: Uint8Array, pos: number, s: pb.Snapshot): number {
  if (s.data.length !== 0) pos = putBytes(buf, pos, 0x0a, s.data);
  pos = putField(buf, pos, 0x12, snapshotMetadataSize(s.metadata));
  return putSnapshotMetadata(buf, pos, s.metadata);
}

function putMessage(buf: Uint8Array, pos: number, m: pb.Message): number {
  if (m.type !== 0) pos = putField(buf, pos, 0x08, m.type);
  if (m.to !== 0) pos = putField(buf, pos, 0x10, m.to);
  if (m.from !== 0) pos = putField(buf, pos, 0x18, m.from);
  if (m.term !== 0) pos = putField(buf, pos, 0x20, m.term);
  if (m.logTerm !== 0) pos = putField(buf, pos, 0x28, m.logTerm);
  if (m.index !== 0) pos = putField(buf, pos, 0x30, m.index);
  const ents = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    pos = putField(buf, pos, 0x3a, entrySize(e));
    pos = putEntry(buf, pos, e);
  }
  if (m.commit !== 0) pos = putField(buf, pos, 0x40, m.commit);
  if (m.snapshot !== undefined) {
    pos = putField(buf, pos, 0x4a, snapshotSize(m.snapshot));
    pos = putSnapshot(buf, pos, m.snapshot);
  }
  if (m.reject) pos = putField(buf, pos, 0x50, 1);
  if (m.rejectHint !== 0) pos = putField(buf, pos, 0x58, m.rejectHint);
  if (m.context.length !== 0) pos = putBytes(buf, pos, 0x62, m.context);
  if (m.vote !== 0) pos = putField(buf, pos, 0x68, m.vote);
  const resps = m.responses;
  for (let i = 0; i < resps.length; i++) {
    const r = resps[i]!;
    pos = putField(buf, pos, 0x72, messageSize(r));
    pos = putMessage(buf, pos, r);
  }
  return pos;
}

function putHardState(buf: Uint8Array, pos: number, hs: pb.HardState): number {
  if (hs.term !== 0) pos = putField(buf, pos, 0x08, hs.term);
  if (hs.vote !== 0) pos = putField(buf, pos, 0x10, hs.vote);
  if (hs.commit !== 0) pos = putField(buf, pos, 0x18, hs.commit);
  return pos;
}

function putConfChange(buf: Uint8Array, pos: number, cc: pb.ConfChange): number {
  if (cc.id !== 0) pos = putField(buf, pos, 0x08, cc.id);
  if (cc.type !== 0) pos = putField(buf, pos, 0x10, cc.type);
  if (cc.nodeId !== 0) pos = putField(buf, pos, 0x18, cc.nodeId);
  if (cc.context.length !== 0) pos = putBytes(buf, pos, 0x22, cc.context);
  return pos;
}

function putConfChangeV2(buf: Uint8Array, pos: number, cc: pb.ConfChangeV2): number {
  if (cc.transition !== 0) pos = putField(buf, pos, 0x08, cc.transition);
  const chs = cc.changes;
  for (let i = 0; i < chs.length; i++) {
    const ch = chs[i]!;
    pos = putField(buf, pos, 0x12, confChangeSingleSize(ch));
    if (ch.type !== 0) pos = putField(buf, pos, 0x08, ch.type);
    if (ch.nodeId !== 0) pos = putField(buf, pos, 0x10, ch.nodeId);
  }
  if (cc.context.length !== 0) pos = putBytes(buf, pos, 0x1a, cc.context);
  return pos;
}

/** Checks that a put* wrote exactly the size the first pass computed (a bug if not). */
function checkEnd(end: number, size: number): void {
  if (end !== size) throw new Error(`raftpb: internal error: encoded ${end} bytes, sized ${size}`);
}

/** Encodes a Message (raft.proto's `Message`) as protobuf bytes, by the rules above. */
export function encodeMessage(m: pb.Message): Uint8Array {
  const size = messageSize(m);
  const buf = alloc(size);
  checkEnd(putMessage(buf, 0, m), size);
  return buf;
}

/** Encodes an Entry; the result is {@link entrySize}(e) bytes long. */
export function encodeEntry(e: pb.Entry): Uint8Array {
  const size = checkedEntrySize(e);
  const buf = alloc(size);
  checkEnd(putEntry(buf, 0, e), size);
  return buf;
}

/** Encodes a HardState (what a WAL persists before messages go out). */
export function encodeHardState(hs: pb.HardState): Uint8Array {
  const size = hardStateSize(hs);
  const buf = alloc(size);
  checkEnd(putHardState(buf, 0, hs), size);
  return buf;
}

/** Encodes a ConfState. */
export function encodeConfState(cs: pb.ConfState): Uint8Array {
  const size = confStateSize(cs);
  const buf = alloc(size);
  checkEnd(putConfState(buf, 0, cs), size);
  return buf;
}

/** Encodes a Snapshot (its data and metadata). */
export function encodeSnapshot(s: pb.Snapshot): Uint8Array {
  const size = snapshotSize(s);
  const buf = alloc(size);
  checkEnd(putSnapshot(buf, 0, s), size);
  return buf;
}

/** Encodes a ConfChange: the `data` of an EntryConfChange entry. */
export function encodeConfChange(cc: pb.ConfChange): Uint8Array {
  const size = confChangeSize(cc);
  const buf = alloc(size);
  checkEnd(putConfChange(buf, 0, cc), size);
  return buf;
}

/** Encodes a ConfChangeV2: the `data` of an EntryConfChangeV2 entry. */
export function encodeConfChangeV2(cc: pb.ConfChangeV2): Uint8Array {
  const size = confChangeV2Size(cc);
  const buf = alloc(size);
  checkEnd(putConfChangeV2(buf, 0, cc), size);
  return buf;
}
