/**
 * The protobuf wire format at the level the raftpb codec needs it: a bounds-checked read cursor that
 * turns varints into safe-integer numbers, and the number checks of the encoder.
 *
 * Decoding does not use protobufjs's Reader: its `uint64()` hands back `Long` objects (or loses
 * precision without the long package) and it reports truncation with a raw RangeError. This cursor
 * reads varints straight into numbers, refuses anything above 2^53 − 1 with a message naming the field,
 * and reports every malformation as a {@link RaftError} with code "Decode".
 */
import protobuf from "protobufjs/minimal.js";
import { RaftError } from "../errors.js";
import { EMPTY_BYTES } from "./types.js";

/**
 * protobufjs's pooled allocator: buffers up to 4 KiB are carved out of shared 8 KiB slabs (as Node does
 * for small Buffers), which saves an ArrayBuffer allocation (hundreds of ns in V8 beyond 64 bytes) per
 * encoded or decoded message. Such a buffer is a view into a larger ArrayBuffer: never transfer or
 * reinterpret its `.buffer`.
 */
export const alloc: (size: number) => Uint8Array = protobuf.Writer.alloc;

/** Wire types of the protobuf encoding (the low 3 bits of a field's tag). */
const WIRE = { VARINT: 0, FIXED64: 1, LEN: 2, START_GROUP: 3, END_GROUP: 4, FIXED32: 5 } as const;

/**
 * How deep messages may nest (Message → responses → Message …, Message → Snapshot → metadata →
 * ConfState). Real traffic nests at most four levels; the limit keeps hostile input from exhausting
 * the stack, which would otherwise surface as a raw RangeError.
 */
const MAX_DEPTH = 100;

/** A "Decode" RaftError with the codec's `raftpb: ` prefix. */
export function decodeError(message: string): RaftError {
  return new RaftError("Decode", `raftpb: ${message}`);
}

/**
 * A read position in an encoded message. `limit` is the end of the message being read (a nested
 * message's end while inside it); no read goes past it.
 * Invariant: 0 ≤ pos ≤ limit ≤ buf.length.
 */
export class Cursor {
  readonly buf: Uint8Array;
  pos: number;
  limit: number;
  /** How many messages deep the one being read is nested (0 for the outermost). */
  depth: number;

  /**
   * What bytes fields are views into: by default a private copy of `buf`, made when the first bytes
   * field is read (one pooled copy per decoded message costs far less than one ArrayBuffer per
   * field, and decoded objects never alias the caller's buffer, which a reader may reuse); with
   * `aliasInput`, `buf` itself (as a plain Uint8Array), set from the start.
   */
  private copy: Uint8Array | undefined;

  /**
   * A cursor over all of `bytes`. With `aliasInput`, bytes fields are views into `bytes` rather than
   * into a copy of it: the caller owns `bytes` and never writes to it again (decode.ts, DecodeOptions).
   */
  constructor(bytes: Uint8Array, aliasInput = false) {
    this.buf = bytes;
    this.pos = 0;
    this.limit = bytes.length;
    this.depth = 0;
    // A plain Uint8Array (even if the input is a Node Buffer), so the subarrays handed out are too.
    this.copy = !aliasInput
      ? undefined
      : bytes.constructor === Uint8Array
        ? bytes
        : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Reads a field tag, or throws if it is malformed. `msg` names the message being read, for errors.
   * Returns the raw tag: the field number is `tag >>> 3`, the wire type `tag & 7`.
   */
  tag(msg: string): number {
    // Callers loop while pos < limit, so the first byte is there.
    const pos = this.pos;
    const b = this.buf[pos]!;
    if (b < 0x80 && b >= 8) {
      this.pos = pos + 1;
      return b;
    }
    const t = this.varint(msg, "tag");
    if (t > 0xffffffff || t >>> 3 === 0) {
      throw decodeError(`${msg}: invalid field number ${Math.floor(t / 8)} at offset ${pos}`);
    }
    return t;
  }

  /**
   * Reads a uint64 varint as a number. `what` names the field ("Message.term") for errors: a value
   * above Number.MAX_SAFE_INTEGER, a varint longer than 64 bits and running out of input all throw.
   */
  uint64(what: string): number {
    const buf = this.buf;
    const pos = this.pos;
    if (pos < this.limit) {
      const b = buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    return this.varint(what, "");
  }

  /** Reads an enum (an int32 varint) as a number; negative or out-of-range values throw. */
  enumValue(what: string): number {
    const start = this.pos;
    const v = this.uint64(what);
    if (v > 0x7fffffff) throw decodeError(`${what}: enum value ${v} out of range at offset ${start}`);
    return v;
  }

  /** Reads a bool varint: any non-zero value is true (as protobuf decoders agree). */
  bool(what: string): boolean {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    let any = false;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.limit) throw truncated(what, start);
      const b = buf[pos++]!;
      if ((b & 0x7f) !== 0) any = true;
      if (b < 0x80) {
        this.pos = pos;
        return any;
      }
    }
    throw decodeError(`${what}: varint longer than 10 bytes at offset ${start}`);
  }

  /**
   * Reads the length prefix of a length-delimited field and returns the position just past its
   * payload, checking that the payload lies within the current message.
   */
  lenEnd(what: string): number {
    const start = this.pos;
    const n = this.uint64(what);
    const end = this.pos + n;
    if (end > this.limit) {
      throw decodeError(
        `${what}: length ${n} at offset ${start} runs past the end (${this.limit - this.pos} bytes left)`,
      );
    }
    return end;
  }

