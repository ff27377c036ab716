/**
 * The commands added with revisions (issue 16), in entries beside command.ts's put and delete:
 * a transaction, and a compaction of the history. They are written with format version 2 (byte 0);
 * put and delete keep version 1's encoding, so the entries of the hot path are unchanged and a log
 * written before still decodes. {@link decodeKvCommand} reads both.
 *
 * ```
 * byte 0      format version (2)
 * byte 1      op: 3 transaction, 4 compaction
 * transaction:
 *   byte 2    flags (0)
 *   uvarint   number of compares, then each: u8 target (1 value, 2 version, 3 mod, 4 create,
 *             5 exists), u8 operator (1 =, 2 !=, 3 <, 4 >), uvarint+bytes key, then the operand:
 *             uvarint+bytes (value), uvarint (version, mod, create) or u8 0/1 (exists)
 *   uvarint   number of `success` operations, then each: u8 op (1 put, 2 delete, 3 get),
 *             uvarint+bytes key, uvarint+bytes value (put only)
 *   uvarint   number of `failure` operations, the same way
 * compaction:
 *   uvarint   the revision to compact the history up to (inclusive)
 * ```
 */
import { type Command, CommandDecodeError, decodeCommand } from "./command.js";
import {
  type Compare,
  type CompareOp,
  type CompareTarget,
  type Txn,
  type TxnOp,
  validateTxn,
} from "./txn.js";

/** Every command a KV entry may hold. */
export type KvCommand =
  | Command
  | { readonly op: "txn"; readonly txn: Txn }
  /** Drop the history at or below `revision` (mvcc-store.ts, "Compaction"). */
  | { readonly op: "compact"; readonly revision: number };

/** The format version of transactions and compactions. */
export const KV_COMMAND_VERSION = 2;
const OP_TXN = 3;
const OP_COMPACT = 4;
const TARGETS: readonly CompareTarget[] = ["value", "version", "mod", "create", "exists"];
const OPS: readonly CompareOp[] = ["=", "!=", "<", ">"];
const TXN_OPS = ["put", "delete", "get"] as const;

/** Encodes a transaction for `RaftNode.propose`. Throws a TxnError if it breaks a rule of validateTxn. */
export function encodeTxnCommand(txn: Txn): Uint8Array {
  validateTxn(txn);
  const w = new Writer();
  w.byte(KV_COMMAND_VERSION);
  w.byte(OP_TXN);
  w.byte(0);
  w.uvarint(txn.compare.length);
  for (const c of txn.compare) {
    w.byte(TARGETS.indexOf(c.target) + 1);
    w.byte(OPS.indexOf(c.op) + 1);
    w.bytes(c.key);
    if (c.target === "value") w.bytes(c.value);
    else if (c.target === "exists") w.byte(c.exists ? 1 : 0);
    else w.uvarint(c.number);
  }
  for (const ops of [txn.success, txn.failure]) {
    w.uvarint(ops.length);
    for (const o of ops) {
      w.byte(TXN_OPS.indexOf(o.op) + 1);
      w.bytes(o.key);
      if (o.op === "put") w.bytes(o.value);
    }
  }
  return w.finish();
}

/** Encodes a compaction of the history up to `revision`. */
export function encodeCompactCommand(revision: number): Uint8Array {
  if (!Number.isSafeInteger(revision) || revision < 0) throw new RangeError(`compact revision ${revision}`);
  const w = new Writer();
  w.byte(KV_COMMAND_VERSION);
  w.byte(OP_COMPACT);
  w.uvarint(revision);
  return w.finish();
}

/**
 * Decodes an entry's data, of either format version. Throws {@link CommandDecodeError} on anything
 * malformed (and on a transaction that breaks a rule of validateTxn); fields are views into `data`.
 */
