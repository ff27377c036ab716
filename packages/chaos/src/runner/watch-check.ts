/**
 * The watches of a chaos run, checked as etcd's robustness suite checks them: one watch per node,
 * on every key from revision 1, opened before the workload and kept through the fault by the typed
 * client (@tsraft/kv/client), which resumes a broken stream on the next node from the last revision
 * it saw whole. After the run, once the cluster is at its final revision R:
 *
 * 1. every watch delivered revisions 1..R in order, each exactly once (a revision's events together),
 *    with no gap: every revision is a change of some key, so all of them are in the stream;
 * 2. every watch delivered the same events (a follower's watch serves what it applied; resumes on
 *    another node lose and repeat nothing);
 * 3. every acknowledged write is an event: each put or compare-and-swap value, each transaction's
 *    two values in one revision (values are unique);
 * 4. the events replayed give the store as a range read at R on a node reads it.
 */
import { KvClient, type WatchEvent } from "@tsraft/kv/client";
import {
  GROUP_SUCCEEDED,
  type GroupOperation,
  groupValues,
  isGroupAmbiguous,
} from "../lincheck/kv-group-model.js";
import type { KvOperation } from "../lincheck/kv-model.js";
import { sleep } from "./workload.js";

/** One event as compared. */
export interface Row {
  readonly revision: number;
  readonly kind: "put" | "delete";
  readonly key: string;
  readonly value: string;
}

const utf8 = new TextDecoder();
const rowOf = (e: WatchEvent): Row => ({
  revision: e.revision,
  kind: e.kind,
  key: e.key,
  value: utf8.decode(e.value),
});
const showRow = (r: Row | undefined) =>
  r === undefined ? "nothing" : `${r.revision} ${r.kind} ${r.key}${r.kind === "put" ? ` ${r.value}` : ""}`;

interface Stream {
  readonly node: number;
  readonly rows: Row[];
  resumes: number;
  error: string | undefined;
  done: Promise<void>;
}

/** The run's watches: {@link start} before the workload, {@link finish} after the final phase. */
export class WatchRecorder {
  private readonly streams: Stream[] = [];
  private readonly ac = new AbortController();

  /** Opens one watch per node of `nodes` (that node first, then the others as fallbacks). */
  start(nodes: readonly number[], httpPort: (id: number) => number): void {
    for (const [i, node] of nodes.entries()) {
      const endpoints = [...nodes.slice(i), ...nodes.slice(0, i)].map(
        (id) => `http://127.0.0.1:${httpPort(id)}`,
      );
      const kv = new KvClient({ endpoints, retryDelayMs: 50 });
      const s: Stream = { node, rows: [], resumes: 0, error: undefined, done: Promise.resolve() };
      s.done = (async () => {
        try {
          for await (const e of kv.watch({ from: 1, signal: this.ac.signal, onResume: () => s.resumes++ }))
            s.rows.push(rowOf(e));
        } catch (e) {
          if (!this.ac.signal.aborted) s.error = e instanceof Error ? e.message : String(e);
        }
      })();
      this.streams.push(s);
    }
  }

  /**
   * Whether `key` = `value` is a put event a watch delivered (values are unique): how an ambiguous
   * transaction is settled once the watches passed their checks. Undefined if no watch ran.
   */
  delivered(key: string, value: string): boolean | undefined {
    const rows = this.streams[0]?.rows;
    if (rows === undefined) return undefined;
    this.index ??= new Set(rows.filter((r) => r.kind === "put").map((r) => `${r.key}\0${r.value}`));
    return this.index.has(`${key}\0${value}`);
  }
  private index: Set<string> | undefined;

  /** Resumes across all watches (how often a stream broke and was taken up again). */
  get resumes(): number {
    return this.streams.reduce((n, s) => n + s.resumes, 0);
  }

  /** Waits (up to `ms`) until every watch has reached `revision`, then closes them all. */
  async finish(revision: number, ms = 20_000): Promise<void> {
    const deadline = performance.now() + ms;
    const reached = () =>
      this.streams.every((s) => s.error !== undefined || (s.rows.at(-1)?.revision ?? 0) >= revision);
    while (!reached() && performance.now() < deadline) await sleep(100);
    this.ac.abort();
    await Promise.all(this.streams.map((s) => s.done));
  }

  /** Closes the watches without checking (a run that aborted). */
  async close(): Promise<void> {
    this.ac.abort();
    await Promise.all(this.streams.map((s) => s.done));
  }

  /** The checks of the module comment, up to `revision` (see {@link checkWatchStreams}). */
  check(
    revision: number,
    history: readonly KvOperation[],
    groups: readonly GroupOperation[],
    state: ReadonlyMap<string, string>,
  ): { failures: string[]; summary: string; events: number } {
    const r = checkWatchStreams(this.streams, revision, history, groups, state);
    const summary = `watch: ${this.streams.length} watch(es), ${r.events} events to revision ${revision}, ${this.resumes} resume(s), ${r.acked} acknowledged writes found`;
    return { failures: r.failures, summary, events: r.events };
  }
}

