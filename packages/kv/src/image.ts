/**
 * Writing the tsraft-kv image (the format and its names: image-format.ts; reading it:
 * image-decoder.ts): {@link ImageEncoder}.
 */
import { createHash, type Hash } from "node:crypto";
import * as fmt from "./image-format.js";

/** The decoder, re-exported: the other side of the same format. */
export { ImageDecoder, type ImageDecoderOptions } from "./image-decoder.js";

/** A key's revisions, as an image records them. */
export interface KeyRevisions {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

/** Options of {@link ImageEncoder}. */
export interface ImageEncoderOptions {
  /**
   * The format version to write (default {@link IMAGE_FORMAT_VERSION}, 3: `addKeyRow` and `addRow`).
   * 1 and 2 (`add` and `addChange`; 1 writes keys and values only, the revisions given to `add` are
   * dropped and `addChange` throws) are for tests of the readers of old images.
   */
  readonly formatVersion?: 1 | 2 | 3;
}

/**
 * Writes an image into fixed-size chunks. Feed it the keys in increasing key order with `addKeyRow`,
 * then the rows with `addRow` (versions 1 and 2: `add`, then `addChange`), then the idempotency
 * records with `addIdempotency`; take the full chunks with `take` whenever convenient, and end with
 * `finish`. It holds at most one
 * chunk being filled plus the full ones not taken yet; each chunk handed out is a fresh buffer the
 * caller may keep.
 */
export class ImageEncoder {
  private readonly hash: Hash = createHash("sha256");
  private readonly formatVersion: 1 | 2 | 3;
  /** Set once a change was added: no key may follow. */
  private lastChange: { revision: number; sub: number } | undefined;
  /** Set once a row was added (version 3): no key may follow. */
  private lastRow: number | undefined;
  private readonly header: fmt.ImageHeader;
  private readonly chunkBytes: number;
  private chunk: Buffer;
  private used = 0;
  /** Bytes of `chunk` before this offset are already in `hash`. */
  private hashed = 0;
  private ready: Uint8Array[] = [];
  private records = 0;
  private lastKey: Buffer | undefined;
  /** Set once an idempotency record was added: no key or change may follow. */
  private lastIdempotencyKey: Buffer | undefined;
  private finished = false;
  private readonly scratch = Buffer.alloc(64);

  constructor(
    header: fmt.ImageHeader,
    chunkBytes: number = fmt.DEFAULT_IMAGE_CHUNK_BYTES,
    options: ImageEncoderOptions = {},
  ) {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 64) throw new RangeError(`chunkBytes ${chunkBytes}`);
    fmt.checkU64("appliedIndex", header.appliedIndex);
    fmt.checkU64("revision", header.revision);
    fmt.checkU64("compactRevision", header.compactRevision);
    if (header.compactRevision > header.revision) {
      throw new RangeError(
        `kv image: compactRevision ${header.compactRevision} is above the revision ${header.revision}`,
      );
    }
    this.formatVersion = options.formatVersion ?? fmt.IMAGE_FORMAT_VERSION;
    this.header = header;
    this.chunkBytes = chunkBytes;
    this.chunk = Buffer.allocUnsafe(chunkBytes);
    const h = Buffer.alloc(this.formatVersion === 1 ? 28 : 36);
    h.set(fmt.IMAGE_MAGIC, 0);
    h.writeUInt16BE(this.formatVersion, 8);
    h.writeUInt16BE(0, 10);
    h.writeBigUInt64BE(BigInt(header.appliedIndex), 12);
    h.writeBigUInt64BE(BigInt(header.revision), 20);
    if (this.formatVersion !== 1) h.writeBigUInt64BE(BigInt(header.compactRevision), 28);
    this.write(h);
  }

  /**
   * Appends a key with its value and revisions. Throws if `key` is not greater than the previous
   * key, or if a change was added already (keys come first).
   */
  add(key: Uint8Array, value: Uint8Array, revisions: KeyRevisions = LEGACY_REVISIONS): void {
    if (this.formatVersion === 3) throw new Error("kv image: format version 3 writes keys with addKeyRow");
    this.beginKey("add", key);
    const s = this.scratch;
    if (this.formatVersion === 1) {
      s[0] = fmt.RECORD_KIND.KEY_VALUE_V1;
      s.writeUInt32BE(key.length, 1);
      s.writeUInt32BE(value.length, 5);
      this.write(s.subarray(0, 9));
    } else {
      fmt.checkU64("createRevision", revisions.createRevision);
      fmt.checkU64("modRevision", revisions.modRevision);
      fmt.checkU64("version", revisions.version);
      s[0] = fmt.RECORD_KIND.KEY;
      s.writeUInt32BE(key.length, 1);
      s.writeUInt32BE(value.length, 5);
      s.writeBigUInt64BE(BigInt(revisions.createRevision), 9);
      s.writeBigUInt64BE(BigInt(revisions.modRevision), 17);
      s.writeBigUInt64BE(BigInt(revisions.version), 25);
      this.write(s.subarray(0, 33));
    }
    this.write(key);
    this.write(value);
    this.records++;
  }