export function decodeKvCommand(data: Uint8Array): KvCommand {
  if (data[0] !== KV_COMMAND_VERSION) return decodeCommand(data);
  const r = new Reader(data);
  r.byte("version");
  const op = r.byte("op");
  let cmd: KvCommand;
  if (op === OP_COMPACT) cmd = { op: "compact", revision: r.uvarint("revision") };
  else if (op === OP_TXN) cmd = { op: "txn", txn: decodeTxn(r) };
  else throw new CommandDecodeError(`unknown command op ${op}`);
  r.end();
  return cmd;
}

function decodeTxn(r: Reader): Txn {
  const flags = r.byte("flags");
  if (flags !== 0) throw new CommandDecodeError(`unknown transaction flags ${flags}`);
  const compare: Compare[] = [];
  for (let n = r.count("compares"); n > 0; n--) {
    const target = TARGETS[r.byte("compare target") - 1];
    const op = OPS[r.byte("compare operator") - 1];
    if (target === undefined || op === undefined) throw new CommandDecodeError("bad compare");
    const key = r.bytes("compare key");
    if (target === "value") compare.push({ key, target, op, value: r.bytes("compare value") });
    else if (target === "exists") {
      const b = r.byte("exists");
      if (b > 1 || (op !== "=" && op !== "!=")) throw new CommandDecodeError("bad exists compare");
      compare.push({ key, target, op, exists: b === 1 });
    } else compare.push({ key, target, op, number: r.uvarint("compare operand") });
  }
  const branch = (what: string): TxnOp[] => {
    const ops: TxnOp[] = [];
    for (let n = r.count(what); n > 0; n--) {
      const op = TXN_OPS[r.byte(`${what} op`) - 1];
      if (op === undefined) throw new CommandDecodeError(`bad ${what} op`);
      const key = r.bytes(`${what} key`);
      ops.push(op === "put" ? { op, key, value: r.bytes(`${what} value`) } : { op, key });
    }
    return ops;
  };
  const txn: Txn = { compare, success: branch("success"), failure: branch("failure") };
  try {
    validateTxn(txn);
  } catch (err) {
    throw new CommandDecodeError((err as Error).message);
  }
  return txn;
}

/** Builds a byte string of bytes, uvarints and length-prefixed fields (also txn-result-codec.ts's). */
export class Writer {
  private buf = new Uint8Array(64);
  private n = 0;

  byte(b: number): void {
    this.room(1);
    this.buf[this.n++] = b;
  }

  uvarint(v: number): void {
    this.room(8);
    while (v >= 128) {
      this.buf[this.n++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.n++] = v;
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }
}

/** Reads what {@link Writer} wrote; throws a CommandDecodeError on truncated or malformed bytes. */
export class Reader {
  private p = 0;
  constructor(private readonly data: Uint8Array) {}

  byte(what: string): number {
    if (this.p >= this.data.length) throw new CommandDecodeError(`${what} truncated`);
    return this.data[this.p++]!;
  }

  uvarint(what: string): number {
    let n = 0;
    let mul = 1;
    for (let shift = 0; ; shift += 7) {
      if (this.p >= this.data.length || shift > 49) throw new CommandDecodeError(`bad ${what}`);
      const b = this.data[this.p++]!;
      n += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 128) break;
    }
    if (!Number.isSafeInteger(n)) throw new CommandDecodeError(`bad ${what}`);
    return n;
  }

  /** A count of items, each at least 2 bytes: more than the bytes left is corrupt, not a huge allocation. */
  count(what: string): number {
    const n = this.uvarint(`${what} count`);
    if (n > this.data.length - this.p) throw new CommandDecodeError(`bad ${what} count ${n}`);
    return n;
  }

  bytes(what: string): Uint8Array {
    const n = this.uvarint(`${what} length`);
    if (n > this.data.length - this.p) throw new CommandDecodeError(`${what} truncated`);
    const out = this.data.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }

  end(): void {
    if (this.p !== this.data.length)
      throw new CommandDecodeError(`${this.data.length - this.p} trailing bytes`);
  }
}
