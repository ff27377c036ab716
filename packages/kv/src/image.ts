/**
 * The tsraft-kv image: the whole store at one applied index as a byte stream, written and read a
 * chunk at a time. It is what a leader streams to a follower that needs a snapshot
 * ({@link SqliteStateMachine.snapshot}, {@link SqliteStateMachine.restore}) and what a backup
 * holds, so it is a logical format (keys and values), not SQLite's file: it does not depend on the
 * SQLite version, page size or free pages, and it can be checked without SQLite.
 *
 * Format version 1; every integer is unsigned big-endian:
 *
 * ```
 * header    magic         8 bytes   "TSRAFTKV"
 *           version       u16       1
 *           flags         u16       0 (reserved; a version-1 reader refuses any other value)
 *           appliedIndex  u64       the state is the result of the log entries 1..appliedIndex
 *           revision      u64       writes applied (puts, and deletes of present keys)
 * records   kind          u8        1: a key and its value
 *           keyLength     u32
 *           valueLength   u32
 *           key, value    keyLength + valueLength bytes
 *           (one per key, in strictly increasing bytewise key order)
 *           kind 3: an idempotency record (idempotency.ts), after every kind-1 record, the same
 *           layout: its key, and as value the u64 index that recorded it, the 16-byte request
 *           digest and the result (sqlite-idempotency.ts); strictly increasing key order again
 * trailer   kind          u8        0xff
 *           records       u64       the number of records
 *           checksum      32 bytes  SHA-256 of every byte before it, from the magic to `records`
 * ```
 *
 * Nothing follows the trailer. A reader detects truncation (no trailer), corruption (checksum,
 * record count, key order, an unknown kind) and refuses records larger than it is willing to buffer.
 *
 * Idempotency records were added after format version 1 was first released, as a record kind of
 * their own (an image without any is byte for byte what that release wrote; a reader of that
 * release refuses one with them: "unknown record kind 3").
 *
 * Room to grow: the record's `kind` byte is its layout's version. Per-key metadata (issue 16's
 * create revision, mod revision and version) will be a new kind (2: the same fields followed by
 * three u64), written by format version 2; a version-1 reader refuses such an image with a clear
 * error instead of dropping what it cannot read.
 */
import { createHash, type Hash } from "node:crypto";

/** The first 8 bytes of every image. */
export const IMAGE_MAGIC: Uint8Array = Buffer.from("TSRAFTKV", "latin1");
/** The format version this code writes and the newest it reads. */
export const IMAGE_FORMAT_VERSION = 1;
/** Chunk size of {@link ImageEncoder} by default: large enough for the disk and the network, small enough to hold a few. */
export const DEFAULT_IMAGE_CHUNK_BYTES = 512 * 1024;
/**
 * The largest record (key + value) an {@link ImageDecoder} buffers by default. A KV value is at most
 * the server's `--max-request-bytes` (1.5 MiB by default), so this leaves a wide margin while still
 * refusing a corrupt length before allocating for it.
 */
export const DEFAULT_MAX_IMAGE_RECORD_BYTES = 64 * 1024 * 1024;

const HEADER_BYTES = 28;
const KIND_KEY_VALUE = 1;
const KIND_IDEMPOTENCY = 3;
const KIND_TRAILER = 0xff;
const LENGTHS_BYTES = 8;
const COUNT_BYTES = 8;
const CHECKSUM_BYTES = 32;

/** What the header says about the state the image holds. */
export interface ImageHeader {
  /** The state is the result of applying the log entries 1..appliedIndex. */
  readonly appliedIndex: number;
  /** Writes applied (see {@link SqliteStateMachine.revision}). */
  readonly revision: number;
}

/**
 * One key and its value. The decoder's records are views valid until its next `push`.
 * `idempotency`: an idempotency record (kind 3), not a key of the store.
 */
export interface ImageRecord {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly idempotency?: true;
}

/** What a complete, verified image held. */
export interface ImageSummary {
  readonly header: ImageHeader;
  readonly records: number;
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
 * Writes an image into fixed-size chunks. Feed it the records in increasing key order with `add`,
 * take the full chunks with `take` whenever convenient, and end with `finish`. It holds at most one
 * chunk being filled plus the full ones not taken yet; each chunk handed out is a fresh buffer the
 * caller may keep.
 */
export class ImageEncoder {
  private readonly hash: Hash = createHash("sha256");
  private readonly chunkBytes: number;
  private chunk: Buffer;
  private used = 0;
  /** Bytes of `chunk` before this offset are already in `hash`. */
  private hashed = 0;
  private ready: Uint8Array[] = [];
  private records = 0;
  private lastKey: Buffer | undefined;
  private idempotencySection = false;
  private finished = false;
  private readonly scratch = Buffer.alloc(9);