  /**
   * Appends a change of the history (format version 2 only), after every key. Throws unless
   * (revision, sub) is greater than the previous change's, within (compactRevision, revision] of the
   * header, with sub at most 1023.
   */
  addChange(c: Omit<fmt.ImageChangeRecord, "kind">): void {
    if (this.finished) throw new Error("kv image: addChange after finish");
    if (this.formatVersion !== 2)
      throw new Error(`kv image: format version ${this.formatVersion} has no change records`);
    if (this.lastIdempotencyKey !== undefined) {
      throw new Error("kv image: changes must come before the idempotency records");
    }
    const last = this.lastChange;
    if (
      last !== undefined &&
      (c.revision < last.revision || (c.revision === last.revision && c.sub <= last.sub))
    ) {
      throw new Error("kv image: changes must come in strictly increasing (revision, sub) order");
    }
    if (c.revision <= this.header.compactRevision || c.revision > this.header.revision) {
      throw new RangeError(
        `kv image: change at revision ${c.revision} outside (${this.header.compactRevision}, ${this.header.revision}]`,
      );
    }
    if (!Number.isInteger(c.sub) || c.sub < 0 || c.sub > fmt.MAX_SUB)
      throw new RangeError(`kv image: sub ${c.sub}`);
    fmt.checkU64("createRevision", c.createRevision);
    fmt.checkU64("version", c.version);
    fmt.checkU64("prevModRevision", c.prevModRevision);
    this.lastChange = { revision: c.revision, sub: c.sub };
    const value = c.value ?? EMPTY;
    const prev = c.prevValue ?? EMPTY;
    const s = this.scratch;
    s[0] = fmt.RECORD_KIND.CHANGE;
    s.writeBigUInt64BE(BigInt(c.revision), 1);
    s.writeUInt16BE(c.sub, 9);
    s[11] =
      (c.value !== undefined ? fmt.CHANGE_FLAG_PUT : 0) |
      (c.prevValue !== undefined ? fmt.CHANGE_FLAG_PREV : 0);
    s.writeBigUInt64BE(BigInt(c.createRevision), 12);
    s.writeBigUInt64BE(BigInt(c.version), 20);
    s.writeBigUInt64BE(BigInt(c.prevModRevision), 28);
    s.writeUInt32BE(c.key.length, 36);
    s.writeUInt32BE(value.length, 40);
    s.writeUInt32BE(prev.length, 44);
    this.write(s.subarray(0, 48));
    this.write(c.key);
    this.write(value);
    this.write(prev);
    this.records++;
  }

  /**
   * Appends a key with its revisions and the id of the row holding its value (format version 3).
   * Throws if `key` is not greater than the previous key, or if a row was added already.
   */
  addKeyRow(key: Uint8Array, revisions: KeyRevisions, valueRow: number): void {
    if (this.formatVersion !== 3) throw new Error("kv image: addKeyRow is format version 3's");
    this.beginKey("addKeyRow", key);
    fmt.checkU64("createRevision", revisions.createRevision);
    fmt.checkU64("modRevision", revisions.modRevision);
    fmt.checkU64("version", revisions.version);
    checkI64("valueRow", valueRow);
    const s = this.scratch;
    s[0] = fmt.RECORD_KIND.KEY_ROW;
    s.writeUInt32BE(key.length, 1);
    s.writeBigUInt64BE(BigInt(revisions.createRevision), 5);
    s.writeBigUInt64BE(BigInt(revisions.modRevision), 13);
    s.writeBigUInt64BE(BigInt(revisions.version), 21);
    s.writeBigInt64BE(BigInt(valueRow), 29);
    this.write(s.subarray(0, 1 + fmt.KEY_ROW_FIXED_BYTES));
    this.write(key);
    this.records++;
  }

