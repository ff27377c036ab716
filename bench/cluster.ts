/**
 * The cluster benchmark (issue 7, item 5): three `tsraft-kv` processes on loopback with fsync on, a
 * closed-loop load generator (bench/loadgen.ts) with C = 1, 16 or 64 clients doing 128-byte PUTs:
 * writes/s and p50/p99/p999 latency; then linearizable GETs/s. When etcd is installed (Debian:
 * `apt-get install etcd-server`; or `ETCD_BIN`), the same generator runs the same load against a
 * 3-member etcd on loopback, through its v3 JSON gateway, in the same run, and the ratios are printed.
 *
 * Per case `put-c<C>`, for each system in turn (tsraft-kv, then etcd): a fresh cluster in a fresh
 * directory on the real disk (`--dir`), the leader found, then
 * - warm-up (untimed): C clients, 3 s of PUTs (the JIT, connections, the first WAL segment);
 * - PUT phase: C clients for D seconds (`--duration`, default 10): client c writes key
 *   `bench/c<c>/k<seq mod 1000>` with a 128-byte value unique to (c, seq);
 * - GET phase: C clients for D/2 seconds of linearizable reads of keys written before;
 * - the cluster is stopped and its directory removed.
 * All requests go to the leader (as etcd's own `benchmark --target-leader`), on keep-alive
 * connections, one per client. One op = one acknowledged PUT to tsraft-kv; `cpuOpsPerSec` counts
 * the CPU time of the three server processes during the PUT phase (from /proc).
 *
 * In the same run, the harness's own limits (bench/ceiling-server.ts, {@link ceilingFigures}): the
 * same load against three do-nothing servers, and at one client against one loopback hop plus one
 * fdatasync per write; tsraft-kv's writes/s as a fraction of each (`ceilingFraction`,
 * `floorFraction`).
 *
 * Target (issue 7): tsraft-kv ≥ 2× etcd 3.4's writes/s at 1, 16 and 64 clients, with a p99 no worse.
 */

import { type Cluster, findEtcd, startCeiling, startEtcd, startTsraft } from "./cluster-procs.js";
import { runWatchTxnCase, WATCH_TXN_CASES } from "./cluster-watch-txn.js";
import { benchDir } from "./disk.js";
import type { BenchCase, BenchFamily, BenchResult, Latency } from "./lib.js";
import { findCase, latencyOf, measure, result, round3 } from "./lib.js";
import { closedLoop, ETCD_SHAPE, keyOf, type RequestShape, TSRAFT_SHAPE, uniqueValue } from "./loadgen.js";

const CLIENTS = [1, 16, 64] as const;
/**
 * The untimed warm-up before each PUT phase (at most half the phase): 3 s, not 1, since a 1 s
 * warm-up left V8 still compiling the server's hot paths during the measured phase (bench/README.md,
 * "The cluster regression, traced").
 */
const WARMUP_MS = 3000;
const DEFAULT_DURATION_SEC = 10;

interface ClusterCase extends BenchCase {
  readonly clients: number;
}

const CASES: readonly ClusterCase[] = CLIENTS.map((clients) => ({
  id: `put-c${clients}`,
  params: { op: "PUT 128 B (closed loop)", clients, servers: 3, fsync: true },
  clients,
}));

/** What one system did in one case. */
interface SystemRun {
  writesPerSec: number;
  writes: number;
  putErrors: number;
  putLatency: Latency;
  putWallMs: number;
  serverCpuMs: number;
  getsPerSec: number;
  getErrors: number;
  getLatency: Latency;
  errorSamples: string[];
  measurement: Awaited<ReturnType<typeof measure>>;
}

