/**
 * `POST /txn`: a transaction (txn.ts) as JSON. The request:
 *
 * ```json
 * {
 *   "compare": [{ "key": "counter", "target": "mod", "op": "=", "value": 7 }],
 *   "success": [{ "op": "put", "key": "counter", "value": "42" }],
 *   "failure": [{ "op": "get", "key": "counter" }]
 * }
 * ```
 *
 * A compare has `key`, `target` (`value`, `version`, `mod`, `create`, `exists`), `op` (`=`, `!=`,
 * `<`, `>`; default `=`) and `value`: a string (or `valueBase64`) for `value`, a number for
 * `version`/`mod`/`create`, a boolean for `exists`. An operation is `{"op": "put", "key", "value"}`
 * (or `valueBase64`), `{"op": "delete", "key"}` or `{"op": "get", "key"}`. Every list may be
 * left out (empty). The answer, 200: `{"succeeded", "revision", "results": [...]}`, one result per
 * operation of the branch that ran: `{"op": "put"}`, `{"op": "delete", "deleted"}`,
 * `{"op": "get", "kv": {...} | null}` (kv-json.ts). A transaction whose branches only read is
 * answered from a linearizable read (no log entry); `?consistency=serializable` reads this node's
 * applied state.
 *
 * **`Idempotency-Key`** (idempotency.ts), as on `PUT` and `DELETE`: a transaction that writes is
 * applied at most once per key, and a retry answers exactly what the first attempt did (every
 * result, gets included) with `Idempotent-Replayed: true`; the key on another request is refused
 * (422 `IdempotencyKeyReused`). A transaction whose result would be larger than a record keeps
 * (txn-result-codec.ts, 4 MiB of gets) is not applied: 422 `TxnResultTooLarge`. A transaction that
 * only reads writes nothing and has no log entry, so its key is checked but nothing is recorded:
 * a retry reads again.
 */

import type { Ctx, RouteDeps } from "./http.js";
import { allow, onlyParams } from "./http.js";
import { HttpError } from "./http-errors.js";
import { readBody, sendJson } from "./http-io.js";
import { encodeIdempotent, idempotencyKeyOf, keyReusedError, replayedHeaders } from "./idempotency.js";
import { keyValueJson, REVISION_HEADER, readBytesField } from "./kv-json.js";
import {
  type Compare,
  type CompareOp,
  type CompareTarget,
  isReadOnly,
  type Txn,
  TxnError,
  type TxnOp,
  type TxnResult,
  validateTxn,
} from "./txn.js";
import { encodeTxnCommand } from "./txn-command.js";
import { MAX_RECORDED_TXN_RESULT_BYTES } from "./txn-result-codec.js";

const TARGETS: readonly CompareTarget[] = ["value", "version", "mod", "create", "exists"];
const OPS: readonly CompareOp[] = ["=", "!=", "<", ">"];

/** Handles `POST /txn`. */
export async function handleTxn(c: Ctx, d: RouteDeps): Promise<void> {
  allow(c, ["POST"]);
  onlyParams(c, ["consistency"]);
  const consistency = c.query.get("consistency") ?? "linearizable";
  if (consistency !== "linearizable" && consistency !== "serializable") {
    throw new HttpError(400, "BadQuery", "consistency must be linearizable or serializable");
  }
  const txn = parseTxn(await readBody(c.req, d.maxBody));
  const idem = idempotencyKeyOf(c.req);
  let result: TxnResult;
  let replayed: Record<string, string> = {};
  if (isReadOnly(txn)) {
    if (consistency === "linearizable")
      await d.node.linearizableRead({ timeoutMs: d.waitMs, signal: c.signal });
    result = d.store.readTxn(txn);
  } else {
    if (consistency !== "linearizable") {
      throw new HttpError(400, "BadQuery", "a transaction that writes is always linearizable");
    }
    const command = encodeTxnCommand(txn);
    const data = idem === undefined ? command : encodeIdempotent(idem, command);
    const r = await d.node.propose(data, { timeoutMs: d.waitMs, signal: c.signal });
    replayed = replayedHeaders(r);
    switch (r.kind) {
      case "txn":
        result = r.result;
        break;
      case "key-reused":
        throw keyReusedError();
      case "txn-too-large":
        throw new HttpError(
          422,
          "TxnResultTooLarge",
          `a transaction with an Idempotency-Key may return at most ${MAX_RECORDED_TXN_RESULT_BYTES} bytes (its result is recorded for its retries); this one would return ${r.bytes}: it was not applied`,
          { bytes: r.bytes, limit: MAX_RECORDED_TXN_RESULT_BYTES },
          replayed,
        );
      default:
        throw new HttpError(500, "ApplyFailed", `unexpected apply result ${JSON.stringify(r)}`);
    }
  }
  sendJson(c.res, 200, txnResultJson(result), { [REVISION_HEADER]: String(result.revision), ...replayed });
}

