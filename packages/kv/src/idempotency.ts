/**
 * Idempotency keys: a write that carries a key (HTTP `Idempotency-Key` on `PUT`, `DELETE` and
 * `POST /txn`) is applied at most once, however often it is retried, and every retry answers what
 * the first attempt would have (Raft thesis §6.3, client sessions, with one key per request in place
 * of a session's sequence numbers). The state machine records each key with the entry's index, a
 * digest of the request and the result (a transaction's whole result, its gets included:
 * txn-result-codec.ts, which bounds it), in the same transaction as the write
 * (sqlite-idempotency.ts); an entry whose key is recorded changes nothing and returns the recorded
 * result.
 *
 * Records expire by log index, never by wall clock: a record made at index i answers retries up
 * to index i + {@link IDEMPOTENCY_WINDOW} and is forgotten after that (every member applies the same entries,
 * so every member forgets the same records at the same index, and images carry them). A retry
 * must come within that many entries of its first attempt; the window must be the same on every
 * member (it is a constant, not a flag, for that reason).
 *
 * On the wire of the log, an idempotent command is an envelope around the command's own encoding:
 *
 * ```
 * byte 0        0x49 ('I'; a command's own first byte is its version, 1)
 * uvarint+bytes the key
 * bytes         the command (command.ts)
 * ```
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-errors.js";
import type { ApplyResult } from "./sqlite-state-machine.js";
import { Reader, Writer } from "./txn-command.js";
import { readTxnResult, writeTxnResult } from "./txn-result-codec.js";

/** The request header that carries the key. */
export const IDEMPOTENCY_HEADER = "idempotency-key";
/** The response header that marks an answer replayed from the first attempt's record. */
export const REPLAYED_HEADER = "idempotent-replayed";
/** The longest key accepted, in bytes (printable ASCII only). */
export const MAX_IDEMPOTENCY_KEY_BYTES = 128;
/**
 * Log entries a key is remembered for after the entry that recorded it (at 10,000 writes/s, 10 s;
 * at 1,000, 100 s). A retry later than that may apply again.
 */
export const IDEMPOTENCY_WINDOW = 100_000;

const ENVELOPE = 0x49;
const KEY_PATTERN = /^[\x21-\x7e]+$/;

/** The key of a request, or undefined if it has none; 400 if it is malformed. */
export function idempotencyKeyOf(req: IncomingMessage): Uint8Array | undefined {
  const v = req.headers[IDEMPOTENCY_HEADER];
  if (v === undefined) return undefined;
  if (Array.isArray(v) || v.length > MAX_IDEMPOTENCY_KEY_BYTES || !KEY_PATTERN.test(v)) {
    throw new HttpError(
      400,
      "InvalidIdempotencyKey",
      `Idempotency-Key must be one value of 1 to ${MAX_IDEMPOTENCY_KEY_BYTES} printable ASCII characters`,
    );
  }
  return Buffer.from(v, "latin1");
}

/** Wraps an encoded command with its idempotency key (see the file comment). */
export function encodeIdempotent(key: Uint8Array, command: Uint8Array): Uint8Array {
  const head: number[] = [ENVELOPE];
  let n = key.length;
  while (n >= 128) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  const out = new Uint8Array(head.length + key.length + command.length);
  out.set(head, 0);
  out.set(key, head.length);
  out.set(command, head.length + key.length);
  return out;
}

/** An idempotent command's key and command; undefined if `data` is not one (a plain command). */
export function decodeIdempotent(data: Uint8Array): { key: Uint8Array; command: Uint8Array } | undefined {
  if (data.length === 0 || data[0] !== ENVELOPE) return undefined;
  let n = 0;
  let p = 1;
  for (let shift = 0; ; shift += 7) {
    if (p >= data.length || shift > 28) return undefined;
    const b = data[p++]!;
    n += (b & 0x7f) * 2 ** shift;
    if (b < 128) break;
  }
  if (n === 0 || n > MAX_IDEMPOTENCY_KEY_BYTES || p + n > data.length) return undefined;
  return { key: data.subarray(p, p + n), command: data.subarray(p + n) };
}