async function runSystem(
  start: () => Promise<Cluster>,
  shape: RequestShape,
  clients: number,
  durationMs: number,
  gets = true,
): Promise<SystemRun> {
  const cluster = await start();
  try {
    const host = "127.0.0.1";
    const port = cluster.leaderPort;
    // Warm-up: written under other keys' sequence numbers, so values stay unique across phases.
    const warm = await closedLoop({
      host,
      port,
      clients,
      durationMs: Math.min(WARMUP_MS, durationMs / 2),
      make: (c, seq) => shape.put(keyOf(c, seq), uniqueValue(c, 1e9 + seq)),
      okStatus: shape.putOk,
    });
    if (warm.ok === 0)
      throw new Error(`${cluster.kind}: no PUT succeeded in the warm-up: ${warm.errorSamples}`);

    const counts: number[] = new Array(clients).fill(0);
    const cpu0 = cluster.cpuMs();
    let put: Awaited<ReturnType<typeof closedLoop>> | undefined;
    const m = await measure(async () => {
      put = await closedLoop({
        host,
        port,
        clients,
        durationMs,
        make: (c, seq) => shape.put(keyOf(c, seq), uniqueValue(c, seq)),
        okStatus: shape.putOk,
        counts,
      });
    });
    const serverCpuMs = cluster.cpuMs() - cpu0;
    const p = put!;

    const get = gets
      ? await closedLoop({
          host,
          port,
          clients,
          durationMs: durationMs / 2,
          make: (c, seq) => shape.get(keyOf(c, seq % Math.max(1, Math.min(1000, counts[c]!)))),
          okStatus: shape.getOk,
        })
      : { ok: 0, errors: 0, latenciesMs: new Float64Array(0), wallMs: Number.NaN, errorSamples: [] };
    return {
      writesPerSec: p.ok / (p.wallMs / 1000),
      writes: p.ok,
      putErrors: p.errors,
      putLatency: latencyOf(p.latenciesMs, "ms", "one PUT, sent to answered", 1, true),
      putWallMs: p.wallMs,
      serverCpuMs,
      getsPerSec: get.ok / (get.wallMs / 1000),
      getErrors: get.errors,
      getLatency: latencyOf(get.latenciesMs, "ms", "one linearizable GET", 1, true),
      errorSamples: [...p.errorSamples, ...get.errorSamples],
      measurement: m,
    };
  } finally {
    await cluster.stop();
  }
}

/**
 * The harness's limits next to tsraft-kv's figures (issue 14, item 1), measured in the same run
 * with the same generator and load (bench/ceiling-server.ts): `ceiling*`, three do-nothing servers
 * (the generator, node:http and loopback alone), and at one client `floor*`, one loopback hop and
 * one fdatasync per write (the physical path of a replicated write). A fraction is tsraft-kv's
 * writes/s over that system's: 1 would be the harness's (or the disk's) limit.
 */
async function ceilingFigures(
  ours: SystemRun,
  clients: number,
  durationMs: number,
  base: string | undefined,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const kind of clients === 1 ? (["noop", "floor"] as const) : (["noop"] as const)) {
    const dir = await benchDir(`tsraft-bench-${kind}-`, base);
    let r: SystemRun;
    try {
      r = await runSystem(() => startCeiling(kind, dir.path), TSRAFT_SHAPE, clients, durationMs, false);
    } finally {
      await dir.cleanup();
    }
    if (r.putErrors > 0) throw new Error(`the ${kind} ceiling failed requests: ${r.errorSamples.join("; ")}`);
    const name = kind === "noop" ? "ceiling" : "floor";
    out[`${name}WritesPerSec`] = Math.round(r.writesPerSec);
    out[`${name}P50Ms`] = r.putLatency.p50;
    out[`${name}P99Ms`] = r.putLatency.p99;
    out[`${name}Fraction`] = round3(ours.writesPerSec / r.writesPerSec);
  }
  return out;
}

