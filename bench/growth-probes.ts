/**
 * What the growth bench reads from outside the systems under test, so that it measures any build of
 * tsraft-kv (and etcd) the same way: resident memory from /proc/<pid>/status, a data directory's
 * size on disk, the free space of the file system and of the machine's memory, and the
 * snapshot/compaction series of a Prometheus /metrics page, whatever they are called.
 */
import { lstatSync, readdirSync, readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";

const MiB = 1024 * 1024;

/** The resident set of process `pid`, MiB (VmRSS of /proc/<pid>/status); undefined if gone or not Linux. */
export function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** The memory the kernel could give processes without swapping (MemAvailable), bytes; Infinity if unknown. */
export function memAvailableBytes(): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    return m === null ? Number.POSITIVE_INFINITY : Number(m[1]) * 1024;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Bytes free for an unprivileged user on the file system holding `path`. */
export function freeDiskBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/**
 * The space the files under `path` take on disk, bytes (allocated blocks, as `du`: a preallocated
 * sparse WAL segment counts what it holds). Files that vanish during the walk are skipped.
 */
export function diskUsageBytes(path: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    return 0;
  }
  for (const name of names) {
    const p = join(path, name);
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) total += diskUsageBytes(p);
      else total += st.blocks * 512;
    } catch {
      // Removed meanwhile (a WAL segment released, a snapshot replaced).
    }
  }
  return total;
}

/**
 * Samples the RSS of a fixed list of processes every `intervalMs` and keeps, per process, the
 * maximum since the last {@link takeWindow}, over the whole run, and over any open {@link track}.
 * A process is given as a function returning its current pid, so a restarted member is followed.
 */