  constructor(header: ImageHeader, chunkBytes: number = DEFAULT_IMAGE_CHUNK_BYTES) {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 64) throw new RangeError(`chunkBytes ${chunkBytes}`);
    checkU64("appliedIndex", header.appliedIndex);
    checkU64("revision", header.revision);
    this.chunkBytes = chunkBytes;
    this.chunk = Buffer.allocUnsafe(chunkBytes);
    const h = Buffer.alloc(HEADER_BYTES);
    h.set(IMAGE_MAGIC, 0);
    h.writeUInt16BE(IMAGE_FORMAT_VERSION, 8);
    h.writeUInt16BE(0, 10);
    h.writeBigUInt64BE(BigInt(header.appliedIndex), 12);
    h.writeBigUInt64BE(BigInt(header.revision), 20);
    this.write(h);
  }

  /** Appends a record. Throws if `key` is not greater than the previous record's key. */
  add(key: Uint8Array, value: Uint8Array): void {
    if (this.idempotencySection) throw new Error("kv image: a key after the idempotency records");
    this.addRecord(KIND_KEY_VALUE, key, value);
  }

  /** Appends an idempotency record (after every key), in increasing key order too. */
  addIdempotency(key: Uint8Array, value: Uint8Array): void {
    if (!this.idempotencySection) this.lastKey = undefined;
    this.idempotencySection = true;
    this.addRecord(KIND_IDEMPOTENCY, key, value);
  }

  private addRecord(kind: number, key: Uint8Array, value: Uint8Array): void {
    if (this.finished) throw new Error("kv image: add after finish");
    if (this.lastKey !== undefined && Buffer.compare(this.lastKey, key) >= 0) {
      throw new Error("kv image: records must come in strictly increasing key order");
    }
    this.lastKey = Buffer.from(key);
    const s = this.scratch;
    s[0] = kind;
    s.writeUInt32BE(key.length, 1);
    s.writeUInt32BE(value.length, 5);
    this.write(s);
    this.write(key);
    this.write(value);
    this.records++;
  }

  /** The full chunks written so far (each exactly `chunkBytes` long); the encoder forgets them. */
  take(): Uint8Array[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Appends the trailer and returns every chunk not taken yet, the last one possibly shorter. */
  finish(): Uint8Array[] {
    if (this.finished) throw new Error("kv image: finish called twice");
    const t = Buffer.alloc(1 + COUNT_BYTES);
    t[0] = KIND_TRAILER;
    t.writeBigUInt64BE(BigInt(this.records), 1);
    this.write(t);
    this.hash.update(this.chunk.subarray(this.hashed, this.used));
    this.hashed = this.used;
    this.finished = true; // the checksum itself is not hashed
    this.write(this.hash.digest());
    if (this.used > 0) this.ready.push(this.chunk.subarray(0, this.used));
    this.used = 0;
    return this.take();
  }

  private write(bytes: Uint8Array): void {
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(bytes.length - from, this.chunkBytes - this.used);
      this.chunk.set(bytes.subarray(from, from + n), this.used);
      this.used += n;
      from += n;
      if (this.used === this.chunkBytes) {
        if (!this.finished) this.hash.update(this.chunk.subarray(this.hashed));
        this.ready.push(this.chunk);
        this.chunk = Buffer.allocUnsafe(this.chunkBytes);
        this.used = 0;
        this.hashed = 0;
      }
    }
  }
}

/** Options of {@link ImageDecoder}. */
export interface ImageDecoderOptions {
  /** Refuse records whose key + value exceed this many bytes (default {@link DEFAULT_MAX_IMAGE_RECORD_BYTES}). */
  maxRecordBytes?: number;
}

type Phase = "header" | "kind" | "lengths" | "body" | "count" | "checksum" | "done";

const PHASE_NAMES: Readonly<Record<Phase, string>> = {
  header: "the header",
  kind: "a record's kind byte",
  lengths: "a record's lengths",
  body: "a record's key and value",
  count: "the trailer's record count",
  checksum: "the trailer's checksum",
  done: "nothing",
};

