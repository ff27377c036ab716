/**
 * The growth bench's JSON lines and the arithmetic on them: what a window line holds, the summary
 * of one system's run (median writes/s, the worst window against it, peak RSS, catch-up figures),
 * and the final line with issue 13's acceptance checks, each with its target and pass/fail. Also
 * how each line reads to a human (`pnpm bench growth` without --json).
 */
import type { HistogramDelta } from "./growth-probes.js";
import { percentile, round3 } from "./lib.js";

/** One member during one window. */
export interface NodeWindow {
  /** 1..3 (tsraft-kv's node id; etcd's member m<n>). */
  readonly node: number;
  /** As the members answering /status saw it at the window's end; "down" while stopped. */
  readonly role: "leader" | "follower" | "down" | "unknown";
  /** Highest RSS sampled in the window (every ~500 ms, /proc/<pid>/status VmRSS), MiB. */
  readonly rssMiB: number | null;
  /** Its data directory on disk at the window's end (allocated blocks), MiB. */
  readonly diskMiB: number;
  /** CPU used in the window, % of one core (user + system, /proc/<pid>/stat). */
  readonly cpuPct: number | null;
  /** Applied index at the window's end; null if /status did not answer within 3 s. */
  readonly applied: number | null;
  /** Its snapshot index (tsraft-kv's /status `snapshotIndex`), when the system reports one. */
  readonly snapshotIndex?: number | null | undefined;
  /**
   * Snapshot/compaction series of its /metrics that moved in the window: counters as `+n`,
   * histograms as {n, totalMs, maxLeMs}. When /metrics does not answer within 3 s, the events
   * are reported in the next window that it answers.
   */
  readonly events: Readonly<Record<string, number | HistogramDelta>>;
}

/** The growth bench's line for one window of writes. */
export interface WindowLine {
  readonly type: "window";
  readonly system: string;
  /** "growth", then "follower-down" (a follower stopped), then "catch-up" (restarted until caught up). */
  readonly phase: string;
  readonly window: number;
  /** End of the window, seconds since the load started. */
  readonly tSec: number;
  readonly durSec: number;
  /** Shorter than `--window`: the last window of a phase. Not used for medians. */
  readonly partial: boolean;
  /** PUTs acknowledged in the window. */
  readonly writes: number;
  readonly writesPerSec: number;
  /**
   * Latencies of the writes acknowledged in the window, from their first attempt: a client retries
   * a failed attempt (503, 504, no answer in 30 s) with the same write after 100 ms, so a write
   * held up by a stall counts all of it. Null if none was acknowledged.
   */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  /** How long the oldest write not yet acknowledged at the window's end had been waiting, ms (null: none). */
  readonly oldestInFlightMs: number | null;
  /** Attempts answered with another status than success, or failed (each then retried). */
  readonly errors: number;
  /** Value bytes acknowledged so far (what every member stores), GiB. */
  readonly writtenGiB: number;
  /** The machine's 1-minute load average at the window's end (the bench shares it with anything else running). */
  readonly loadAvg1m: number;
  readonly nodes: readonly NodeWindow[];
  /** The load moved to a new leader at the end of this window. */
  readonly leaderChange?: boolean;
  readonly errorSamples?: readonly string[];
}

