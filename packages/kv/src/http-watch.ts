/**
 * `GET /watch`: the changes to a range of keys as Server-Sent Events (text/event-stream), from a
 * revision on (watch-hub.ts has how they are produced).
 *
 * - which keys: `prefix=P`, or `key=K` (that key alone), or neither (every key);
 * - from which revision: `from=R`, or the request's `Last-Event-ID` header (an EventSource
 *   reconnecting sends the last `id:` it received: the stream resumes at the next revision; the
 *   header wins over `from`), or else the next revision (only changes to come).
 *
 * The stream: `event: created` (`{"revision", "from", "compactRevision"}`) first; then one event per
 * change, `event: put` (`{"revision", "kind", "key", "value", "createRevision", "modRevision",
 * "version"}`) or `event: delete` (`{"revision", "kind", "key"}`), in revision order, the last event
 * of each revision with `id: <revision>`; `event: progress` (`{"revision"}`, with its `id:`) now and
 * then while nothing matches. It ends with `event: error` (`{"code", "error", ...}`): `Compacted`
 * (`from` is older than the history kept; `compactRevision` says where it starts), `SlowWatcher`
 * (the client did not read its events in time; `revision` says where to resume) or `Stopped` (the
 * server is stopping; resume elsewhere from `revision`).
 */
import type { Ctx, RouteDeps } from "./http.js";
import { allow, onlyParams } from "./http.js";
import { HttpError } from "./http-errors.js";
import { MAX_KEY_BYTES } from "./http-io.js";
import { intParam } from "./http-range.js";
import { type KeyRange, keySuccessor, prefixRange } from "./mvcc-types.js";

/** Handles `GET /watch`. */
export function handleWatch(c: Ctx, d: RouteDeps): void {
  allow(c, ["GET"]);
  onlyParams(c, ["prefix", "key", "from"]);
  if (c.req.method === "HEAD")
    throw new HttpError(405, "MethodNotAllowed", "HEAD not allowed on /watch", {}, { allow: "GET" });
  const prefix = c.query.get("prefix");
  const key = c.query.get("key");
  if (prefix !== null && key !== null) throw new HttpError(400, "BadQuery", "give prefix or key, not both");
  let range: KeyRange | undefined;
  if (prefix !== null) range = prefix === "" ? undefined : prefixRange(checked(prefix, "prefix"));
  else if (key !== null) {
    const k = checked(key, "key");
    if (k.length === 0) throw new HttpError(400, "BadQuery", "key is empty");
    range = { start: k, end: keySuccessor(k) };
  }
  const lastEventId = c.req.headers["last-event-id"];
  let from: number;
  if (typeof lastEventId === "string" && lastEventId !== "") {
    if (!/^[0-9]{1,16}$/.test(lastEventId)) {
      throw new HttpError(
        400,
        "BadQuery",
        `Last-Event-ID must be a revision, got ${JSON.stringify(lastEventId)}`,
      );
    }
    from = Number(lastEventId) + 1;
  } else from = intParam(c.query, "from", 1, Number.MAX_SAFE_INTEGER) ?? d.store.revision() + 1;
  d.watches.watch(c.res, range, from);
}

function checked(v: string, name: string): Uint8Array {
  const bytes = Buffer.from(v, "utf8");
  if (bytes.length > MAX_KEY_BYTES) {
    throw new HttpError(400, "KeyTooLong", `${name} is ${bytes.length} bytes, the limit is ${MAX_KEY_BYTES}`);
  }
  return bytes;
}