async function run(
  caseId: string,
  opts: { dir?: string | undefined; durationSec?: number | undefined },
): Promise<BenchResult> {
  findCase(family, caseId);
  // Watches and transactions (issue 16): bench/cluster-watch-txn.ts.
  if (WATCH_TXN_CASES.some((x) => x.id === caseId)) return runWatchTxnCase(caseId, opts);
  const c = CASES.find((x) => x.id === caseId)!;
  const durationMs = (opts.durationSec ?? DEFAULT_DURATION_SEC) * 1000;
  const notes: string[] = [];

  const dir = await benchDir("tsraft-bench-cluster-", opts.dir);
  let ours: SystemRun;
  try {
    ours = await runSystem(() => startTsraft(dir.path), TSRAFT_SHAPE, c.clients, durationMs);
  } finally {
    await dir.cleanup();
  }
  notes.push(`data on ${dir.fsType}; PUT phase ${durationMs / 1000} s, GET phase ${durationMs / 2000} s`);

  const figures: Record<string, number> = {
    getsPerSec: Math.round(ours.getsPerSec),
    getP50Ms: ours.getLatency.p50,
    getP99Ms: ours.getLatency.p99,
    putErrors: ours.putErrors,
    getErrors: ours.getErrors,
    serverCpuUsPerWrite: round3((ours.serverCpuMs * 1000) / ours.writes),
  };
  Object.assign(figures, await ceilingFigures(ours, c.clients, durationMs, opts.dir));
  const etcd = findEtcd();
  if (etcd === undefined) {
    const msg =
      "etcd not installed: comparison skipped (Debian: `apt-get install etcd-server`, or set ETCD_BIN)";
    process.stderr.write(`bench: ${msg}\n`);
    notes.push(msg);
  } else {
    const edir = await benchDir("tsraft-bench-etcd-", opts.dir);
    let theirs: SystemRun;
    try {
      theirs = await runSystem(() => startEtcd(etcd.bin, edir.path), ETCD_SHAPE, c.clients, durationMs);
    } finally {
      await edir.cleanup();
    }
    Object.assign(figures, {
      etcdWritesPerSec: Math.round(theirs.writesPerSec),
      etcdP50Ms: theirs.putLatency.p50,
      etcdP99Ms: theirs.putLatency.p99,
      etcdP999Ms: theirs.putLatency.p999 ?? Number.NaN,
      etcdGetsPerSec: Math.round(theirs.getsPerSec),
      etcdPutErrors: theirs.putErrors,
      etcdServerCpuUsPerWrite: round3((theirs.serverCpuMs * 1000) / theirs.writes),
      ratio: round3(ours.writesPerSec / theirs.writesPerSec),
      p99Ratio: round3(ours.putLatency.p99 / theirs.putLatency.p99),
      getRatio: round3(ours.getsPerSec / theirs.getsPerSec),
    });
    const met = ours.writesPerSec >= 2 * theirs.writesPerSec && ours.putLatency.p99 <= theirs.putLatency.p99;
    notes.push(
      `etcd ${etcd.version} (${etcd.bin}) via its v3 JSON gateway; target ≥ 2× its writes/s with a p99 no worse: ${
        met ? "met" : "MISSED"
      }`,
    );
    if (theirs.errorSamples.length > 0) notes.push(`etcd errors: ${theirs.errorSamples.join("; ")}`);
  }
  if (ours.errorSamples.length > 0) notes.push(`tsraft-kv errors: ${ours.errorSamples.join("; ")}`);

  const m = ours.measurement;
  return result(
    family.name,
    { id: c.id, params: { ...c.params, durationSec: durationMs / 1000 } },
    ours.writes,
    { ...m, wallMs: ours.putWallMs, cpuMs: ours.serverCpuMs },
    {
      counters: { clients: c.clients, servers: 3 },
      figures,
      latency: ours.putLatency,
      notes: [...notes, "cpuOpsPerSec: writes per CPU second of the three tsraft-kv processes"],
    },
  );
}

/** The cluster family: tsraft-kv vs etcd on loopback. */
export const family: BenchFamily = {
  name: "cluster",
  summary:
    "3 tsraft-kv processes (fsync on), closed-loop 128 B PUTs with 1/16/64 clients, GETs; vs etcd if installed; 100 watchers under 1,000 writes/s; 16 clients of transactions",
  cases: () => [...CASES.map((c) => ({ id: c.id, params: c.params })), ...WATCH_TXN_CASES],
  run,
};
