/**
 * TEMPORARY: the raftpb helpers the core needs (codec of conf changes, emptiness checks, ConfState
 * equivalence) until branch `raftpb` lands; replaced by imports of the real modules after merging.
 */
import { type ConfChangeI, isConfChangeV2 } from "./raftpb/confchange.js";
import { varintSize } from "./raftpb/size.js";
import {
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  EMPTY_BYTES,
  EntryType,
  type HardState,
  type Snapshot,
} from "./raftpb/types.js";

export { decodeConfChange, decodeConfChangeV2 } from "./pending-raftpb-codec.js";

class Writer {
  out: number[] = [];
  varint(v: number): void {
    while (v >= 0x80) {
      this.out.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    this.out.push(v);
  }
  tagVarint(field: number, v: number): void {
    this.varint(field * 8);
    this.varint(v);
  }
  tagBytes(field: number, b: Uint8Array): void {
    this.varint(field * 8 + 2);
    this.varint(b.length);
    for (const x of b) this.out.push(x);
  }
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const w = new Writer();
  if (cc.id !== 0) w.tagVarint(1, cc.id);
  w.tagVarint(2, cc.type);
  w.tagVarint(3, cc.nodeId);
  if (cc.context.length > 0) w.tagBytes(4, cc.context);
  return Uint8Array.from(w.out);
}

export function encodeConfChangeV2(cc: ConfChangeV2): Uint8Array {
  const w = new Writer();
  if (cc.transition !== 0) w.tagVarint(1, cc.transition);
  for (const c of cc.changes) {
    const inner = new Writer();
    inner.tagVarint(1, c.type);
    inner.tagVarint(2, c.nodeId);
    w.tagBytes(2, Uint8Array.from(inner.out));
  }
  if (cc.context.length > 0) w.tagBytes(3, cc.context);
  void varintSize;
  return Uint8Array.from(w.out);
}

export function marshalConfChange(cc: ConfChangeI | undefined): { type: EntryType; data: Uint8Array } {
  if (cc === undefined) return { type: EntryType.EntryConfChangeV2, data: EMPTY_BYTES };
  if (isConfChangeV2(cc)) return { type: EntryType.EntryConfChangeV2, data: encodeConfChangeV2(cc) };
  return { type: EntryType.EntryConfChange, data: encodeConfChange(cc) };
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0 && hs.commit === 0;
}

export function isEmptySnap(s: Snapshot): boolean {
  return s.metadata.index === 0;
}

export function confStateEquivalent(a: ConfState, b: ConfState): string | undefined {
  const norm = (c: ConfState) =>
    JSON.stringify([
      [...c.voters].sort((x, y) => x - y),
      [...c.learners].sort((x, y) => x - y),
      [...c.votersOutgoing].sort((x, y) => x - y),
      [...c.learnersNext].sort((x, y) => x - y),
      c.autoLeave,
    ]);
  return norm(a) === norm(b) ? undefined : `ConfStates not equivalent after sorting:\n${norm(a)}\n${norm(b)}`;
}
