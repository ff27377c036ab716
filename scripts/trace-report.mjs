#!/usr/bin/env node
/**
 * Reads the JSON-lines traces that tsraft-kv processes write with TSRAFT_TRACE=<prefix> (one file
 * per process, `<prefix>.<pid>.jsonl`, see packages/node/src/trace.ts) and prints the timeline of
 * writes through the leader: for each PUT, when each step happened relative to the leader receiving
 * it, across the three processes; then the median and p90 of each step over all writes.
 *
 *   node scripts/trace-report.mjs <prefix> [--show N] [--slowest N] [--skip S]
 *
 * --show N: N writes spread over the run (default 3); --slowest N: the N slowest instead; --skip S:
 * ignore the first S seconds of proposals (default 3, the cluster bench's warm-up).
 *
 * Meant for closed-loop runs with one client (bench/README.md, "Tracing a write"), where writes do
 * not overlap; with more clients the per-step figures still hold per batch, roughly.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

const MSG_APP = 3;
const MSG_APP_RESP = 4;

const args = process.argv.slice(2);
const prefix = args[0];
if (prefix === undefined) {
  process.stderr.write("usage: node scripts/trace-report.mjs <prefix> [--show N] [--slowest N] [--skip S]\n");
  process.exit(2);
}
const showAt = args.indexOf("--show");
const show = showAt >= 0 ? Number(args[showAt + 1]) : 3;
const slowAt = args.indexOf("--slowest");
const slowest = slowAt >= 0 ? Number(args[slowAt + 1]) : 0;
// The bench's warm-up (3 s: JIT, first connections; bench/cluster.ts) is not in its figures: skip it
// here too.
const skipAt = args.indexOf("--skip");
const skipUs = (skipAt >= 0 ? Number(args[skipAt + 1]) : 3) * 1e6;

const dir = dirname(prefix);
const base = basename(prefix);
/** @type {{ pid: number, id: number, ev: any[] }[]} */
const procs = [];
for (const f of readdirSync(dir)) {
  if (!f.startsWith(`${base}.`) || !f.endsWith(".jsonl")) continue;
  const ev = readFileSync(join(dir, f), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
  const start = ev.find((e) => e.ev === "node.start");
  if (start === undefined) continue;
  procs.push({ pid: Number(f.split(".").at(-2)), id: start.id, ev: ev.filter((e) => e.t > 0) });
}
const leader = procs.find((p) => p.ev.some((e) => e.ev === "propose"));
if (leader === undefined) {
  process.stderr.write("no process proposed anything\n");
  process.exit(1);
}
const followers = procs.filter((p) => p !== leader).sort((a, b) => a.id - b.id);

/** The index of `p`'s first event at time `t` or later (`strict`: later than `t`); events are in time order. */
function firstIndexAt(p, t, strict) {
  let lo = 0;
  let hi = p.ev.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (p.ev[mid].t < t || (strict && p.ev[mid].t === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
/** The first event of `p` at or after time t matching `f`. */
function after(p, t, f) {
  for (let i = firstIndexAt(p, t, false); i < p.ev.length; i++) if (f(p.ev[i])) return p.ev[i];
  return undefined;
}
/** The last event of `p` at or before time t matching `f`. */
function before(p, t, f) {
  for (let i = firstIndexAt(p, t, true) - 1; i >= 0; i--) if (f(p.ev[i])) return p.ev[i];
  return undefined;
}

const rows = [];
const firstPropose = leader.ev.find((e) => e.ev === "propose")?.t ?? 0;
for (const prop of leader.ev.filter((e) => e.ev === "propose" && e.t >= firstPropose + skipUs)) {
  const recv = before(leader, prop.t, (e) => e.ev === "http.recv");
  const rd = after(leader, prop.t, (e) => e.ev === "rd" && e.e1 > 0);
  if (recv === undefined || rd === undefined) continue;
  const idx = rd.e1;
  const r = { idx, t0: recv.t, steps: [] };
  const step = (name, e) => {
    if (e !== undefined) r.steps.push([name, e.t - recv.t]);
    return e;
  };
  /** The step `name`: the first event `ev` of `p` from time `t`. */
  const stepOn = (name, p, t, ev) =>
    step(
      name,
      after(p, t, (e) => e.ev === ev),
    );
  stepOn("L http.body", leader, recv.t, "http.body");
  step("L propose", prop);
  step("L ready", rd);
  for (const f of followers) {
    step(
      `L tx MsgApp →${f.id}`,
      after(leader, rd.t, (e) => e.ev === "tx" && e.peer === f.id && e.idx >= idx && e.type === MSG_APP),
    );
  }
  stepOn("L wal.write", leader, rd.t, "wal.write");
  stepOn("L wal.sync", leader, rd.t, "wal.sync");
  stepOn("L ready end", leader, rd.t, "rd.end");
  for (const f of followers) {
    const rx = step(
      `F${f.id} rx MsgApp`,
      after(f, rd.t, (e) => e.ev === "rx" && e.type === MSG_APP && e.idx >= idx),
    );
    if (rx === undefined) continue;
    const frd = step(
      `F${f.id} ready`,
      after(f, rx.t, (e) => e.ev === "rd" && e.e1 >= idx),
    );
    if (frd === undefined) continue;
    stepOn(`F${f.id} wal.write`, f, frd.t, "wal.write");
    stepOn(`F${f.id} wal.sync`, f, frd.t, "wal.sync");
    step(
      `F${f.id} tx MsgAppResp`,
      after(f, frd.t, (e) => e.ev === "tx" && e.type === MSG_APP_RESP && e.idx >= idx),
    );
    step(
      `L rx MsgAppResp ←${f.id}`,
      after(
        leader,
        frd.t,
        (e) => e.ev === "rx" && e.peer === f.id && e.type === MSG_APP_RESP && e.idx >= idx,
      ),
    );
  }
  const crd = step(
    "L ready (committed)",
    after(leader, rd.t, (e) => e.ev === "rd" && e.c1 >= idx),
  );
  const ap = step(
    "L apply",
    after(leader, rd.t, (e) => e.ev === "apply" && e.i1 >= idx),
  );
  if (ap !== undefined) {
    stepOn("L apply.done", leader, ap.t, "apply.done");
    stepOn("L settled", leader, ap.t, "settled");
    stepOn("L http.done", leader, ap.t, "http.done");
  }
  void crd;
  r.steps.sort((a, b) => a[1] - b[1]);
  rows.push(r);
}

const fmt = (us) => (us / 1000).toFixed(3).padStart(8);
console.log(
  `leader ${leader.id} (pid ${leader.pid}); followers ${followers.map((f) => f.id).join(", ")}; ${rows.length} writes`,
);
const total = (r) => r.steps.find(([name]) => name === "L http.done")?.[1] ?? 0;
const pick =
  slowest > 0
    ? [...rows].sort((a, b) => total(b) - total(a)).slice(0, slowest)
    : rows.length <= show
      ? rows
      : Array.from({ length: show }, (_, i) => rows[Math.floor(((i + 1) * rows.length) / (show + 1))]);
for (const r of pick) {
  console.log(`\nwrite at index ${r.idx} (ms after the leader received the PUT):`);
  for (const [name, dt] of r.steps) console.log(`  ${fmt(dt)}  ${name}`);
}

// Per step: median and p90 over all writes.
const by = new Map();
for (const r of rows) for (const [name, dt] of r.steps) (by.get(name) ?? by.set(name, []).get(name)).push(dt);
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const summary = [...by].map(([name, xs]) => {
  xs.sort((a, b) => a - b);
  return { name, n: xs.length, p50: q(xs, 0.5), p90: q(xs, 0.9) };
});
summary.sort((a, b) => a.p50 - b.p50);
console.log("\nevery write: step, median and p90 ms after the leader received the PUT (n)");
for (const s of summary) console.log(`  ${fmt(s.p50)} ${fmt(s.p90)}  ${s.name} (${s.n})`);