/** What the catch-up phase measured. */
export interface CatchUpFigures {
  /** The follower stopped and restarted (1..3). */
  readonly follower: number;
  readonly signal: "SIGTERM" | "SIGKILL";
  /** How long it was down, s, and the value bytes written meanwhile, GiB. */
  readonly downSec: number;
  readonly behindGiB: number;
  /** The leader's commit index at the restart minus the follower's applied index at the stop. */
  readonly behindEntries: number | null;
  /** Whether it caught up before `--catchup-timeout`. */
  readonly caughtUp: boolean;
  /** Restart → its applied index ≥ the leader's commit index at the restart, s. */
  readonly reachedRestartCommitSec: number | null;
  /** Restart → its applied index ≥ the leader's commit index of ~250 ms before (caught up with live writes), s. */
  readonly catchUpSec: number | null;
  /**
   * Restart → the image it was sent is installed (its snapshot index past half-way from its
   * applied index at the stop to the leader's commit at the restart, and its applied index there),
   * s: the end of the transfer. Null when the system does not report a snapshot index (etcd) or
   * none was installed.
   */
  readonly restoredSec: number | null;
  /** Its highest RSS from the restart until caught up, MiB. */
  readonly peakRssMiB: number | null;
  /** Whether it was sent a snapshot (metrics or its log say so); `evidence` says what showed it. */
  readonly receivedSnapshot: boolean;
  readonly evidence: readonly string[];
  /** The leader's writes/s over the whole catch-up phase. */
  readonly leaderWritesPerSec: number;
  /**
   * Its lowest window of the transfer: catch-up windows of at least half a window's length that
   * began before the image was installed (the one in which it was installed included). Null
   * without `restoredSec`.
   */
  readonly transferMinWindowWritesPerSec: number | null;
  /** `transferMinWindowWritesPerSec` ÷ the growth phase's median writes/s: issue 13's acceptance. */
  readonly transferWritesRatio: number | null;
  /**
   * Its lowest window of the whole catch-up: the transfer, then the replay of what was written
   * meanwhile (the phase's own rate if no window is long enough).
   */
  readonly leaderMinWindowWritesPerSec: number;
  /** `leaderMinWindowWritesPerSec` ÷ the growth phase's median writes/s (reported, not a check). */
  readonly writesRatio: number | null;
  /** p99 of the writes acknowledged during the catch-up phase, ms, and ÷ the growth phase's median window p99. */
  readonly leaderP99Ms: number | null;
  readonly p99Ratio: number | null;
}

/** The growth phase's figures of one system. */
export interface GrowthFigures {
  /** Full windows (partial ones are printed but not used here). */
  readonly windows: number;
  readonly medianWritesPerSec: number | null;
  readonly minWindowWritesPerSec: number | null;
  /** The lowest window ÷ the median. */
  readonly minWindowRatio: number | null;
  readonly medianWindowP99Ms: number | null;
  readonly maxWindowP99Ms: number | null;
  /** The highest window p99 ÷ the median window p99. */
  readonly maxP99Ratio: number | null;
}

/** One system's summary line. */
export interface SystemSummary {
  readonly type: "system";
  readonly system: string;
  readonly writes: number;
  readonly writtenGiB: number;
  readonly errors: number;
  readonly growthSec: number;
  readonly growth: GrowthFigures;
  /** Per member, its highest RSS over the whole run (all phases), MiB. */
  readonly peakRssMiB: readonly (number | null)[];
  /** Per member, its largest data directory, MiB. */
  readonly peakDiskMiB: readonly number[];
  readonly leaderChanges: number;
  readonly catchUp: CatchUpFigures | null;
}

/** One acceptance criterion of issue 13 as measured: the value, its target, and whether it is met. */
export interface Check {
  readonly name: string;
  readonly value: number | boolean | null;
  readonly target: string;
  /** null: not measured in this run (no etcd, no catch-up...). */
  readonly pass: boolean | null;
}

export const round1 = (x: number) => Math.round(x * 10) / 10;

/** The median of `xs` (mean of the middle two); null if empty. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** p50, p99 and max of latencies in ms (sorted in place); nulls when there are none. */
export function latencyFigures(lat: Float64Array): {
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
} {
  if (lat.length === 0) return { p50Ms: null, p99Ms: null, maxMs: null };
  lat.sort();
  return {
    p50Ms: round1(percentile(lat, 50)),
    p99Ms: round1(percentile(lat, 99)),
    maxMs: round1(lat[lat.length - 1]!),
  };
}

/**
 * A window's p99 for the checks: that of its answers; when nothing was answered at all (a stall),
 * at least the wait of its oldest request still in flight, which is then a lower bound.
 */
export function windowP99(w: WindowLine): number | null {
  return w.p99Ms ?? w.oldestInFlightMs;
}