  /**
   * Reads a bytes field: a view into the private copy of the input, or into the input itself with
   * `aliasInput` (see `copy`); an empty field gives the shared EMPTY_BYTES.
   */
  bytes(what: string): Uint8Array {
    const end = this.lenEnd(what);
    const start = this.pos;
    this.pos = end;
    if (end === start) return EMPTY_BYTES;
    let copy = this.copy;
    if (copy === undefined) {
      // A plain Uint8Array (even if the input is a Node Buffer), so the subarrays handed out are too.
      copy = this.copy = alloc(this.buf.length);
      copy.set(this.buf);
    }
    return copy.subarray(start, end);
  }

  /** Enters a nested message of the given end (from {@link lenEnd}); returns the limit to restore. */
  enter(what: string, end: number): number {
    if (++this.depth > MAX_DEPTH) throw decodeError(`${what}: messages nested more than ${MAX_DEPTH} deep`);
    const saved = this.limit;
    this.limit = end;
    return saved;
  }

  /** Leaves a nested message entered with {@link enter}. */
  leave(saved: number): void {
    this.depth--;
    this.limit = saved;
  }

  /**
   * Handles a tag that matched none of a message's fields: a known field number with the wrong wire
   * type throws (the input is not what raft.proto describes), any other field is skipped. `fields` names
   * the message's fields by number ("" for unused numbers).
   */
  other(msg: string, tag: number, fields: readonly string[]): void {
    const name = fields[tag >>> 3];
    if (name !== undefined && name !== "") {
      throw decodeError(`${msg}.${name}: wrong wire type ${tag & 7} at offset ${this.pos}`);
    }
    this.skip(msg, tag);
  }

  /**
   * Skips the payload of a field this codec does not know (proto2 readers must ignore unknown fields).
   * `tag` is the field's tag, already read.
   */
  skip(msg: string, tag: number): void {
    const wt = tag & 7;
    const start = this.pos;
    switch (wt) {
      case WIRE.VARINT:
        this.bool(msg); // any varint up to 64 bits; its value is not needed
        return;
      case WIRE.FIXED64:
        this.advance(msg, 8, start);
        return;
      case WIRE.LEN:
        this.pos = this.lenEnd(msg);
        return;
      case WIRE.FIXED32:
        this.advance(msg, 4, start);
        return;
      case WIRE.START_GROUP: {
        // A (deprecated) group: skip fields until the END_GROUP with the same field number.
        const saved = this.enter(msg, this.limit);
        for (;;) {
          if (this.pos >= this.limit) throw truncated(msg, start);
          const t = this.tag(msg);
          if ((t & 7) === WIRE.END_GROUP) {
            if (t >>> 3 !== tag >>> 3) {
              throw decodeError(`${msg}: mismatched end of group at offset ${start}`);
            }
            break;
          }
          this.skip(msg, t);
        }
        this.leave(saved);
        return;
      }
      case WIRE.END_GROUP:
        throw decodeError(`${msg}: unexpected end of group (field ${tag >>> 3}) at offset ${start}`);
      default:
        throw decodeError(`${msg}: invalid wire type ${wt} (field ${tag >>> 3}) at offset ${start}`);
    }
  }

  private advance(what: string, n: number, start: number): void {
    if (this.pos + n > this.limit) throw truncated(what, start);
    this.pos += n;
  }

  /** The general varint path: multi-byte values, bounds and overflow checks. */
  private varint(what: string, kind: string): number {
    const buf = this.buf;
    const limit = this.limit;
    const start = this.pos;
    let pos = start;
    let v = 0;
    // The first four 7-bit groups fit a 32-bit integer; past them, accumulate in floating point,
    // which stays exact up to 2^53 and, summing non-negative terms, never rounds a larger value below it.
    for (let shift = 0; ; shift += 7) {
      if (pos >= limit) throw truncated(kind === "" ? what : `${what} ${kind}`, start);
      const b = buf[pos++]!;
      v = shift < 28 ? v | ((b & 0x7f) << shift) : v + (b & 0x7f) * 2 ** shift;
      if (b < 0x80) {
        if (shift === 63 && b > 1) break; // the 10th byte may carry only the 64th bit
        if (v > Number.MAX_SAFE_INTEGER) {
          throw decodeError(`${what}: ${exactValue(buf, start, pos)} exceeds 2^53-1`);
        }
        this.pos = pos;
        return v;
      }
      if (shift === 63) break;
    }
    throw decodeError(`${what}: varint overflows 64 bits at offset ${start}`);
  }
}

function truncated(what: string, offset: number): RaftError {
  return decodeError(`${what}: unexpected end of input at offset ${offset}`);
}

/** The exact decimal value of the varint in buf[start, end), for error messages. */
function exactValue(buf: Uint8Array, start: number, end: number): string {
  let v = 0n;
  for (let i = end - 1; i >= start; i--) v = (v << 7n) | BigInt(buf[i]! & 0x7f);
  return v.toString();
}

/**
 * The error for a number the encoder may not write as a uint64 (anything but a non-negative safe
 * integer): encoding it would silently put a different number on the wire. A programming error, so a
 * RangeError rather than a RaftError.
 */
export function badNumber(what: string, v: number): RangeError {
  return new RangeError(`raftpb: ${what}: ${v} is not a non-negative safe integer`);
}
