/**
 * Watches on a real 3-node cluster, through the typed client (@tsraft/kv/client), checked as etcd's
 * robustness suite checks them: the events a watch delivers are exactly the committed history of
 * its range from its start revision, in revision order, with nothing missing or repeated. The
 * history is what the writers were acknowledged (each write's revision), replayed.
 * - from a past revision, on every node (followers serve what they applied), while writes go on;
 * - after the node the watch was on is killed (kill -9): the client resumes on another node from the
 *   last revision it saw whole.
 */
import { Rng } from "@tsraft/chaos";
import { KvClient, type WatchEvent } from "@tsraft/kv/client";
import { describe, expect, it } from "vitest";
import { CLI_MISSING, clusterPerTest } from "./cluster.js";

const startCluster = clusterPerTest();

/** One event as compared: revision, kind, key, value. */
type Row = string;
const row = (revision: number, kind: string, key: string, value = "") =>
  `${revision} ${kind} ${key} ${value}`;
const rowOf = (e: WatchEvent): Row =>
  row(e.revision, e.kind, e.key, e.kind === "put" ? new TextDecoder().decode(e.value) : "");

/**
 * A writer owning keys `w/<id>/0..9` (and writing `other/<id>`, outside the watched prefix): puts,
 * deletes of keys it knows exist, and transactions of several changes; each acknowledged change
 * goes into `history` with its revision (a transaction's in the order of its operations).
 */
async function writer(
  kv: KvClient,
  id: number,
  seed: number,
  writes: number,
  history: Row[][],
): Promise<void> {
  const rng = new Rng(seed);
  const live = new Set<number>();
  for (let n = 0; n < writes; n++) {
    const k = rng.int(0, 9);
    const key = `w/${id}/${k}`;
    const pick = rng.int(0, 9);
    if (pick < 5) {
      const value = `${id}-${n}`;
      const { revision } = await kv.put(key, value);
      live.add(k);
      history[revision] = [row(revision, "put", key, value)];
    } else if (pick < 7 && live.has(k)) {
      const { revision } = await kv.delete(key);
      live.delete(k);
      history[revision] = [row(revision, "delete", key)];
    } else if (pick < 8) {
      // Outside the prefix: takes a revision, must not be delivered.
      const { revision } = await kv.put(`other/${id}`, `${n}`);
      history[revision] = [];
    } else {
      const k2 = (k + 1) % 10;
      const gone = live.has(k2);
      const r = await kv.txn({
        success: [
          { op: "put", key, value: `${id}-${n}-t` },
          gone ? { op: "delete", key: `w/${id}/${k2}` } : { op: "put", key: `other/${id}`, value: "t" },
        ],
      });
      live.add(k);
      if (gone) live.delete(k2);
      history[r.revision] = [
        row(r.revision, "put", key, `${id}-${n}-t`),
        ...(gone ? [row(r.revision, "delete", `w/${id}/${k2}`)] : []),
      ];
    }
  }
}

/** The acknowledged events of revisions `from` to `to`, in order; every revision must have been acknowledged. */
function historyOf(history: Row[][], from: number, to: number): Row[] {
  return Array.from({ length: to - from + 1 }, (_, i) => {
    const rows = history[from + i];
    if (rows === undefined) throw new Error(`revision ${from + i} was never acknowledged`);
    return rows;
  }).flat();
}

/**
 * Collects a watch's events until one after revision `last` arrives (or the signal aborts). Not at
 * `last` itself: a transaction's revision holds several events, and stopping at its first would
 * drop the others.
 */
async function collect(kv: KvClient, from: number, until: () => number, signal: AbortSignal): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const e of kv.watch({ prefix: "w/", from, signal })) {
    rows.push(rowOf(e));
    if (e.revision > until()) break;
  }
  return rows;
}

describe.skipIf(CLI_MISSING)("watches on a cluster", () => {
  it("from a past revision: exactly the history, on every node, while writes go on", async () => {
    const c = await startCluster();
    const urls = [...c.nodes.values()].map((n) => n.url);
    const history: Row[][] = [];
    // A first stretch of history, then watches from its middle on each node while three writers go on.
    await writer(new KvClient({ endpoints: [urls[0]!] }), 9, 9, 60, history);
    const from = 30;
    let last = Number.POSITIVE_INFINITY;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 60_000);
    const watches = urls.map((u) => collect(new KvClient({ endpoints: [u] }), from, () => last, ac.signal));
    await Promise.all(
      [0, 1, 2].map((i) => writer(new KvClient({ endpoints: [urls[i]!] }), i, 100 + i, 80, history)),
    );
    // The last revision any writer was acknowledged: every watch stops once it has it.
    last = history.length - 1;
    // One more write in the prefix, after `last`: every watch stops at it.
    await new KvClient({ endpoints: [urls[0]!] }).put("w/end", "");
    const got = await Promise.all(watches);
    clearTimeout(timer);
    const expected = historyOf(history, from, last);
    console.log(
      `watch from revision ${from}: ${expected.length} events to revision ${last} (${last - from + 1} revisions, ` +
        `some outside the prefix), delivered identically by ${got.length} nodes`,
    );
    for (const [i, rows] of got.entries())
      expect(rows.slice(0, expected.length), `node ${i + 1}`).toEqual(expected);
    expect(expected.length).toBeGreaterThan(150);
  }, 120_000);

  it("resumes on another node, losing and repeating nothing, after the node it was on is killed", async () => {
    const c = await startCluster();
    const lead = await c.waitForLeader();
    const followers = [...c.nodes.values()].filter((n) => n.id !== lead);
    const [f1, f2] = [followers[0]!, followers[1]!];
    const history: Row[][] = [];
    const resumes: string[] = [];
    // The watch starts on follower f1; the writer talks to the leader only (it survives f1's death).
    const watcher = new KvClient({ endpoints: [f1.url, f2.url, c.node(lead).url], retryDelayMs: 50 });
    const writerClient = new KvClient({ endpoints: [c.node(lead).url] });
    let last = Number.POSITIVE_INFINITY;
    const rows: Row[] = [];
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 60_000);
    const watching = (async () => {
      for await (const e of watcher.watch({
        prefix: "w/",
        from: 1,
        signal: ac.signal,
        onResume: (r) => resumes.push(`${r.endpoint} from ${r.from}: ${r.reason}`),
      })) {
        rows.push(rowOf(e));
        if (e.revision >= last) break;
      }
    })();
    await writer(writerClient, 0, 1, 60, history);
    const before = historyOf(history, 1, history.length - 1).length;
    // While a second writer goes on, once the watch is past the first stretch (mid-stream on f1,
    // events flowing), kill -9 f1.
    const writing = writer(writerClient, 1, 2, 150, history);
    await expect.poll(() => rows.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(before + 20);
    await f1.kill();
    const killedAt = rows.length;
    await writing;
    last = history.length - 1;
    await writerClient.put("w/end", "");
    await watching;
    clearTimeout(timer);
    const expected = historyOf(history, 1, last);
    console.log(
      `resume after kill -9 (after ${killedAt} events, while writes went on): ${rows.length} events delivered, ${expected.length} in the history to revision ${last}; resumes: ${resumes.join("; ")}`,
    );
    expect(rows.slice(0, expected.length)).toEqual(expected);
    expect(resumes.length).toBeGreaterThanOrEqual(1);
    expect(resumes[0]).toContain(f2.url);
  }, 120_000);
});
