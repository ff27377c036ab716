/**
 * The tsraft-kv image: the whole store at one applied index as a byte stream, written and read a
 * chunk at a time. It is what a leader streams to a follower that needs a snapshot
 * ({@link SqliteStateMachine.snapshot}, {@link SqliteStateMachine.restore}) and what a backup
 * holds. It carries the store's rows (keys with their revisions, the history rows holding the
 * values, idempotency records), not SQLite's file: it does not depend on the SQLite version, page
 * size or free pages, and it can be checked without SQLite.
 * The encoder is in image.ts, the decoder in image-decoder.ts.
 *
 * Format version 3 (written since each value is stored once, schema 3 of sqlite-database.ts): the
 * database's rows as they are, each value once; every integer is big-endian, unsigned but for the
 * row ids (i64, two's complement):
 *
 * ```
 * header    as version 2's, with version 3
 * records   kind 5: a key    kind u8 = 5, keyLength u32, createRevision u64, modRevision u64,
 *                            version u64, valueRow i64, key
 *                            (one per key, in strictly increasing bytewise key order; `valueRow`
 *                            is the id of the row holding its value)
 *           kind 6: a row    kind u8 = 6, id i64, flags u8 (bit 0: a put, with a value; bit 1: it
 *                            has a previous row), createRevision u64, version u64, prevModRevision
 *                            u64, prevRow i64 (0 without bit 1), keyLength u32, valueLength u32,
 *                            key, value
 *                            (after every key, in strictly increasing id order; a row with
 *                            id >= (compactRevision + 1) * 1024 is the change at revision
 *                            floor(id / 1024), sub id % 1024, at most the header's revision; a row
 *                            below that is a put holding a key's value or the previous value of
 *                            a change: mvcc-store.ts)
 *           kind 4           as in version 2, after every row
 * trailer   as version 2's
 * ```
 *
 * A version-3 image holds each value once, as the database does: a key's value is in its row, a
 * change's previous value is its previous row's. The reader checks what it can check record by
 * record (orders, ranges, flags); that every key's row and every change's previous row is present
 * (with the same key) is checked by the restore once the rows are in the database
 * (sqlite-restore.ts).
 *
 * Format version 2 (written from per-key revisions and the history, issue 16, until version 3);
 * every integer is unsigned big-endian:
 *
 * ```
 * header    magic            8 bytes   "TSRAFTKV"
 *           version          u16       2
 *           flags            u16       0 (reserved; a reader refuses any other value)
 *           appliedIndex     u64       the state is the result of the log entries 1..appliedIndex
 *           revision         u64       the store's revision (kv-store.ts)
 *           compactRevision  u64       history at or below it is gone (version 2 only)
 * records   kind 2: a key    kind u8 = 2, keyLength u32, valueLength u32, createRevision u64,
 *                            modRevision u64, version u64, key, value
 *                            (one per key, in strictly increasing bytewise key order)
 *           kind 3: a change kind u8 = 3, revision u64, sub u16, flags u8 (bit 0: a put, with a
 *                            value; bit 1: a previous value follows), createRevision u64,
 *                            version u64, prevModRevision u64, keyLength u32, valueLength u32,
 *                            prevValueLength u32, key, value, prevValue
 *                            (after every key, in strictly increasing (revision, sub) order, each
 *                            with compactRevision < revision <= revision of the header)
 *           kind 4: an       kind u8 = 4, keyLength u32, valueLength u32, key, value: an idempotency
 *           idempotency      record (idempotency.ts) under its Idempotency-Key `key`; its value is
 *           record           the u64 index of the entry that recorded it, the 16-byte request digest
 *                            and the encoded result (sqlite-idempotency.ts)
 *                            (after every change, in strictly increasing bytewise key order)
 * trailer   kind             u8        0xff
 *           records          u64       the number of records (every kind)
 *           checksum         32 bytes  SHA-256 of every byte before it, from the magic to `records`
 * ```
 *
 * A change record is one row of the history (kv-store.ts, "History"): watches and reads at a
 * revision after `compactRevision` are served from it, so a follower restored from an image answers
 * them as the leader did. The history is part of the replicated state (compactions go through the
 * log), which is why it travels with the keys.
 *
 * An idempotency record is one row of the `idempotency` table: the result a write sent with an
 * Idempotency-Key had, so that a retry of it answers the same result instead of applying twice. The
 * records are replicated state too (the state machine writes them in the write's transaction and
 * they enter `/debug/hash`, state-hash.ts), so a member restored from an image must answer retries
 * as the leader would. A store that never saw an Idempotency-Key writes none.
 *
 * Format version 1 (tsraft-kv before issue 16) has a 28-byte header without `compactRevision` and
 * records of kind 1 only: `kind u8 = 1, keyLength u32, valueLength u32, key, value`. A version-2
 * reader still reads it: its keys get create and mod revision 0 and version 1 ("written before
 * revisions were kept", as a migrated database's, sqlite-database.ts), and its history is empty,
 * compacted at its revision, and it has no idempotency records. Each version accepts only its own
 * record kinds (so a version-1 image with a kind-3 idempotency record, as an unreleased development
 * branch wrote, is refused: "unknown record kind 3 in a version-1 image").
 *
 * Nothing follows the trailer. A reader detects truncation (no trailer), corruption (checksum,
 * record count, order, an unknown kind) and refuses records larger than it is willing to buffer.
 * The record's `kind` byte is its layout's version: new per-record fields come as a new kind in a
 * new format version, which older readers refuse with a clear error instead of dropping what they
 * cannot read.
 */