export class RssSampler {
  readonly #pids: () => readonly (number | undefined)[];
  readonly #window: (number | undefined)[];
  /** The highest RSS seen per process over the whole run, MiB. */
  readonly peak: (number | undefined)[];
  readonly #tracks = new Set<{ i: number; max: number | undefined }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(pids: () => readonly (number | undefined)[], count: number, intervalMs = 500) {
    this.#pids = pids;
    this.#window = new Array<number | undefined>(count).fill(undefined);
    this.peak = new Array<number | undefined>(count).fill(undefined);
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    this.#timer.unref();
  }

  /** Reads every process's RSS now (also called by the interval). */
  sample(): void {
    const pids = this.#pids();
    for (let i = 0; i < pids.length; i++) {
      const r = rssMiB(pids[i]);
      if (r === undefined) continue;
      this.#window[i] = Math.max(this.#window[i] ?? 0, r);
      this.peak[i] = Math.max(this.peak[i] ?? 0, r);
      for (const t of this.#tracks) if (t.i === i) t.max = Math.max(t.max ?? 0, r);
    }
  }

  /** The maxima since the previous call (undefined: the process was not running), then starts over. */
  takeWindow(): (number | undefined)[] {
    this.sample();
    const w = [...this.#window];
    this.#window.fill(undefined);
    return w;
  }

  /** Starts following process `i` alone (a catching-up follower); `end()` returns its maximum. */
  track(i: number): { end(): number | undefined } {
    const t = { i, max: undefined as number | undefined };
    this.#tracks.add(t);
    return {
      end: () => {
        this.sample();
        this.#tracks.delete(t);
        return t.max;
      },
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** A histogram (or summary) series: observation count, sum, and cumulative buckets by upper bound. */
interface HistogramSeries {
  count: number;
  sum: number;
  readonly buckets: Map<number, number>;
}

/**
 * The series of one /metrics page whose names mention snapshots, compaction or defragmentation
 * (tsraft's `tsraft_snapshots_saved_total`, etcd's `etcd_debugging_snap_save_total_duration_seconds`,
 * `etcd_network_snapshot_send_success`...): counters by series (name plus labels), histograms
 * by series without `le`. Gauges are left out: a difference of gauges is not an event count.
 */
export interface MetricsPage {
  readonly counters: ReadonlyMap<string, number>;
  readonly histograms: ReadonlyMap<string, HistogramSeries>;
}

/** The names the growth bench reports: snapshots, compaction, defragmentation, and a catch-up's WAL reads and pacing. */
export const EVENT_SERIES = /snap|compact|defrag|wal_read|catch_up/i;

/** Parses Prometheus text exposition, keeping the counter and histogram series whose name matches `keep`. */
export function parseMetrics(text: string, keep: RegExp = EVENT_SERIES): MetricsPage {
  const types = new Map<string, string>();
  const counters = new Map<string, number>();
  const histograms = new Map<string, HistogramSeries>();
  const hist = (key: string): HistogramSeries => {
    let h = histograms.get(key);
    if (h === undefined) {
      h = { count: 0, sum: 0, buckets: new Map() };
      histograms.set(key, h);
    }
    return h;
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(/\s+/);
      if (name !== undefined && type !== undefined) types.set(name, type);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    if (!keep.test(name)) continue;
    const value = Number(valueText);
    if (!Number.isFinite(value)) continue;
    const labels = (labelText ?? "").split(/,(?=[a-zA-Z_][a-zA-Z0-9_]*=")/).filter((l) => l !== "");
    const suffix = /_(bucket|sum|count)$/.exec(name)?.[1];
    const base = suffix === undefined ? name : name.slice(0, -suffix.length - 1);
    const baseType = types.get(base);
    if (suffix !== undefined && (baseType === "histogram" || baseType === "summary")) {
      const le = labels.find((l) => l.startsWith("le="));
      const rest = labels.filter((l) => !l.startsWith("le=") && !l.startsWith("quantile="));
      const key = rest.length === 0 ? base : `${base}{${rest.join(",")}}`;
      const h = hist(key);
      if (suffix === "sum") h.sum = value;
      else if (suffix === "count") h.count = value;
      else if (le !== undefined) {
        const bound = le.slice(4, -1) === "+Inf" ? Number.POSITIVE_INFINITY : Number(le.slice(4, -1));
        h.buckets.set(bound, value);
      }
    } else if (
      (types.get(name) ?? "counter") === "counter" &&
      !labels.some((l) => l.startsWith("quantile="))
    ) {
      counters.set(labelText ? `${name}{${labelText}}` : name, value);
    }
  }
  return { counters, histograms };
}

/** How many events a histogram recorded in an interval and how long they took, ms. */
export interface HistogramDelta {
  readonly n: number;
  /** Total time of the `n` events, ms (or the raw sum, for a unitless histogram). */
  readonly totalMs: number;
  /** An upper bound of the slowest event, ms: the smallest bucket holding all `n`; null beyond the last finite bucket. */
  readonly maxLeMs: number | null;
}

/** ms per unit of a duration histogram, from its name (`_seconds`, `_milliseconds`...); 1 if none. */
function msPerUnit(key: string): number {
  if (/_seconds\b/.test(key)) return 1000;
  if (/_microseconds\b/.test(key)) return 0.001;
  return 1;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * The events between two pages of the same member: counters that moved (`name{labels}: +n`) and
 * histograms that recorded something. A counter below its previous value means the process
 * restarted: its whole value is new. `prev` undefined: everything on `cur` counts.
 */
export function metricsDelta(
  prev: MetricsPage | undefined,
  cur: MetricsPage,
): Record<string, number | HistogramDelta> {
  const out: Record<string, number | HistogramDelta> = {};
  for (const [k, v] of cur.counters) {
    const p = prev?.counters.get(k) ?? 0;
    const d = v >= p ? v - p : v;
    if (d > 0) out[k] = d;
  }
  for (const [k, h] of cur.histograms) {
    const p = prev?.histograms.get(k);
    const restarted = p !== undefined && h.count < p.count;
    const base = restarted ? undefined : p;
    const n = h.count - (base?.count ?? 0);
    if (n <= 0) continue;
    const unit = msPerUnit(k);
    let maxLeMs: number | null = null;
    const bounds = [...h.buckets.keys()].sort((a, b) => a - b);
    for (const b of bounds) {
      const inBucket = (h.buckets.get(b) ?? 0) - (base?.buckets.get(b) ?? 0);
      if (inBucket >= n) {
        maxLeMs = Number.isFinite(b) ? r1(b * unit) : null;
        break;
      }
    }
    out[k] = { n, totalMs: r1((h.sum - (base?.sum ?? 0)) * unit), maxLeMs };
  }
  return out;
}

/** MiB, rounded to 0.1. */
export function toMiB(bytes: number): number {
  return r1(bytes / MiB);
}