/** What is recorded of a request with its key: tells a retry from another request reusing the key. */
export function requestDigest(command: Uint8Array): Buffer {
  return createHash("sha256").update(command).digest().subarray(0, 16);
}

/** The header that marks `result` as the first attempt's, replayed (none if it is not a replay). */
export function replayedHeaders(result: ApplyResult): Record<string, string> {
  return "replayed" in result && result.replayed === true ? { [REPLAYED_HEADER]: "true" } : {};
}

/** The answer (422) to a request whose key the cluster recorded for another request. */
export function keyReusedError(): HttpError {
  return new HttpError(
    422,
    "IdempotencyKeyReused",
    "this Idempotency-Key was used for another request (within the last entries the cluster remembers)",
  );
}

/*
 * Recorded results: byte 0 is the kind. Kinds 1 to 3 are those of puts and deletes (the first
 * release); 4 and 5 came with keyed transactions, so records written before still decode.
 */
const RESULT_OK = 1;
const RESULT_COMPARE_FAILED = 2;
const RESULT_INVALID = 3;
/** A transaction's result: txn-result-codec.ts's layout. */
const RESULT_TXN = 4;
/** A keyed transaction refused for its result's size: uvarint the encoded size. */
const RESULT_TXN_TOO_LARGE = 5;

/** A result as the idempotency record stores it. */
export function encodeResult(r: ApplyResult): Buffer {
  switch (r.kind) {
    case "ok": {
      const b = Buffer.alloc(9);
      b[0] = RESULT_OK;
      b.writeBigUInt64BE(BigInt(r.revision), 1);
      return b;
    }
    case "compare-failed":
      return r.current === undefined
        ? Buffer.from([RESULT_COMPARE_FAILED, 0])
        : Buffer.concat([Buffer.from([RESULT_COMPARE_FAILED, 1]), r.current]);
    case "invalid":
      return Buffer.concat([Buffer.from([RESULT_INVALID]), Buffer.from(r.error, "utf8")]);
    case "key-reused":
      throw new Error("kv: a key-reused result is never recorded");
    case "txn":
    case "txn-too-large": {
      const w = new Writer();
      if (r.kind === "txn") {
        w.byte(RESULT_TXN);
        writeTxnResult(w, r.result);
      } else {
        w.byte(RESULT_TXN_TOO_LARGE);
        w.uvarint(r.bytes);
      }
      const out = w.finish();
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    }
  }
}

/** The recorded result, marked as a replay. Throws on bytes {@link encodeResult} did not write. */
export function decodeResult(b: Uint8Array): ApplyResult {
  switch (b[0]) {
    case RESULT_OK: {
      if (b.length !== 9) throw new Error(`kv: a recorded ok result of ${b.length} bytes`);
      const v = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      return { kind: "ok", revision: Number(v.readBigUInt64BE(1)), replayed: true };
    }
    case RESULT_COMPARE_FAILED:
      return {
        kind: "compare-failed",
        current: b[1] === 1 ? Buffer.from(b.subarray(2)) : undefined,
        replayed: true,
      };
    case RESULT_INVALID:
      return { kind: "invalid", error: Buffer.from(b.subarray(1)).toString("utf8") };
    case RESULT_TXN:
    case RESULT_TXN_TOO_LARGE: {
      const r = new Reader(b);
      r.byte("result kind");
      const out: ApplyResult =
        b[0] === RESULT_TXN
          ? { kind: "txn", result: readTxnResult(r), replayed: true }
          : { kind: "txn-too-large", bytes: r.uvarint("size"), replayed: true };
      r.end();
      return out;
    }
    default:
      throw new Error(`kv: unknown recorded result kind ${b[0]}`);
  }
}