/** The growth phase's figures from its window lines (full windows only). */
export function growthFigures(windows: readonly WindowLine[]): GrowthFigures {
  const full = windows.filter((w) => w.phase === "growth" && !w.partial);
  const rates = full.map((w) => w.writesPerSec);
  const p99s = full.map(windowP99).filter((x): x is number => x !== null);
  const med = median(rates);
  const minRate = rates.length === 0 ? null : Math.min(...rates);
  const medP99 = median(p99s);
  const maxP99 = p99s.length === 0 ? null : Math.max(...p99s);
  return {
    windows: full.length,
    medianWritesPerSec: med === null ? null : round1(med),
    minWindowWritesPerSec: minRate,
    minWindowRatio: med === null || minRate === null || med === 0 ? null : round3(minRate / med),
    medianWindowP99Ms: medP99 === null ? null : round1(medP99),
    maxWindowP99Ms: maxP99,
    maxP99Ratio: medP99 === null || maxP99 === null || medP99 === 0 ? null : round3(maxP99 / medP99),
  };
}

const MAX_RSS_MIB = 512;

/**
 * Issue 13's acceptance, measured: windows ≥ 70% of the median writes/s, window p99 ≤ 3× the
 * median window p99, every node's RSS ≤ 512 MiB throughout, writes/s ≥ 1.5× etcd's, and for the
 * follower catching up by snapshot: its RSS ≤ 512 MiB and the leader's writes/s during the transfer
 * ≥ 70% of the median (the lowest window until the image is installed; the whole catch-up's lowest,
 * replay included, is reported beside it as `writesRatio`).
 */
export function acceptanceChecks(ours: SystemSummary, etcd: SystemSummary | null): Check[] {
  const g = ours.growth;
  const cu = ours.catchUp;
  const atLeast = (v: number | null, t: number) => (v === null ? null : v >= t);
  const atMost = (v: number | null, t: number) => (v === null ? null : v <= t);
  const rss = ours.peakRssMiB.filter((x): x is number => x !== null);
  const maxRss = rss.length === 0 ? null : Math.max(...rss);
  const etcdMedian = etcd?.growth.medianWritesPerSec ?? null;
  const ratio =
    g.medianWritesPerSec === null || etcdMedian === null || etcdMedian === 0
      ? null
      : round3(g.medianWritesPerSec / etcdMedian);
  return [
    {
      name: "minWindowRatio",
      value: g.minWindowRatio,
      target: "≥ 0.7 (no window below 70% of the median writes/s)",
      pass: atLeast(g.minWindowRatio, 0.7),
    },
    {
      name: "maxP99Ratio",
      value: g.maxP99Ratio,
      target: "≤ 3 (no window p99 above 3× the median window p99)",
      pass: atMost(g.maxP99Ratio, 3),
    },
    {
      name: "maxNodeRssMiB",
      value: maxRss === null ? null : round1(maxRss),
      target: `≤ ${MAX_RSS_MIB} (each node, throughout)`,
      pass: atMost(maxRss, MAX_RSS_MIB),
    },
    {
      name: "etcdRatio",
      value: ratio,
      target: "≥ 1.5 (median writes/s ÷ etcd's, same run)",
      pass: atLeast(ratio, 1.5),
    },
    {
      name: "catchUpBySnapshot",
      value: cu === null ? null : cu.caughtUp && cu.receivedSnapshot,
      target: "true (the stopped follower caught up, by a snapshot)",
      pass: cu === null ? null : cu.caughtUp && cu.receivedSnapshot,
    },
    {
      name: "catchUpRssMiB",
      value: cu?.peakRssMiB ?? null,
      target: `≤ ${MAX_RSS_MIB} (the catching-up follower)`,
      pass: atMost(cu?.peakRssMiB ?? null, MAX_RSS_MIB),
    },
    {
      name: "transferWritesRatio",
      value: cu?.transferWritesRatio ?? null,
      target: "≥ 0.7 (leader's lowest window from the restart until the image is installed ÷ the median)",
      pass: atLeast(cu?.transferWritesRatio ?? null, 0.7),
    },
  ];
}

const fmt = (x: number | null | undefined, digits = 0) =>
  x === null || x === undefined ? "-" : x.toFixed(digits);

