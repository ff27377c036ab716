/**
 * `GET /kv?...`: the keys of a range, a page at a time (etcd's Range).
 *
 * - which keys: `prefix=P`, or `from=A` (inclusive) with an optional `to=B` (exclusive), or
 *   neither (every key);
 * - `limit=N` (1 to 10,000; default 1,000) keys per page; a page also ends once its keys and values
 *   reach 4 MiB (with at least one key). `"more": true` says more keys follow: ask again with
 *   `after=<next>` (the page's last key);
 * - `revision=R` reads the range as it was at revision R (any revision from the compact revision
 *   on, mvcc-store.ts): pages read at one revision are consistent with each other whatever is
 *   written meanwhile. Without it a page is read at the current revision, which the answer names
 *   (`"revision"`): pass it with `after` to page consistently. A compacted R answers 410
 *   `Compacted`, a revision not reached yet 400 `FutureRevision`;
 * - `keys_only` leaves the values out, `count_only` answers `{"revision", "count"}` alone;
 * - linearizable (a ReadIndex barrier first) unless `consistency=serializable` (this node's applied
 *   state).
 *
 * The answer, 200: `{"revision", "kvs": [{key, value, createRevision, modRevision, version}],
 * "more", "next"?}` (kv-json.ts for how bytes are written).
 */
import type { Ctx, RouteDeps } from "./http.js";
import { allow, onlyParams } from "./http.js";
import { HttpError } from "./http-errors.js";
import { MAX_KEY_BYTES, sendJson } from "./http-io.js";
import { bytesField, keyValueJson, REVISION_HEADER } from "./kv-json.js";
import { CompactedError, FutureRevisionError, type KeyRange, prefixRange } from "./mvcc-types.js";

/** Keys per page by default, and at most. */
export const DEFAULT_RANGE_LIMIT = 1000;
export const MAX_RANGE_LIMIT = 10_000;
/** A page ends once its keys and values add up to this (with at least one key). */
export const RANGE_PAGE_BYTES = 4 * 1024 * 1024;

const PARAMS = [
  "prefix",
  "from",
  "to",
  "limit",
  "after",
  "keys_only",
  "count_only",
  "revision",
  "consistency",
];

/** Handles `GET /kv` with a range query. */
export async function handleRange(c: Ctx, d: RouteDeps): Promise<void> {
  allow(c, ["GET"]);
  onlyParams(c, PARAMS);
  const q = c.query;
  const range = parseRange(q);
  const limit = intParam(q, "limit", 1, MAX_RANGE_LIMIT) ?? DEFAULT_RANGE_LIMIT;
  const given = intParam(q, "revision", 1, Number.MAX_SAFE_INTEGER);
  const after = keyParam(q, "after");
  const keysOnly = flagParam(q, "keys_only");
  const countOnly = flagParam(q, "count_only");
  const consistency = q.get("consistency") ?? "linearizable";
  if (consistency !== "linearizable" && consistency !== "serializable") {
    throw new HttpError(400, "BadQuery", "consistency must be linearizable or serializable");
  }
  if (consistency === "linearizable")
    await d.node.linearizableRead({ timeoutMs: d.waitMs, signal: c.signal });
  const revision = given ?? d.store.revision();
  try {
    if (countOnly) {
      const count = d.store.countRange(range, revision);
      sendJson(c.res, 200, { revision, count }, { [REVISION_HEADER]: String(revision) });
      return;
    }
    const page = d.store.range({ range, after, limit, maxBytes: RANGE_PAGE_BYTES, keysOnly, revision });
    const last = page.kvs.at(-1);
    sendJson(
      c.res,
      200,
      {
        revision,
        kvs: page.kvs.map((kv) => keyValueJson(kv, keysOnly)),
        more: page.more,
        ...(page.more && last !== undefined ? { next: bytesField("key", last.key).key } : {}),
      },
      { [REVISION_HEADER]: String(revision) },
    );
  } catch (err) {
    throw revisionError(err);
  }
}

/** The HTTP answer for a read at a revision the store cannot serve (or `err` itself). */
export function revisionError(err: unknown): unknown {
  if (err instanceof CompactedError) {
    return new HttpError(410, "Compacted", err.message, {
      revision: err.revision,
      compactRevision: err.compactRevision,
    });
  }
  if (err instanceof FutureRevisionError) {
    return new HttpError(400, "FutureRevision", err.message, {
      revision: err.revision,
      current: err.current,
    });
  }
  return err;
}

function parseRange(q: URLSearchParams): KeyRange {
  const prefix = keyParam(q, "prefix", true);
  const from = keyParam(q, "from", true);
  const to = keyParam(q, "to", true);
  if (prefix !== undefined) {
    if (from !== undefined || to !== undefined)
      throw new HttpError(400, "BadQuery", "give prefix, or from and to, not both");
    return prefixRange(prefix);
  }
  if (to !== undefined && from === undefined) throw new HttpError(400, "BadQuery", "to needs from");
  return { start: from ?? new Uint8Array(0), end: to };
}

/** A key-valued parameter as UTF-8 bytes (at most {@link MAX_KEY_BYTES}); empty allowed where it means "all". */
function keyParam(q: URLSearchParams, name: string, emptyOk = false): Uint8Array | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (v === "" && !emptyOk) throw new HttpError(400, "BadQuery", `${name} is empty`);
  const bytes = Buffer.from(v, "utf8");
  if (bytes.length > MAX_KEY_BYTES) {
    throw new HttpError(400, "KeyTooLong", `${name} is ${bytes.length} bytes, the limit is ${MAX_KEY_BYTES}`);
  }
  return bytes;
}

/** An integer parameter in [min, max], or undefined if absent; 400 otherwise. */
export function intParam(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  const n = /^[0-9]{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new HttpError(
      400,
      "BadQuery",
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/** A flag parameter: absent, or `1`/`true`/empty (`?keys_only`). */
function flagParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === "false" || v === "0") return false;
  if (v === "" || v === "true" || v === "1") return true;
  throw new HttpError(400, "BadQuery", `${name} is a flag: true, false, 1, 0 or empty`);
}