/**
 * Reads an image from chunks with arbitrary boundaries: `push` a chunk, then call `next` until it
 * returns undefined (it needs the next chunk), and `finish` at the end of the input, which throws
 * unless the whole image, trailer included, was read and verified. Every method throws an
 * {@link ImageError} as soon as the bytes show the image is invalid.
 *
 * Memory: the decoder keeps the current chunk (records are views into it) and, for a record that
 * spans chunks, one buffer of exactly that record's size, at most `maxRecordBytes`. So a consumer
 * that handles the records of a chunk before pushing the next holds about one chunk and one record.
 * Nothing a record says is trusted before the checksum is checked: a consumer must not commit
 * anything before `finish` returns.
 */
export class ImageDecoder {
  private readonly maxRecordBytes: number;
  private readonly hash: Hash = createHash("sha256");
  private phase: Phase = "header";
  private cur: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** The unit being assembled across chunks, and how much of it is filled. */
  private carry: Buffer | undefined;
  private carryLen = 0;
  /** Bytes consumed before the current unit. */
  private offset = 0;
  private keyLength = 0;
  private valueLength = 0;
  private records = 0;
  private lastKey: Buffer | undefined;
  /** Kind-3 records have begun: no kind-1 record may follow. */
  private idempotencySection = false;
  private declaredRecords = 0;
  private hdr: ImageHeader | undefined;
  private summary: ImageSummary | undefined;

  constructor(options: ImageDecoderOptions = {}) {
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_IMAGE_RECORD_BYTES;
  }

  /** The header, once its bytes were pushed and `next` read them. */
  get header(): ImageHeader | undefined {
    return this.hdr;
  }

  /** Records read so far. */
  get recordCount(): number {
    return this.records;
  }

  /** Hands the decoder the next chunk. Call only after `next` returned undefined. */
  push(chunk: Uint8Array): void {
    if (this.pos < this.cur.length) throw new Error("kv image: push before the previous chunk was read");
    this.cur = chunk;
    this.pos = 0;
  }

  /** The next record, or undefined when the pushed bytes are used up (or the trailer was read). */
  next(): ImageRecord | undefined {
    for (;;) {
      switch (this.phase) {
        case "header": {
          const u = this.unit(HEADER_BYTES);
          if (u === undefined) return undefined;
          this.hdr = this.parseHeader(u);
          this.consumed(u, true);
          this.phase = "kind";
          break;
        }
        case "kind": {
          const u = this.unit(1);
          if (u === undefined) return undefined;
          const kind = u[0]!;
          if (kind === KIND_KEY_VALUE && !this.idempotencySection) this.phase = "lengths";
          else if (kind === KIND_IDEMPOTENCY) {
            // The idempotency records follow the keys, in a key order of their own.
            if (!this.idempotencySection) this.lastKey = undefined;
            this.idempotencySection = true;
            this.phase = "lengths";
          } else if (kind === KIND_TRAILER) this.phase = "count";
          else if (kind === KIND_KEY_VALUE) {
            throw new ImageError("OutOfOrder", this.offset, "a key record after the idempotency records");
          } else {
            throw new ImageError(
              "UnknownRecordKind",
              this.offset,
              `unknown record kind ${kind} after ${this.records} records (written by a newer tsraft-kv, or corrupt)`,
            );
          }
          this.consumed(u, true);
          break;
        }
        case "lengths": {
          const u = this.unit(LENGTHS_BYTES);
          if (u === undefined) return undefined;
          const v = view(u);
          this.keyLength = v.getUint32(0);
          this.valueLength = v.getUint32(4);
          const size = this.keyLength + this.valueLength;
          if (size > this.maxRecordBytes) {
            throw new ImageError(
              "RecordTooLarge",
              this.offset,
              `record ${this.records + 1} is ${size} bytes, more than the ${this.maxRecordBytes} allowed`,
            );
          }
          this.consumed(u, true);
          this.phase = "body";
          break;
        }
        case "body": {
          const u = this.unit(this.keyLength + this.valueLength);
          if (u === undefined) return undefined;
          const key = u.subarray(0, this.keyLength);
          if (this.lastKey !== undefined && Buffer.compare(this.lastKey, key) >= 0) {
            throw new ImageError(
              "OutOfOrder",
              this.offset,
              `record ${this.records + 1}'s key is not greater than the previous one`,
            );
          }
          this.lastKey = Buffer.from(key);
          this.consumed(u, true);
          this.records++;
          this.phase = "kind";
          const value = u.subarray(this.keyLength);
          return this.idempotencySection ? { key, value, idempotency: true } : { key, value };
        }
        case "count": {
          const u = this.unit(COUNT_BYTES);
          if (u === undefined) return undefined;
          this.declaredRecords = readU64(u, 0, "record count", this.offset, "CountMismatch");
          this.consumed(u, true);
          this.phase = "checksum";
          break;
        }
        case "checksum": {
          const u = this.unit(CHECKSUM_BYTES);
          if (u === undefined) return undefined;
          const digest = this.hash.digest();
          if (Buffer.compare(digest, u) !== 0) {
            throw new ImageError("ChecksumMismatch", this.offset, "checksum mismatch: the image is corrupt");
          }
          if (this.declaredRecords !== this.records) {
            throw new ImageError(
              "CountMismatch",
              this.offset,
              `the trailer counts ${this.declaredRecords} records, the image holds ${this.records}`,
            );
          }
          this.consumed(u, false);
          this.phase = "done";
          this.summary = {
            header: this.hdr!,
            records: this.records,
            bytes: this.offset,
            checksum: digest.toString("hex"),
          };
          break;
        }
        case "done":
          if (this.pos < this.cur.length) {
            throw new ImageError("TrailingBytes", this.offset, "bytes after the trailer");
          }
          return undefined;
      }
    }
  }

