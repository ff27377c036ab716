/**
 * Reading the tsraft-kv image (the format: image-format.ts), versions 1 to 3, from chunks with
 * arbitrary boundaries, verifying it as it goes.
 */
import { createHash, type Hash } from "node:crypto";
import type { ImageErrorCode, ImageHeader, ImageRecord, ImageSummary } from "./image-format.js";
import {
  CHANGE_FIXED_BYTES,
  CHANGE_FLAG_PREV,
  CHANGE_FLAG_PUT,
  CHECKSUM_BYTES,
  COUNT_BYTES,
  DEFAULT_MAX_IMAGE_RECORD_BYTES,
  HEADER_BASE_BYTES,
  HEADER_REST_BYTES,
  IDEMPOTENCY_FIXED_BYTES,
  IMAGE_FORMAT_VERSION,
  IMAGE_MAGIC,
  ImageError,
  KEY_FIXED_BYTES,
  KEY_ROW_FIXED_BYTES,
  KEY_V1_FIXED_BYTES,
  MAX_SUB,
  RECORD_KIND,
  ROW_FIXED_BYTES,
  ROW_FLAG_PREV,
  ROW_FLAG_PUT,
  rowProblem,
} from "./image-format.js";
import { CHANGES_PER_REVISION } from "./mvcc-types.js";

/** Options of {@link ImageDecoder}. */
export interface ImageDecoderOptions {
  /**
   * Refuse records whose key + value (+ previous value) exceed this many bytes (default
   * {@link DEFAULT_MAX_IMAGE_RECORD_BYTES}).
   */
  maxRecordBytes?: number;
}

type Phase = "header" | "header-rest" | "kind" | "fixed" | "body" | "count" | "checksum" | "done";

const PHASE_NAMES: Readonly<Record<Phase, string>> = {
  header: "the header",
  "header-rest": "the header",
  kind: "a record's kind byte",
  fixed: "a record's lengths",
  body: "a record's key and value",
  count: "the trailer's record count",
  checksum: "the trailer's checksum",
  done: "nothing",
};

