import type { Entry } from "./types.js";

/** Bytes a varint encoding of `v` takes (v a non-negative safe integer). */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  return 8; // 2^49 ≤ v < 2^53 (safe integers never need the 9th and 10th bytes)
}

/**
 * The protobuf encoding size of an entry, as the codec writes it (zero fields omitted), computed
 * without encoding: `entrySize(e) === encodeEntry(e).length`. This is the size etcd's `maxSizePerMsg`
 * and `maxCommittedSizePerReady` limits count (`proto.Size`).
 *
 * One difference from Go: protoc-gen-go also counts a field whose pointer is set to zero. The core
 * builds entries with `Term` and `Index` set (never zero in a log) and `Type` unset, so the sizes
 * agree, except for the placeholder etcd substitutes for a refused conf change
 * (`&pb.Entry{Type: pb.EntryNormal.Enum()}`), which Go counts 2 bytes larger.
 */
export function entrySize(e: Entry): number {
  let n = 0;
  if (e.type !== 0) n += 1 + varintSize(e.type);
  if (e.term !== 0) n += 1 + varintSize(e.term);
  if (e.index !== 0) n += 1 + varintSize(e.index);
  const d = e.data.length;
  if (d !== 0) n += 1 + varintSize(d) + d;
  return n;
}

/** The sum of {@link entrySize} over `ents`. */
export function entriesSize(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySize(e);
  return n;
}