/** What a watch delivered, for {@link checkWatchStreams}. */
export interface WatchStream {
  readonly node: number;
  readonly rows: readonly Row[];
  readonly error: string | undefined;
}

/**
 * The checks of the module comment on what the watches delivered, up to `revision`; `state` is the
 * store read at `revision` (key → value). One line per violation (at most 20).
 */
export function checkWatchStreams(
  streams: readonly WatchStream[],
  revision: number,
  history: readonly KvOperation[],
  groups: readonly GroupOperation[],
  state: ReadonlyMap<string, string>,
): { failures: string[]; events: number; acked: number } {
  const failures: string[] = [];
  const upTo = streams.map((s) => s.rows.filter((r) => r.revision <= revision));
  for (const [i, s] of streams.entries()) {
    const rows = upTo[i]!;
    const where = `watch on node ${s.node}`;
    if (s.error !== undefined) failures.push(`${where} failed: ${s.error}`);
    // 1. Revisions 1..revision, in order, each once, a revision's events together.
    let expect = 1;
    const seen = new Set<string>();
    for (const [j, r] of rows.entries()) {
      const prev = rows[j - 1];
      if (prev !== undefined && r.revision === prev.revision) {
        if (seen.has(r.key)) {
          failures.push(`${where}: key ${r.key} twice in revision ${r.revision}`);
          break;
        }
      } else if (r.revision !== expect) {
        failures.push(
          `${where}: revision ${r.revision} after ${showRow(prev)} (expected revision ${expect})`,
        );
        break;
      } else {
        seen.clear();
        expect++;
      }
      seen.add(r.key);
    }
    if (expect - 1 < revision && failures.length === 0)
      failures.push(`${where}: stopped at revision ${expect - 1} of ${revision}`);
  }
  // 2. Every watch delivered the same events.
  const first = upTo[0] ?? [];
  for (const [i, rows] of upTo.entries()) {
    if (i === 0) continue;
    const n = Math.max(rows.length, first.length);
    for (let j = 0; j < n; j++) {
      if (showRow(rows[j]) !== showRow(first[j])) {
        failures.push(
          `watches on nodes ${streams[0]!.node} and ${streams[i]!.node} differ at event ${j}: ${showRow(first[j])} vs ${showRow(rows[j])}`,
        );
        break;
      }
    }
  }
  // 3. Every acknowledged write is an event.
  const puts = new Map<string, Row>();
  for (const r of first) if (r.kind === "put") puts.set(`${r.key}\0${r.value}`, r);
  let acked = 0;
  for (const op of history) {
    if (op.output.type !== "ok" || (op.input.type !== "put" && op.input.type !== "cas")) continue;
    acked++;
    if (!puts.has(`${op.input.key}\0${op.input.value}`))
      failures.push(
        `acknowledged ${op.input.type} of ${op.input.key} = ${op.input.value} is in no watch event`,
      );
  }
  for (const op of groups) {
    if (op.input.type !== "txn" || op.output.type !== "succeeded") continue;
    acked++;
    const v = groupValues(op.input.value);
    const a = puts.get(`${op.input.group}/a\0${v.a}`);
    const b = puts.get(`${op.input.group}/b\0${v.b}`);
    if (a === undefined || b === undefined || a.revision !== b.revision)
      failures.push(
        `acknowledged transaction ${op.input.value} on ${op.input.group}: events ${showRow(a)}, ${showRow(b)} (want both, in one revision)`,
      );
  }
  // 4. The events replayed are the store at `revision`.
  const replayed = new Map<string, string>();
  for (const r of first) {
    if (r.kind === "put") replayed.set(r.key, r.value);
    else replayed.delete(r.key);
  }
  const keys = new Set([...replayed.keys(), ...state.keys()]);
  for (const k of [...keys].sort()) {
    if (replayed.get(k) !== state.get(k))
      failures.push(
        `events replayed to revision ${revision} give ${k} = ${replayed.get(k) ?? "∅"}, the store has ${state.get(k) ?? "∅"}`,
      );
  }
  return { failures: failures.slice(0, 20), events: first.length, acked };
}

/**
 * The group history with each ambiguous transaction settled by `delivered` (whether a watch
 * delivered a put of that key and value; undefined: unknown), to be used once the watches passed
 * their checks: a transaction whose values were delivered applied (its output becomes
 * `succeeded`; its return stays unknown); one whose values were not changed nothing, and no client
 * saw an answer, so it leaves the history.
 */
export function settleTransactions(
  history: readonly GroupOperation[],
  delivered: (key: string, value: string) => boolean | undefined,
): GroupOperation[] {
  const out: GroupOperation[] = [];
  for (const op of history) {
    if (op.input.type !== "txn" || !isGroupAmbiguous(op)) {
      out.push(op);
      continue;
    }
    const v = groupValues(op.input.value);
    const a = delivered(`${op.input.group}/a`, v.a ?? "");
    if (a === undefined) out.push(op);
    else if (a) out.push({ ...op, output: GROUP_SUCCEEDED });
  }
  return out;
}