import { CHANGES_PER_REVISION, type KeyValue, type KvChange } from "./mvcc-types.js";

/** The first 8 bytes of every image. */
export const IMAGE_MAGIC: Uint8Array = Buffer.from("TSRAFTKV", "latin1");
/** The format version this code writes and the newest it reads. */
export const IMAGE_FORMAT_VERSION = 3;
/** Chunk size of {@link ImageEncoder} by default: large enough for the disk and the network, small enough to hold a few. */
export const DEFAULT_IMAGE_CHUNK_BYTES = 512 * 1024;
/**
 * The largest record (key + value + previous value) an {@link ImageDecoder} buffers by default. A
 * KV value is at most the server's `--max-request-bytes` (1.5 MiB by default), so this leaves a wide
 * margin while still refusing a corrupt length before allocating for it.
 */
export const DEFAULT_MAX_IMAGE_RECORD_BYTES = 64 * 1024 * 1024;

/** The fixed part of the header every version shares: magic, version, flags. */
export const HEADER_BASE_BYTES = 12;
/** The rest of the header, by format version. */
export const HEADER_REST_BYTES: Readonly<Record<number, number>> = { 1: 16, 2: 24, 3: 24 };
/** The kind byte that starts each record (see the module comment), and the trailer's. */
export const RECORD_KIND = {
  KEY_VALUE_V1: 1,
  KEY: 2,
  CHANGE: 3,
  IDEMPOTENCY: 4,
  KEY_ROW: 5,
  ROW: 6,
  TRAILER: 0xff,
} as const;
/** After the kind byte: keyLength, createRevision, modRevision, version, valueRow (kind 5). */
export const KEY_ROW_FIXED_BYTES = 4 + 32;
/** After the kind byte: id, flags, createRevision, version, prevModRevision, prevRow, keyLength, valueLength (kind 6). */
export const ROW_FIXED_BYTES = 8 + 1 + 32 + 8;
export const ROW_FLAG_PUT = 1;
export const ROW_FLAG_PREV = 2;
/** After the kind byte: keyLength, valueLength (kind 1). */
export const KEY_V1_FIXED_BYTES = 8;
/** After the kind byte: keyLength, valueLength, createRevision, modRevision, version (kind 2). */
export const KEY_FIXED_BYTES = 32;
/** After the kind byte: keyLength, valueLength (kind 4). */
export const IDEMPOTENCY_FIXED_BYTES = 8;
/** After the kind byte: revision, sub, flags, three u64, three u32 lengths (kind 3). */
export const CHANGE_FIXED_BYTES = 8 + 2 + 1 + 24 + 12;
export const CHANGE_FLAG_PUT = 1;
export const CHANGE_FLAG_PREV = 2;
export const COUNT_BYTES = 8;
export const CHECKSUM_BYTES = 32;
/** Changes per revision are numbered 0..CHANGES_PER_REVISION-1 (mvcc-store.ts). */
export const MAX_SUB = 1023;

/** What the header says about the state the image holds. */
export interface ImageHeader {
  /** The state is the result of applying the log entries 1..appliedIndex. */
  readonly appliedIndex: number;
  /** The store's revision (see {@link SqliteStateMachine.revision}). */
  readonly revision: number;
  /**
   * History at or below this revision is gone. A version-1 image has none: its `revision` (written
   * before the history was kept).
   */
  readonly compactRevision: number;
}

