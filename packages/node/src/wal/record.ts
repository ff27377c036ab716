/**
 * The WAL's record framing (the byte layout is documented in packages/node/README.md, "WAL format").
 *
 * A segment is a sequence of frames, each starting at a multiple of 8:
 *
 * ```
 * offset   size  field
 * 0        4     length   u32 LE: L = byte length of the body (type byte + payload), 1 ≤ L ≤ 2^30
 * 4        4     check    u32 LE: ~L (bitwise complement): a header is self-checking
 * 8        4     crc      u32 LE: CRC-32C of the body, continuing the previous frame's crc (a chain)
 * 12       L     body     u8 record type, then the payload (protobuf, or raw bytes for metadata)
 * 12+L     k     trailer  k ∈ 1..8 bytes of 0xFF, so the frame size 12 + L + k is a multiple of 8
 * ```
 *
 * Why this shape: the header cannot be damaged unnoticed (a flipped bit breaks `check`), and a frame
 * always ends in non-zero bytes (the trailer survives any single bit flip non-zero). So a complete
 * frame never looks like one whose end was never written, which is what lets the reader tell a torn
 * tail (repair) from a damaged acknowledged record (refuse); see decoder.ts.
 */
import {
  type ConfState,
  decodeConfState,
  type Entry,
  encodeConfState,
  putVarint,
  varintSize,
} from "@tsraft/raft/raftpb";
import { crc32c } from "../crc32c.js";
import { encodeFields, type Field, FieldReader } from "../protobuf-fields.js";

/**
 * Record types, with etcd's walpb numbers (a plain object, as the transport's wire constants; the
 * type of the same name is the union of the values).
 */