/** The events of a window, short: `n2 tsraft_snapshots_saved_total+1 tsraft_snapshot_save_duration_seconds 1×840ms`. */
function eventText(nodes: readonly NodeWindow[]): string {
  const parts: string[] = [];
  for (const n of nodes) {
    for (const [k, v] of Object.entries(n.events)) {
      parts.push(typeof v === "number" ? `n${n.node} ${k}+${v}` : `n${n.node} ${k} ${v.n}×${v.totalMs}ms`);
    }
  }
  return parts.join("; ");
}

/** A JSON line of the growth bench as a human reads it. */
export function formatLine(line: Readonly<Record<string, unknown>>): string {
  if (line.type === "window") {
    const w = line as unknown as WindowLine;
    const per = (f: (n: NodeWindow) => string) => w.nodes.map(f).join("/");
    const ev = eventText(w.nodes);
    return [
      `${w.system.padEnd(9)} ${w.phase.padEnd(13)} #${String(w.window).padStart(3)} t=${fmt(w.tSec, 1)}s${w.partial ? ` (${fmt(w.durSec, 1)} s)` : ""}`,
      `${fmt(w.writesPerSec).padStart(5)} w/s  p50 ${fmt(w.p50Ms, 1)} p99 ${w.p99Ms === null ? `>${fmt(w.oldestInFlightMs)}` : fmt(w.p99Ms, 1)} ms  err ${w.errors}`,
      `written ${fmt(w.writtenGiB, 3)} GiB  RSS ${per((n) => fmt(n.rssMiB))} MiB  disk ${per((n) => fmt(n.diskMiB))} MiB  roles ${per((n) => n.role[0]!.toUpperCase())}`,
      ev === "" ? "" : `| ${ev}`,
    ]
      .filter((s) => s !== "")
      .join("  ");
  }
  if (line.type === "system") {
    const s = line as unknown as SystemSummary;
    const g = s.growth;
    const out = [
      `${s.system}: ${s.writes} writes, ${fmt(s.writtenGiB, 3)} GiB per node in ${fmt(s.growthSec)} s; ` +
        `median ${fmt(g.medianWritesPerSec)} w/s, worst window ${fmt(g.minWindowRatio, 2)}× of it; ` +
        `median window p99 ${fmt(g.medianWindowP99Ms, 1)} ms, worst ${fmt(g.maxP99Ratio, 2)}× of it; ` +
        `peak RSS ${s.peakRssMiB.map((x) => fmt(x)).join("/")} MiB; errors ${s.errors}`,
    ];
    const c = s.catchUp;
    if (c !== null) {
      out.push(
        `  catch-up: node ${c.follower} (${c.signal}) down ${fmt(c.downSec)} s, ${fmt(c.behindGiB, 3)} GiB behind; ` +
          `${c.caughtUp ? `caught up in ${fmt(c.catchUpSec, 1)} s` : "NOT caught up"}, peak RSS ${fmt(c.peakRssMiB)} MiB, ` +
          `snapshot ${c.receivedSnapshot ? "received" : "not seen"}; leader ${fmt(c.leaderWritesPerSec)} w/s ` +
          `(lowest window ${fmt(c.transferWritesRatio, 2)}× the median during the transfer, image installed after ` +
          `${fmt(c.restoredSec, 1)} s; ${fmt(c.writesRatio, 2)}× over the whole catch-up), p99 ${fmt(c.leaderP99Ms, 1)} ms`,
      );
    }
    return out.join("\n");
  }
  if (line.type === "summary") {
    const checks = (line.checks ?? []) as Check[];
    return [
      line.bench === "growth"
        ? `growth summary${line.sizeMeetsAcceptance ? "" : " (smaller than the acceptance's 2 GiB + 1 GiB)"}:`
        : `${String(line.bench)} summary:`,
      ...checks.map(
        (c) =>
          `  ${c.pass === null ? "n/a " : c.pass ? "pass" : "FAIL"}  ${c.name.padEnd(19)} ${String(c.value).padStart(8)}  ${c.target}`,
      ),
    ].join("\n");
  }
  return JSON.stringify(line);
}