/**
 * One key, its value and its revisions. The decoder's records are views valid until its next
 * `push`. A version-1 image's keys have create and mod revision 0 and version 1.
 */
export interface ImageKeyRecord extends KeyValue {
  readonly kind: "key";
}

/**
 * One change of the history: a put (with `value`) or a delete of `key` at (`revision`, `sub`), with
 * what the key held before (`prevValue` and `prevModRevision`, when it existed). For a put,
 * `createRevision` and `version` are the key's after it; for a delete, the deleted key's.
 */
export interface ImageChangeRecord extends KvChange {
  readonly kind: "change";
}

/**
 * One idempotency record (idempotency.ts): its Idempotency-Key `key` and `value`, the u64 index
 * that recorded it, the 16-byte request digest and the encoded result (sqlite-idempotency.ts
 * encodes and decodes it; the image does not look inside).
 */
export interface ImageIdempotencyRecord {
  readonly kind: "idempotency";
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * One key of a version-3 image: its revisions and the id of the row holding its value
 * (`valueRow`), which comes later in the image.
 */
export interface ImageKeyRowRecord {
  readonly kind: "key-row";
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly valueRow: number;
}

/**
 * One row of a version-3 image: a database `history` row (mvcc-store.ts). A put carries its
 * `value`; `prevRow` is the id of the row holding the key's previous value, if it had one.
 */
export interface ImageRowRecord {
  readonly kind: "row";
  readonly id: number;
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
  readonly createRevision: number;
  readonly version: number;
  readonly prevModRevision: number;
  readonly prevRow: number | undefined;
}

/** A record of an image. */
export type ImageRecord =
  | ImageKeyRecord
  | ImageChangeRecord
  | ImageKeyRowRecord
  | ImageRowRecord
  | ImageIdempotencyRecord;

/** What a complete, verified image held. */
export interface ImageSummary {
  readonly header: ImageHeader;
  /** The format version it was written in. */
  readonly formatVersion: number;
  /** Records of every kind (the trailer's count). */
  readonly records: number;
  readonly keys: number;
  /** Changes of the history (version 3: rows above the compact revision). */
  readonly changes: number;
  readonly idempotencyRecords: number;
  /** The image's length in bytes, trailer included. */
  readonly bytes: number;
  /** The SHA-256 checksum of the trailer, in hex. */
  readonly checksum: string;
}

/** Why an image was refused. */
export type ImageErrorCode =
  | "BadMagic"
  | "UnsupportedVersion"
  | "BadHeader"
  | "UnknownRecordKind"
  | "BadRecord"
  | "RecordTooLarge"
  | "OutOfOrder"
  | "Truncated"
  | "TrailingBytes"
  | "CountMismatch"
  | "ChecksumMismatch";

/** An image that is not a valid tsraft-kv image; `offset` is where in the stream it was found. */
export class ImageError extends Error {
  override readonly name = "ImageError";
  constructor(
    readonly code: ImageErrorCode,
    readonly offset: number,
    message: string,
  ) {
    super(`kv image: ${message} (at byte ${offset})`);
  }
}

/** True if `e` is an {@link ImageError} (with `code`, if given). */
export function isImageError(e: unknown, code?: ImageErrorCode): e is ImageError {
  return e instanceof ImageError && (code === undefined || e.code === code);
}

/**
 * Why a version-3 row with this id and kind cannot be in an image with this header, or undefined if
 * it can: a change (at or above the first id after the compact revision) must be at most at the
 * header's revision; a row below that must be a put (a value kept by compaction).
 */
export function rowProblem(id: number, put: boolean, header: ImageHeader): string | undefined {
  const firstChange = (header.compactRevision + 1) * CHANGES_PER_REVISION;
  if (id >= firstChange) {
    const revision = Math.floor(id / CHANGES_PER_REVISION);
    if (revision > header.revision)
      return `is a change at revision ${revision}, after the image's ${header.revision}`;
    return undefined;
  }
  return put ? undefined : `is a delete at or below the compact revision ${header.compactRevision}`;
}

/** Throws a RangeError unless `n` fits a u64 field (and a JavaScript number). */
export function checkU64(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`kv image: ${what} ${n} is not a valid u64`);
}