export const RecordType = {
  /** Opaque bytes given at `WAL.create` (e.g. node and cluster id); the second frame of every segment. */
  Metadata: 1,
  /** A raftpb Entry. */
  Entry: 2,
  /** A raftpb HardState. */
  HardState: 3,
  /** u32 LE: the crc chain value at the end of the previous segment; the first frame of every segment. */
  CrcSeed: 4,
  /** A snapshot marker: {@link SnapshotMarker} as walpb.Snapshot (index = 1, term = 2, conf_state = 3). */
  Snapshot: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** The name of record type `type` ("Entry"), or `type N` for an unknown one. */
export function recordTypeName(type: number): string {
  for (const [name, value] of Object.entries(RecordType)) if (value === type) return name;
  return `type ${type}`;
}

/** Bytes before the body: length, check, crc. */
export const FRAME_HEADER_SIZE = 12;
/** The largest body a frame may carry (1 GiB): bigger lengths are refused as corrupt. */
export const MAX_BODY_SIZE = 2 ** 30;
/** The trailer byte. */
export const TRAILER_BYTE = 0xff;

/** The size of a frame whose body is `bodyLen` bytes: header + body + 1..8 trailer bytes, 8-aligned. */
export function frameSize(bodyLen: number): number {
  return ((FRAME_HEADER_SIZE + bodyLen) & ~7) + 8;
}

/**
 * What `WAL.saveSnapshot` records: that a snapshot at (index, term) with this configuration was taken,
 * so a restart can tell which snapshot files the WAL knows and replay only the entries after it.
 */
export interface SnapshotMarker {
  index: number;
  term: number;
  confState: ConfState;
}

function checkUint(v: number, what: string): number {
  if (Number.isSafeInteger(v) && v >= 0) return v;
  throw new RangeError(`wal: ${what} must be a non-negative safe integer, got ${v}`);
}

function putU32(buf: Uint8Array, pos: number, v: number): void {
  buf[pos] = v & 0xff;
  buf[pos + 1] = (v >>> 8) & 0xff;
  buf[pos + 2] = (v >>> 16) & 0xff;
  buf[pos + 3] = v >>> 24;
}

/** Reads a u32 LE. */
export function getU32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

/**
 * The protobuf size of an entry as raftpb's codec encodes it (zero fields omitted, fields in number
 * order), checking its numbers. Equal to raftpb's `entrySize`; encoder.test.ts holds the two together.
 */
function entryPayloadSize(e: Entry): number {
  let n = 0;
  if (e.type !== 0) n += 1 + varintSize(checkUint(e.type, "Entry.type"));
  if (e.term !== 0) n += 1 + varintSize(checkUint(e.term, "Entry.term"));
  if (e.index !== 0) n += 1 + varintSize(checkUint(e.index, "Entry.index"));
  const d = e.data.length;
  if (d !== 0) n += 1 + varintSize(d) + d;
  return n;
}

/**
 * Encodes a batch of frames into one reusable buffer, continuing a crc chain, so that a Ready's
 * records reach the disk in a single write. Entries are encoded straight into the buffer (no
 * intermediate allocation per entry); the rare records (HardState, markers, metadata) go through
 * raftpb's codec.
 *
 * Usage: `begin(crc)`, add frames, write `bytes()`, then `crc` is the chain value to continue from.
 */
export class FrameEncoder {
  private buf = new Uint8Array(64 * 1024);
  /** Bytes encoded since `begin`. */
  length = 0;
  /** Frames encoded since `begin`. */
  frames = 0;
  /** The crc chain value after the last frame encoded. */
  crc = 0;

  /** Starts a new batch continuing the chain from `crc`. */
  begin(crc: number): void {
    this.length = 0;
    this.frames = 0;
    this.crc = crc;
  }

  /** The encoded batch (a view into the reused buffer: valid until the next `begin`). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** Makes room for `n` more bytes (one grow for a whole batch when the caller sums its frames). */
  reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const grown = new Uint8Array(cap);
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
  }

  /** The frame size of `e` (checking its numbers); pass the sum to {@link reserve}. */
  static entryFrameSize(e: Entry): number {
    return frameSize(1 + entryPayloadSize(e));
  }

  /** Appends an entry frame. */
  entry(e: Entry): void {
    const payload = entryPayloadSize(e);
    const start = this.open(1 + payload);
    const buf = this.buf;
    let p = start + FRAME_HEADER_SIZE + 1;
    if (e.type !== 0) {
      buf[p++] = 0x08;
      p = putVarint(buf, p, e.type);
    }
    if (e.term !== 0) {
      buf[p++] = 0x10;
      p = putVarint(buf, p, e.term);
    }
    if (e.index !== 0) {
      buf[p++] = 0x18;
      p = putVarint(buf, p, e.index);
    }
    const d = e.data.length;
    if (d !== 0) {
      buf[p++] = 0x22;
      p = putVarint(buf, p, d);
      buf.set(e.data, p);
    }
    this.close(start, RecordType.Entry, 1 + payload);
  }

  /** Appends a frame of `type` with `payload` as its body's payload. */
  record(type: RecordType, payload: Uint8Array): void {
    const start = this.open(1 + payload.length);
    this.buf.set(payload, start + FRAME_HEADER_SIZE + 1);
    this.close(start, type, 1 + payload.length);
  }

  /** Appends the crc-seed frame that starts a segment: its payload is the chain value `seed`. */
  crcSeed(seed: number): void {
    const payload = new Uint8Array(4);
    putU32(payload, 0, seed);
    this.crc = seed;
    this.record(RecordType.CrcSeed, payload);
  }

  private open(bodyLen: number): number {
    if (bodyLen > MAX_BODY_SIZE) throw new RangeError(`wal: record of ${bodyLen} bytes exceeds 1 GiB`);
    this.reserve(frameSize(bodyLen));
    return this.length;
  }

  private close(start: number, type: RecordType, bodyLen: number): void {
    const buf = this.buf;
    const body = start + FRAME_HEADER_SIZE;
    buf[body] = type;
    const crc = crc32c(this.crc, buf, body, body + bodyLen);
    putU32(buf, start, bodyLen);
    putU32(buf, start + 4, ~bodyLen >>> 0);
    putU32(buf, start + 8, crc);
    const end = start + frameSize(bodyLen);
    buf.fill(TRAILER_BYTE, body + bodyLen, end);
    this.crc = crc;
    this.length = end;
    this.frames++;
  }
}

/** Encodes a marker as etcd's walpb.Snapshot: index = 1, term = 2 (varints, omitted when 0), conf_state = 3. */
export function encodeSnapshotMarker(m: SnapshotMarker): Uint8Array {
  const cs = encodeConfState(m.confState);
  const index = checkUint(m.index, "SnapshotMarker.index");
  const term = checkUint(m.term, "SnapshotMarker.term");
  const fields: Field[] = [];
  if (index !== 0) fields.push([0x08, index]);
  if (term !== 0) fields.push([0x10, term]);
  fields.push([0x1a, cs]);
  return encodeFields(fields);
}

/** Decodes {@link encodeSnapshotMarker}'s bytes; throws an Error on anything else. */
export function decodeSnapshotMarker(b: Uint8Array): SnapshotMarker {
  const r = new FieldReader(b);
  let index = 0;
  let term = 0;
  let confState: ConfState | undefined;
  while (r.more()) {
    const tag = r.varint();
    if (tag === 0x08) index = r.varint();
    else if (tag === 0x10) term = r.varint();
    else if (tag === 0x1a) confState = decodeConfState(r.bytes("conf_state past the end"));
    else throw new Error(`unexpected field tag ${tag}`);
  }
  return { index, term, confState: confState ?? decodeConfState(new Uint8Array(0)) };
}
