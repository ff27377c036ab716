import type { Entry } from "./types.js";

/**
 * Bytes a varint (protobuf's base-128, least significant group first) of `v` takes; `v` a
 * non-negative safe integer. With {@link putVarint}, what every binary format of tsraft built on
 * varints uses (the codec, the WAL's records, the transport's frames, the KV's commands).
 */
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
 * Writes `v` (a non-negative safe integer, unchecked: the caller checked it when it sized the
 * buffer) as a varint at `pos`; returns the position after it ({@link varintSize} bytes on).
 */
export function putVarint(buf: Uint8Array, pos: number, v: number): number {
  // Above 2^31 the shift operators would wrap; `v & 0x7f` is still right (ToInt32 keeps the low bits).
  while (v > 0x7fffffff) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/**
 * The varint at `pos` of `b` ({@link putVarint}'s inverse) and the position after it. Throws a
 * RangeError if `b` ends inside it or its value is not a safe integer. For the small binary
 * records beside the codec (the WAL's snapshot markers, snapshot files); the codec has its own reader.
 */
export function getVarint(b: Uint8Array, pos: number): { value: number; end: number } {
  let v = 0;
  let mul = 1;
  for (let p = pos; ; ) {
    if (p >= b.length) throw new RangeError("truncated varint");
    const c = b[p++]!;
    v += (c & 0x7f) * mul;
    if (c < 0x80) {
      if (!Number.isSafeInteger(v)) throw new RangeError(`varint ${v} exceeds 2^53-1`);
      return { value: v, end: p };
    }
    mul *= 128;
    if (mul > 2 ** 56) throw new RangeError("varint too long");
  }
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