  /**
   * Appends a row (format version 3), after every key. Throws unless its id is greater than the
   * previous row's and, for a change (an id above the compact revision's rows), at most the
   * header's revision's; a row below them must be a put.
   */
  addRow(r: Omit<fmt.ImageRowRecord, "kind">): void {
    if (this.finished) throw new Error("kv image: addRow after finish");
    if (this.formatVersion !== 3) throw new Error("kv image: addRow is format version 3's");
    if (this.lastIdempotencyKey !== undefined) {
      throw new Error("kv image: rows must come before the idempotency records");
    }
    checkI64("row id", r.id);
    if (this.lastRow !== undefined && r.id <= this.lastRow) {
      throw new Error("kv image: rows must come in strictly increasing id order");
    }
    const problem = fmt.rowProblem(r.id, r.value !== undefined, this.header);
    if (problem !== undefined) throw new RangeError(`kv image: row ${r.id} ${problem}`);
    fmt.checkU64("createRevision", r.createRevision);
    fmt.checkU64("version", r.version);
    fmt.checkU64("prevModRevision", r.prevModRevision);
    if (r.prevRow !== undefined) checkI64("prevRow", r.prevRow);
    this.lastRow = r.id;
    const value = r.value ?? EMPTY;
    const s = this.scratch;
    s[0] = fmt.RECORD_KIND.ROW;
    s.writeBigInt64BE(BigInt(r.id), 1);
    s[9] = (r.value !== undefined ? fmt.ROW_FLAG_PUT : 0) | (r.prevRow !== undefined ? fmt.ROW_FLAG_PREV : 0);
    s.writeBigUInt64BE(BigInt(r.createRevision), 10);
    s.writeBigUInt64BE(BigInt(r.version), 18);
    s.writeBigUInt64BE(BigInt(r.prevModRevision), 26);
    s.writeBigInt64BE(BigInt(r.prevRow ?? 0), 34);
    s.writeUInt32BE(r.key.length, 42);
    s.writeUInt32BE(value.length, 46);
    this.write(s.subarray(0, 1 + fmt.ROW_FIXED_BYTES));
    this.write(r.key);
    this.write(value);
    this.records++;
  }

  /**
   * Appends an idempotency record (format version 2 only; its value as sqlite-idempotency.ts
   * encodes it), after every key and change. Throws unless `key` is greater than the previous
   * idempotency record's.
   */
  addIdempotency(key: Uint8Array, value: Uint8Array): void {
    if (this.finished) throw new Error("kv image: addIdempotency after finish");
    if (this.formatVersion === 1) throw new Error("kv image: format version 1 has no idempotency records");

    const last = this.lastIdempotencyKey;
    if (last !== undefined && Buffer.compare(last, key) >= 0) {
      throw new Error("kv image: idempotency records must come in strictly increasing key order");
    }
    this.lastIdempotencyKey = Buffer.from(key);
    const s = this.scratch;
    s[0] = fmt.RECORD_KIND.IDEMPOTENCY;
    s.writeUInt32BE(key.length, 1);
    s.writeUInt32BE(value.length, 5);
    this.write(s.subarray(0, 9));
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
    const t = Buffer.alloc(1 + fmt.COUNT_BYTES);
    t[0] = fmt.RECORD_KIND.TRAILER;
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

  /** Checks that a key may come now (before any change, row or idempotency record; in key order). */
  private beginKey(method: string, key: Uint8Array): void {
    if (this.finished) throw new Error(`kv image: ${method} after finish`);
    if (
      this.lastChange !== undefined ||
      this.lastRow !== undefined ||
      this.lastIdempotencyKey !== undefined
    ) {
      throw new Error("kv image: keys must come before the changes and the idempotency records");
    }
    if (this.lastKey !== undefined && Buffer.compare(this.lastKey, key) >= 0) {
      throw new Error("kv image: records must come in strictly increasing key order");
    }
    this.lastKey = Buffer.from(key);
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

const EMPTY = new Uint8Array(0);

/** Throws a RangeError unless `n` is a safe integer (an i64 field). */
function checkI64(what: string, n: number): void {
  if (!Number.isSafeInteger(n)) throw new RangeError(`kv image: ${what} ${n} is not a valid i64`);
}

/** The revisions of a key written before revisions were kept (format version 1, schema version 1). */
export const LEGACY_REVISIONS: KeyRevisions = { createRevision: 0, modRevision: 0, version: 1 };
