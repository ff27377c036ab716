/**
 * The multi-key operations of a chaos run (lincheck/kv-group-model.ts): `POST /txn` on a group's
 * two keys and a range over a group read a page at a time, turned into history entries by the
 * same rules as the single-key operations (workload.ts): an answer is recorded as seen; a 503 that
 * promises nothing was proposed, a refused connection, or a read without an answer is left out; a
 * transaction without a definite answer is recorded with an unknown outcome. In the retrying mode a
 * transaction carries an Idempotency-Key and is sent again with it (workload.ts).
 */
import type { Agent } from "node:http";
import {
  GROUP_SUCCEEDED,
  GROUP_UNKNOWN,
  type GroupInput,
  type GroupOperation,
  type GroupOutput,
  groupValues,
} from "../lincheck/kv-group-model.js";
import { UNKNOWN_RETURN } from "../lincheck/model.js";
import { errorCodeOf, httpRequest } from "./http-client.js";
import type { Outcome, OutcomeKind } from "./workload.js";

/** 503 codes after which the server guarantees nothing was proposed. */
const NOT_PROPOSED = new Set(["NoLeader", "ProposalDropped", "TooManyRequests"]);

/** The keys of group `g`. */
export const groupKeys = (g: string) => [`${g}/a`, `${g}/b`] as const;

/** One group operation's outcome (see workload.ts's ClientOutcome). */
export type GroupOutcome = Outcome<GroupInput, GroupOutput>;

interface KvJson {
  key: string;
  value: string;
}

/** Runs `input` on the node listening on `port` (a transaction with `idempotencyKey`, if given). */
export async function executeGroupOp(
  input: GroupInput,
  o: {
    port: number;
    agent: Agent;
    timeoutMs: number;
    now: () => number;
    clientId: number;
    idempotencyKey?: string | undefined;
  },
): Promise<GroupOutcome> {
  const [a, b] = groupKeys(input.group);
  const call = o.now();
  const record = (output: GroupOutput, known = true): GroupOperation => ({
    clientId: o.clientId,
    input,
    call,
    return: known ? o.now() : UNKNOWN_RETURN,
    output,
  });
  const done = (op: GroupOperation | undefined, kind: OutcomeKind, detail: string): GroupOutcome => ({
    op,
    kind,
    detail,
    input,
    clientId: o.clientId,
  });
  const get = (path: string) =>
    httpRequest({ method: "GET", port: o.port, path, timeoutMs: o.timeoutMs, agent: o.agent });

  if (input.type === "range") {
    // Two pages of one key: the second at the first one's revision, whatever was written between.
    const q = `/kv?prefix=${encodeURIComponent(`${input.group}/`)}&limit=1`;
    const first = await get(q);
    if (first.kind === "failure") return done(undefined, "failed", first.error);
    if (first.status !== 200) return readFailure(first.status, first.body, done);
    const p1 = JSON.parse(first.body) as { revision: number; kvs: KvJson[]; more: boolean; next?: string };
    const kvs = [...p1.kvs];
    if (p1.more && p1.next !== undefined) {
      const second = await get(`${q}&after=${encodeURIComponent(p1.next)}&revision=${p1.revision}`);
      if (second.kind === "failure") return done(undefined, "failed", second.error);
      if (second.status !== 200) return readFailure(second.status, second.body, done);
      kvs.push(...(JSON.parse(second.body) as { kvs: KvJson[] }).kvs);
    }
    const other = kvs.filter((k) => k.key !== a && k.key !== b);
    if (other.length > 0 || kvs.length > 2)
      return done(undefined, "unexpected", `range ${input.group}/: keys ${JSON.stringify(kvs)}`);
    const value = (k: string) => kvs.find((x) => x.key === k)?.value ?? null;
    return done(record({ type: "range", a: value(a), b: value(b) }), "value", "200");
  }

  const v = groupValues(input.value);
  const body = JSON.stringify({
    compare: [
      input.prev === null
        ? { key: a, target: "exists", value: false }
        : { key: a, target: "value", value: input.prev },
    ],
    success: [
      { op: "put", key: a, value: v.a },
      { op: "put", key: b, value: v.b },
    ],
    failure: [
      { op: "get", key: a },
      { op: "get", key: b },
    ],
  });
  const r = await httpRequest({
    method: "POST",
    port: o.port,
    path: "/txn",
    body,
    timeoutMs: o.timeoutMs,
    agent: o.agent,
    ...(o.idempotencyKey !== undefined ? { headers: { "idempotency-key": o.idempotencyKey } } : {}),
  });
  if (r.kind === "failure") {
    if (r.refused) return done(undefined, "failed", r.error);
    return done(record(GROUP_UNKNOWN, false), "ambiguous", r.error);
  }
  const code = r.status >= 400 ? errorCodeOf(r.body) : undefined;
  const detail = `${r.status}${code ? ` ${code}` : ""}`;
  if (r.status === 200) {
    const t = JSON.parse(r.body) as { succeeded: boolean; results: { kv?: KvJson | null }[] };
    if (t.succeeded) return done(record(GROUP_SUCCEEDED), "ok", detail);
    const [ra, rb] = t.results;
    return done(
      record({ type: "failed", a: ra?.kv?.value ?? null, b: rb?.kv?.value ?? null }),
      "mismatch",
      detail,
    );
  }
  if (r.status === 503 && code !== undefined && NOT_PROPOSED.has(code))
    return done(undefined, "failed", detail);
  if (r.status === 503 || r.status === 504) return done(record(GROUP_UNKNOWN, false), "ambiguous", detail);
  return done(record(GROUP_UNKNOWN, false), "unexpected", `POST /txn: ${detail} ${r.body}`);
}

function readFailure(
  status: number,
  body: string,
  done: (op: undefined, kind: OutcomeKind, detail: string) => GroupOutcome,
): GroupOutcome {
  // A read that did not complete changed nothing; only an answer the API does not give is reported.
  if (status === 503 || status === 504 || status === 410) return done(undefined, "failed", String(status));
  return done(undefined, "unexpected", `range: ${status} ${body}`);
}