/** The fixed fields of the record being read, parsed before its body. */
interface Pending {
  kind: number;
  keyLength: number;
  valueLength: number;
  prevLength: number;
  createRevision: number;
  modRevision: number;
  version: number;
  revision: number;
  sub: number;
  flags: number;
  prevModRevision: number;
  /** A row's id, the row before it, a key's value row (version 3). */
  id: number;
  prevRow: number;
  valueRow: number;
}

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
  private version = 0;
  private readonly p: Pending = {
    kind: 0,
    keyLength: 0,
    valueLength: 0,
    prevLength: 0,
    createRevision: 0,
    modRevision: 0,
    version: 0,
    revision: 0,
    sub: 0,
    flags: 0,
    prevModRevision: 0,
    id: 0,
    prevRow: 0,
    valueRow: 0,
  };
  private records = 0;
  private keys = 0;
  private changes = 0;
  private idempotencyRecords = 0;
  private lastKey: Buffer | undefined;
  /** Set once an idempotency record was read: no key or change may follow. */
  private lastIdempotencyKey: Buffer | undefined;
  private lastChange: { revision: number; sub: number } | undefined;
  /** The last row's id (version 3): set once a row was read, so no key may follow. */
  private lastRow: number | undefined;
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

  /** The format version of the image, once its header was read (else 0). */
  get formatVersion(): number {
    return this.version;
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
          const u = this.unit(HEADER_BASE_BYTES);
          if (u === undefined) return undefined;
          this.version = this.parseHeaderBase(u);
          this.consumed(u, true);
          this.phase = "header-rest";
          break;
        }
        case "header-rest": {
          const u = this.unit(HEADER_REST_BYTES[this.version]!);
          if (u === undefined) return undefined;
          this.hdr = this.parseHeaderRest(u);
          this.consumed(u, true);
          this.phase = "kind";
          break;
        }
        case "kind": {
          const u = this.unit(1);
          if (u === undefined) return undefined;
          const kind = u[0]!;
          if (kind === RECORD_KIND.TRAILER) this.phase = "count";
          else if (this.kindAllowed(kind)) {
            this.p.kind = kind;
            this.phase = "fixed";
          } else {
            throw new ImageError(
              "UnknownRecordKind",
              this.offset,
              `unknown record kind ${kind} in a version-${this.version} image after ${this.records} records (written by a newer tsraft-kv, or corrupt)`,
            );
          }
          this.consumed(u, true);
          break;
        }
        case "fixed": {
          const u = this.unit(fixedBytes(this.p.kind));
          if (u === undefined) return undefined;
          this.parseFixed(u);
          this.consumed(u, true);
          this.phase = "body";
          break;
        }
        case "body": {
          const p = this.p;
          const u = this.unit(p.keyLength + p.valueLength + p.prevLength);
          if (u === undefined) return undefined;
          const record = this.record(u);
          this.consumed(u, true);
          this.records++;
          this.phase = "kind";
          return record;
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
            formatVersion: this.version,
            records: this.records,
            keys: this.keys,
            changes: this.changes,
            idempotencyRecords: this.idempotencyRecords,
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
          : this.phase === "header" || this.phase === "header-rest"
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

  private kindAllowed(kind: number): boolean {
    if (this.version === 1) return kind === RECORD_KIND.KEY_VALUE_V1;
    if (kind === RECORD_KIND.IDEMPOTENCY) return true;
    return this.version === 2
      ? kind === RECORD_KIND.KEY || kind === RECORD_KIND.CHANGE
      : kind === RECORD_KIND.KEY_ROW || kind === RECORD_KIND.ROW;
  }

  private parseFixed(u: Uint8Array): void {
    const v = view(u);
    const p = this.p;
    const at = this.offset;
    p.prevLength = 0;
    if (p.kind === RECORD_KIND.IDEMPOTENCY) {
      p.keyLength = v.getUint32(0);
      p.valueLength = v.getUint32(4);
    } else if (p.kind === RECORD_KIND.CHANGE) {
      p.revision = readU64(u, 0, "change revision", at, "BadRecord");
      p.sub = v.getUint16(8);
      p.flags = u[10]!;
      p.createRevision = readU64(u, 11, "create revision", at, "BadRecord");
      p.version = readU64(u, 19, "version", at, "BadRecord");
      p.prevModRevision = readU64(u, 27, "previous mod revision", at, "BadRecord");
      p.keyLength = v.getUint32(35);
      p.valueLength = v.getUint32(39);
      p.prevLength = v.getUint32(43);
      const hdr = this.hdr!;
      if ((p.flags & ~(CHANGE_FLAG_PUT | CHANGE_FLAG_PREV)) !== 0) {
        throw new ImageError(
          "BadRecord",
          at,
          `change record ${this.records + 1} has unknown flags ${p.flags}`,
        );
      }
      if ((p.flags & CHANGE_FLAG_PUT) === 0 && p.valueLength !== 0) {
        throw new ImageError("BadRecord", at, `change record ${this.records + 1} is a delete with a value`);
      }
      if ((p.flags & CHANGE_FLAG_PREV) === 0 && p.prevLength !== 0) {
        throw new ImageError(
          "BadRecord",
          at,
          `change record ${this.records + 1} has a previous value it says it has not`,
        );
      }
      if (p.revision <= hdr.compactRevision || p.revision > hdr.revision || p.sub > MAX_SUB) {
        throw new ImageError(
          "BadRecord",
          at,
          `change record ${this.records + 1} at revision ${p.revision}.${p.sub} is outside (${hdr.compactRevision}, ${hdr.revision}]`,
        );
      }
      if (this.lastIdempotencyKey !== undefined) {
        throw new ImageError(
          "OutOfOrder",
          at,
          `record ${this.records + 1} is a change after the idempotency records`,
        );
      }
      const last = this.lastChange;
      if (
        last !== undefined &&
        (p.revision < last.revision || (p.revision === last.revision && p.sub <= last.sub))
      ) {
        throw new ImageError(
          "OutOfOrder",
          at,
          `change record ${this.records + 1} is not after the previous change (${last.revision}.${last.sub})`,
        );
      }
    } else if (p.kind === RECORD_KIND.ROW) {
      this.parseRow(u);
    } else if (p.kind === RECORD_KIND.KEY_ROW) {
      p.keyLength = v.getUint32(0);
      p.valueLength = 0;
      p.createRevision = readU64(u, 4, "create revision", at, "BadRecord");
      p.modRevision = readU64(u, 12, "mod revision", at, "BadRecord");
      p.version = readU64(u, 20, "version", at, "BadRecord");
      p.valueRow = readI64(u, 28, "value row", at);
      this.checkKeyComesNow(at);
    } else {
      p.keyLength = v.getUint32(0);
      p.valueLength = v.getUint32(4);
      if (p.kind === RECORD_KIND.KEY) {
        p.createRevision = readU64(u, 8, "create revision", at, "BadRecord");
        p.modRevision = readU64(u, 16, "mod revision", at, "BadRecord");
        p.version = readU64(u, 24, "version", at, "BadRecord");
      } else {
        p.createRevision = 0;
        p.modRevision = 0;
        p.version = 1;
      }
      this.checkKeyComesNow(at);
    }
    const size = p.keyLength + p.valueLength + p.prevLength;
    if (size > this.maxRecordBytes) {
      throw new ImageError(
        "RecordTooLarge",
        at,
        `record ${this.records + 1} is ${size} bytes, more than the ${this.maxRecordBytes} allowed`,
      );
    }
  }

  /** A key may not follow a change, a row or an idempotency record. */
  private checkKeyComesNow(at: number): void {
    if (
      this.lastChange !== undefined ||
      this.lastRow !== undefined ||
      this.lastIdempotencyKey !== undefined
    ) {
      throw new ImageError(
        "OutOfOrder",
        at,
        `record ${this.records + 1} is a key after the ${this.lastIdempotencyKey !== undefined ? "idempotency records" : "changes"}`,
      );
    }
  }

  /** The fixed part of a row (version 3): its fields and what can be checked of them alone. */
  private parseRow(u: Uint8Array): void {
    const v = view(u);
    const p = this.p;
    const at = this.offset;
    const n = this.records + 1;
    p.id = readI64(u, 0, "row id", at);
    p.flags = u[8]!;
    p.createRevision = readU64(u, 9, "create revision", at, "BadRecord");
    p.version = readU64(u, 17, "version", at, "BadRecord");
    p.prevModRevision = readU64(u, 25, "previous mod revision", at, "BadRecord");
    p.prevRow = readI64(u, 33, "previous row", at);
    p.keyLength = v.getUint32(41);
    p.valueLength = v.getUint32(45);
    if ((p.flags & ~(ROW_FLAG_PUT | ROW_FLAG_PREV)) !== 0) {
      throw new ImageError("BadRecord", at, `row record ${n} has unknown flags ${p.flags}`);
    }
    if ((p.flags & ROW_FLAG_PUT) === 0 && p.valueLength !== 0) {
      throw new ImageError("BadRecord", at, `row record ${n} is a delete with a value`);
    }
    if ((p.flags & ROW_FLAG_PREV) === 0 ? p.prevRow !== 0 : p.prevRow >= p.id) {
      throw new ImageError("BadRecord", at, `row record ${n} has a bad previous row ${p.prevRow}`);
    }
    const problem = rowProblem(p.id, (p.flags & ROW_FLAG_PUT) !== 0, this.hdr!);
    if (problem !== undefined) throw new ImageError("BadRecord", at, `row record ${n} ${problem}`);
    if (this.lastIdempotencyKey !== undefined) {
      throw new ImageError("OutOfOrder", at, `record ${n} is a row after the idempotency records`);
    }
    if (this.lastRow !== undefined && p.id <= this.lastRow) {
      throw new ImageError(
        "OutOfOrder",
        at,
        `row record ${n} is not after the previous row (${this.lastRow})`,
      );
    }
  }

  private record(u: Uint8Array): ImageRecord {
    const p = this.p;
    const key = u.subarray(0, p.keyLength);
    if (p.kind === RECORD_KIND.IDEMPOTENCY) {
      const last = this.lastIdempotencyKey;
      if (last !== undefined && Buffer.compare(last, key) >= 0) {
        throw new ImageError(
          "OutOfOrder",
          this.offset,
          `record ${this.records + 1}'s idempotency key is not greater than the previous one`,
        );
      }
      this.lastIdempotencyKey = Buffer.from(key);
      this.idempotencyRecords++;
      return { kind: "idempotency", key, value: u.subarray(p.keyLength) };
    }
    if (p.kind === RECORD_KIND.CHANGE) {
      this.lastChange = { revision: p.revision, sub: p.sub };
      this.changes++;
      const valueEnd = p.keyLength + p.valueLength;
      return {
        kind: "change",
        revision: p.revision,
        sub: p.sub,
        key,
        value: (p.flags & CHANGE_FLAG_PUT) !== 0 ? u.subarray(p.keyLength, valueEnd) : undefined,
        createRevision: p.createRevision,
        version: p.version,
        prevModRevision: p.prevModRevision,
        prevValue: (p.flags & CHANGE_FLAG_PREV) !== 0 ? u.subarray(valueEnd) : undefined,
      };
    }
    if (p.kind === RECORD_KIND.ROW) {
      this.lastRow = p.id;
      if (p.id >= (this.hdr!.compactRevision + 1) * CHANGES_PER_REVISION) this.changes++;
      return {
        kind: "row",
        id: p.id,
        key,
        value: (p.flags & ROW_FLAG_PUT) !== 0 ? u.subarray(p.keyLength) : undefined,
        createRevision: p.createRevision,
        version: p.version,
        prevModRevision: p.prevModRevision,
        prevRow: (p.flags & ROW_FLAG_PREV) !== 0 ? p.prevRow : undefined,
      };
    }
    if (this.lastKey !== undefined && Buffer.compare(this.lastKey, key) >= 0) {
      throw new ImageError(
        "OutOfOrder",
        this.offset,
        `record ${this.records + 1}'s key is not greater than the previous one`,
      );
    }
    this.lastKey = Buffer.from(key);
    this.keys++;
    if (p.kind === RECORD_KIND.KEY_ROW) {
      return {
        kind: "key-row",
        key,
        createRevision: p.createRevision,
        modRevision: p.modRevision,
        version: p.version,
        valueRow: p.valueRow,
      };
    }
    return {
      kind: "key",
      key,
      value: u.subarray(p.keyLength),
      createRevision: p.createRevision,
      modRevision: p.modRevision,
      version: p.version,
    };
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

  private parseHeaderBase(u: Uint8Array): number {
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
    return version;
  }

  /** The header after its first 12 bytes (`u` starts at byte 12 of the image). */
  private parseHeaderRest(u: Uint8Array): ImageHeader {
    const appliedIndex = readU64(u, 0, "applied index", 12);
    const revision = readU64(u, 8, "revision", 20);
    if (this.version === 1) return { appliedIndex, revision, compactRevision: revision };
    const compactRevision = readU64(u, 16, "compact revision", 28);
    if (compactRevision > revision) {
      throw new ImageError(
        "BadHeader",
        28,
        `compact revision ${compactRevision} is above the revision ${revision}`,
      );
    }
    return { appliedIndex, revision, compactRevision };
  }
}

function fixedBytes(kind: number): number {
  if (kind === RECORD_KIND.ROW) return ROW_FIXED_BYTES;
  if (kind === RECORD_KIND.KEY_ROW) return KEY_ROW_FIXED_BYTES;
  if (kind === RECORD_KIND.CHANGE) return CHANGE_FIXED_BYTES;
  if (kind === RECORD_KIND.KEY) return KEY_FIXED_BYTES;
  return kind === RECORD_KIND.IDEMPOTENCY ? IDEMPOTENCY_FIXED_BYTES : KEY_V1_FIXED_BYTES;
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

/** A signed row id (version 3); refuses what a JavaScript number cannot hold exactly. */
function readI64(u: Uint8Array, at: number, what: string, offset: number): number {
  const n = view(u).getBigInt64(at);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ImageError("BadRecord", offset, `${what} ${n} is too large`);
  }
  return Number(n);
}