  /**
   * Call at the end of the input, after `next` returned undefined: the verified summary, or an
   * {@link ImageError} `Truncated` if the input ended before the trailer's last byte.
   */
  finish(): ImageSummary {
    if (this.next() !== undefined) throw new Error("kv image: finish before every record was read");
    if (this.summary === undefined) {
      const where =
        this.phase === "kind"
          ? "before the trailer"
          : this.phase === "header"
            ? "inside the header"
            : `inside ${PHASE_NAMES[this.phase]}`;
      throw new ImageError(
        "Truncated",
        this.offset + this.carryLen,
        `truncated: the input ended ${where}, after ${this.records} records`,
      );
    }
    return this.summary;
  }

  /** `n` bytes from the input (a view when they are in the current chunk), or undefined if not there yet. */
  private unit(n: number): Uint8Array | undefined {
    if (this.carry === undefined) {
      if (this.cur.length - this.pos >= n) {
        const u = this.cur.subarray(this.pos, this.pos + n);
        this.pos += n;
        return u;
      }
      this.carry = Buffer.allocUnsafe(n);
      this.carryLen = 0;
    }
    const k = Math.min(n - this.carryLen, this.cur.length - this.pos);
    this.carry.set(this.cur.subarray(this.pos, this.pos + k), this.carryLen);
    this.pos += k;
    this.carryLen += k;
    if (this.carryLen < n) return undefined;
    const u = this.carry;
    this.carry = undefined;
    this.carryLen = 0;
    return u;
  }

  private consumed(u: Uint8Array, hashed: boolean): void {
    if (hashed) this.hash.update(u);
    this.offset += u.length;
  }

  private parseHeader(u: Uint8Array): ImageHeader {
    if (Buffer.compare(u.subarray(0, 8), IMAGE_MAGIC) !== 0) {
      throw new ImageError("BadMagic", 0, "not a tsraft-kv image (bad magic)");
    }
    const v = view(u);
    const version = v.getUint16(8);
    if (version === 0 || version > IMAGE_FORMAT_VERSION) {
      throw new ImageError(
        "UnsupportedVersion",
        8,
        `format version ${version} is not supported (this tsraft-kv reads 1 to ${IMAGE_FORMAT_VERSION})`,
      );
    }
    const flags = v.getUint16(10);
    if (flags !== 0) throw new ImageError("BadHeader", 10, `unknown header flags ${flags}`);
    return {
      appliedIndex: readU64(u, 12, "applied index", 12),
      revision: readU64(u, 20, "revision", 20),
    };
  }
}

function view(u: Uint8Array): DataView {
  return new DataView(u.buffer, u.byteOffset, u.byteLength);
}

function readU64(
  u: Uint8Array,
  at: number,
  what: string,
  offset: number,
  code: ImageErrorCode = "BadHeader",
): number {
  const n = view(u).getBigUint64(at);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ImageError(code, offset, `${what} ${n} is too large`);
  return Number(n);
}

function checkU64(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`kv image: ${what} ${n} is not a valid u64`);
}