/** A transaction's result as the JSON `POST /txn` answers. */
export function txnResultJson(r: TxnResult): Record<string, unknown> {
  return {
    succeeded: r.succeeded,
    revision: r.revision,
    results: r.results.map((x) =>
      x.op === "get" ? { op: "get", kv: x.kv === undefined ? null : keyValueJson(x.kv) } : x,
    ),
  };
}

/** Parses and validates a transaction; 400 with what is wrong and where. */
export function parseTxn(body: Buffer): Txn {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "InvalidJSON", "body is not valid JSON");
  }
  const o = object(v, "the transaction");
  onlyFields(o, ["compare", "success", "failure"], "the transaction");
  const txn: Txn = {
    compare: list(o.compare, "compare").map((x, i) => parseCompare(x, `compare[${i}]`)),
    success: list(o.success, "success").map((x, i) => parseOp(x, `success[${i}]`)),
    failure: list(o.failure, "failure").map((x, i) => parseOp(x, `failure[${i}]`)),
  };
  try {
    validateTxn(txn);
  } catch (err) {
    if (err instanceof TxnError) throw new HttpError(400, "InvalidTxn", err.message);
    throw err;
  }
  return txn;
}

function parseCompare(v: unknown, where: string): Compare {
  const o = object(v, where);
  onlyFields(o, ["key", "target", "op", "value", "valueBase64"], where);
  const key = readBytesField(o, "key", where);
  const target = o.target as CompareTarget;
  if (!TARGETS.includes(target)) throw invalid(`${where}: target must be one of ${TARGETS.join(", ")}`);
  const op = (o.op ?? "=") as CompareOp;
  if (!OPS.includes(op)) throw invalid(`${where}: op must be one of ${OPS.join(" ")}`);
  switch (target) {
    case "value":
      return { key, target, op, value: readBytesField(o, "value", where) };
    case "exists":
      if (typeof o.value !== "boolean") throw invalid(`${where}: an exists compare's value is true or false`);
      if (op !== "=" && op !== "!=") throw invalid(`${where}: an exists compare takes = or !=`);
      return { key, target, op, exists: o.value };
    default:
      if (typeof o.value !== "number" || !Number.isSafeInteger(o.value) || o.value < 0) {
        throw invalid(`${where}: a ${target} compare's value is a non-negative integer`);
      }
      return { key, target, op, number: o.value };
  }
}

function parseOp(v: unknown, where: string): TxnOp {
  const o = object(v, where);
  switch (o.op) {
    case "put":
      onlyFields(o, ["op", "key", "value", "valueBase64"], where);
      return { op: "put", key: readBytesField(o, "key", where), value: readBytesField(o, "value", where) };
    case "delete":
    case "get":
      onlyFields(o, ["op", "key"], where);
      return { op: o.op, key: readBytesField(o, "key", where) };
    default:
      throw invalid(`${where}: op must be put, delete or get`);
  }
}

function invalid(message: string): HttpError {
  return new HttpError(400, "InvalidTxn", message);
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw invalid(`${where} must be a JSON object`);
  return v as Record<string, unknown>;
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(`${where} must be an array`);
  return v;
}

/** Refuses fields other than `names` (a typo must not silently change a transaction). */
function onlyFields(o: Record<string, unknown>, names: string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!names.includes(k)) throw invalid(`${where}: unknown field ${JSON.stringify(k)}`);
  }
}
