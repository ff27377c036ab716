/**
 * A transaction's result as an idempotency record keeps it (idempotency.ts, result kind 4), so
 * that a retry of a transaction sent with an Idempotency-Key answers exactly what its first attempt
 * did: whether it succeeded, its revision, and every operation's result, get results included
 * (their keys, values and revisions as the transaction saw them). Every integer is a uvarint:
 *
 * ```
 * byte 0        flags: bit 0 = succeeded
 * uvarint       revision
 * uvarint       number of results, then each:
 *   u8          op: 1 put, 2 delete, 3 get
 *   delete:     u8 deleted (0/1)
 *   get:        u8 found (0/1); if found: uvarint+bytes key, uvarint+bytes value,
 *               uvarint createRevision, uvarint modRevision, uvarint version
 * ```
 *
 * **Bounded.** A transaction's writes are bounded by the request size, but its gets are not: up to
 * MAX_TXN_OPS keys read back, each holding a value up to the request limit (1.5 MiB by default,
 * more with `--max-request-bytes`). A record that large would make every image carry it and could
 * pass the largest record an image reader accepts (64 MiB), so a transaction with a key whose
 * encoded result exceeds {@link MAX_RECORDED_TXN_RESULT_BYTES} is not applied: it changes nothing
 * and its answer (and every retry's) is a `txn-too-large` result (sqlite-idempotency.ts). A
 * constant, not a flag, because every member must decide alike.
 */
import type { KeyValue } from "./mvcc-types.js";
import type { TxnOpResult, TxnResult } from "./txn.js";
import type { Reader, Writer } from "./txn-command.js";

/**
 * The largest encoded transaction result an idempotency record keeps (4 MiB: the gets of a
 * transaction may read back two values of the default 1.5 MiB request limit). A transaction sent
 * with an Idempotency-Key that would read more is refused without being applied.
 */
export const MAX_RECORDED_TXN_RESULT_BYTES = 4 * 1024 * 1024;

const OPS = ["put", "delete", "get"] as const;

/** Appends `r` to `w` in the layout of the module comment. */
export function writeTxnResult(w: Writer, r: TxnResult): void {
  w.byte(r.succeeded ? 1 : 0);
  w.uvarint(r.revision);
  w.uvarint(r.results.length);
  for (const x of r.results) {
    w.byte(OPS.indexOf(x.op) + 1);
    if (x.op === "delete") w.byte(x.deleted ? 1 : 0);
    else if (x.op === "get") {
      w.byte(x.kv === undefined ? 0 : 1);
      if (x.kv !== undefined) {
        w.bytes(x.kv.key);
        w.bytes(x.kv.value);
        w.uvarint(x.kv.createRevision);
        w.uvarint(x.kv.modRevision);
        w.uvarint(x.kv.version);
      }
    }
  }
}

/** Reads what {@link writeTxnResult} wrote; throws on malformed bytes. Keys and values are views into the input. */
export function readTxnResult(r: Reader): TxnResult {
  const flags = r.byte("txn result flags");
  if (flags > 1) throw new Error(`kv: recorded txn result flags ${flags}`);
  const revision = r.uvarint("txn result revision");
  const results: TxnOpResult[] = [];
  for (let n = r.count("txn results"); n > 0; n--) {
    const op = OPS[r.byte("txn result op") - 1];
    if (op === undefined) throw new Error("kv: a recorded txn result of an unknown op");
    if (op === "put") results.push({ op });
    else if (op === "delete") results.push({ op, deleted: r.byte("deleted") === 1 });
    else results.push({ op, kv: r.byte("found") === 1 ? readKeyValue(r) : undefined });
  }
  return { succeeded: flags === 1, revision, results };
}

function readKeyValue(r: Reader): KeyValue {
  const key = r.bytes("key");
  const value = r.bytes("value");
  return {
    key,
    value,
    createRevision: r.uvarint("createRevision"),
    modRevision: r.uvarint("modRevision"),
    version: r.uvarint("version"),
  };
}
