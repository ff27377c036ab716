/**
 * The shared part of tsraft's benchmarks: what a bench family looks like to the runner, how one
 * timed section is measured (wall and CPU time, GC, heap), and latency percentiles.
 *
 * A bench family is one file (`core.ts`, `micro.ts`, ...) exporting a {@link BenchFamily}; the
 * registry (`registry.ts`) names the families, and `scripts/bench.mjs` runs each case of each
 * selected family in a fresh child process per run (`child.ts`), then aggregates the runs.
 */
import { constants, type PerformanceEntry, PerformanceObserver, performance } from "node:perf_hooks";

/** A parameter of a bench case, as printed in its JSON line. */
export type ParamValue = number | string | boolean;

/** One configuration of a bench family: `id` names it on the command line (`core/3v-b64-step`). */
export interface BenchCase {
  readonly id: string;
  readonly params: Readonly<Record<string, ParamValue>>;
}

/** Options every family accepts; a family ignores those that make no sense for it. */
export interface RunOptions {
  /** Operations to time (the core's N); each family has its own default. */
  readonly n?: number | undefined;
  /** Where a disk-bound family puts its files (`--dir`); default: a temp directory on a real disk. */
  readonly dir?: string | undefined;
  /** Seconds per timed phase for families that run for a time rather than N ops (`--duration`). */
  readonly durationSec?: number | undefined;
  /**
   * The family's own options as given (`--gib 2` → `{gib: "2"}`, a flag → `{"no-etcd": true}`),
   * already checked against its {@link FamilyOption}s by the runner.
   */
  readonly extra?: Readonly<Record<string, string | true>> | undefined;
}

/** A command-line option only one family understands (`--gib N` for growth). */
export interface FamilyOption {
  /** Without the dashes: `gib` for `--gib`. */
  readonly name: string;
  /** Whether it takes a value (`--gib 2`) or is a flag (`--no-etcd`). */
  readonly takesValue: boolean;
  /** One line for `pnpm bench --help`/`--list`, with the default. */
  readonly help: string;
}

/** Percentiles of a latency distribution, in `unit`, over `samples` samples of `of`. */
export interface Latency {
  readonly unit: "ns" | "us" | "ms";
  /** What one sample measures, e.g. "one round (every 16th)" or "mean ns/op over 1000 ops". */
  readonly of: string;
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** The 99.9th percentile, for families whose samples are requests (cluster, wal). */
  readonly p999?: number | undefined;
  readonly max: number;
}

/** What the reference implementation did on the same workload, when known. */
export interface Reference {
  /** Where the figures come from (implementation, version, machine). */
  readonly source: string;
  /** The reference's work counters for this case and N; compared with ours one by one. */
  readonly counters?: Readonly<Record<string, number>>;
  /** The reference's operations per CPU second on this machine: the target. */
  readonly cpuOpsPerSec?: number;
}

/** Garbage collections during the timed section (from perf_hooks 'gc' entries). */
export interface GcStats {
  readonly minor: number;
  readonly major: number;
  readonly incremental: number;
  readonly weakcb: number;
  /** Total time spent in the collections, ms. */
  readonly pauseMs: number;
}

/** Heap use around the timed section, MiB (after a full GC before it, when --expose-gc is on). */
export interface HeapStats {
  readonly usedBeforeMiB: number;
  readonly usedAfterMiB: number;
  readonly totalAfterMiB: number;
}

/** The result of one run of one case: one JSON line. */
export interface BenchResult {
  readonly bench: string;
  readonly case: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  /** Operations timed (proposals applied, encodes, ...). */
  readonly ops: number;
  readonly wallMs: number;
  /** User + system CPU time of the whole process during the timed section. */
  readonly cpuMs: number;
  readonly opsPerSec: number;
  /** ops per CPU second: the figure that compares across machines loaded differently. */
  readonly cpuOpsPerSec: number;
  readonly latency?: Latency | undefined;
  /** Work counters: deterministic for a given case and N. */
  readonly counters: Readonly<Record<string, number>>;
  /**
   * Measured figures other than ops/s (MB/s, the raw fdatasync rate, a ratio to etcd...): they vary
   * from run to run, unlike counters, so the runner reports their medians with min and max.
   */
  readonly figures?: Readonly<Record<string, number>> | undefined;
  readonly gc: GcStats;
  readonly heap: HeapStats;
  readonly reference?: Reference | undefined;
  /** Counters that differ from the reference's: `name: [ours, reference]`. Empty if they all match. */
  readonly counterDiffs?: Readonly<Record<string, readonly [number, number]>> | undefined;
  /** Free-form notes (why a counter differs, what was checked). */
  readonly notes?: readonly string[] | undefined;
}

/** A benchmark family: a set of cases and the function that runs one. */
export interface BenchFamily {
  readonly kind?: "batch";
  readonly name: string;
  readonly summary: string;
  cases(): readonly BenchCase[];
  /** Runs case `caseId` once in this process and returns its measurements. */
  run(caseId: string, opts: RunOptions): Promise<BenchResult>;
}

/**
 * A family whose run lasts minutes and reports as it goes (the growth bench): it emits JSON lines
 * (one per time window, then a summary) instead of returning one {@link BenchResult}, and the runner
 * forwards them as they come rather than aggregating runs.
 */
export interface StreamFamily {
  readonly kind: "stream";
  readonly name: string;
  readonly summary: string;
  /** Options of its own, which the runner accepts and passes through in {@link RunOptions.extra}. */
  readonly options: readonly FamilyOption[];
  cases(): readonly BenchCase[];
  /**
   * Runs case `caseId` once in this process, calling `emit` with each JSON line as soon as it is
   * known. Throws (the run fails) on a broken post-condition; a missed target is a figure, not a throw.
   */
  stream(caseId: string, opts: RunOptions, emit: (line: object) => void): Promise<void>;
  /** One line of `emit`'s output as a human reads it (the runner's output without --json). */
  format(line: Readonly<Record<string, unknown>>): string;
}

/** Either kind of family, as the registry loads them. */
export type AnyFamily = BenchFamily | StreamFamily;

/** What {@link measure} observed around a synchronous section. */
export interface Measurement {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly gc: GcStats;
  readonly heap: HeapStats;
}

const MiB = 1024 * 1024;

/**
 * Runs `fn` (the whole timed section: synchronous, or async for I/O-bound families) and measures
 * it. Runs a full GC first when the process has `--expose-gc`, so that garbage from the setup is
 * not charged to the section.
 */
export async function measure(fn: () => void | Promise<void>): Promise<Measurement> {
  const entries: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push(e);
  });
  obs.observe({ entryTypes: ["gc"] });
  const gcFn = (globalThis as { gc?: () => void }).gc;
  if (gcFn !== undefined) gcFn();
  // Let the observer take the entries of that collection before the section starts.
  await new Promise((resolve) => setImmediate(resolve));
  const heapBefore = process.memoryUsage().heapUsed;

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pending = fn();
  if (pending !== undefined) await pending;
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);

  const mem = process.memoryUsage();
  // GC entries are delivered asynchronously: give the observer a turn, then keep those of the section.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setTimeout(resolve, 10));
  obs.disconnect();
  let minor = 0;
  let major = 0;
  let incremental = 0;
  let weakcb = 0;
  let pauseMs = 0;
  for (const e of entries) {
    if (e.startTime < t0 || e.startTime > t1) continue;
    pauseMs += e.duration;
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
    else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) incremental++;
    else if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) weakcb++;
  }
  return {
    wallMs: t1 - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    gc: { minor, major, incremental, weakcb, pauseMs: round3(pauseMs) },
    heap: {
      usedBeforeMiB: round3(heapBefore / MiB),
      usedAfterMiB: round3(mem.heapUsed / MiB),
      totalAfterMiB: round3(mem.heapTotal / MiB),
    },
  };
}

/**
 * Sums measurements of several timed slices of one run (interleaved with untimed work, e.g. the raw
 * fdatasync loop between slices of WAL saves): times and GC counts add up, the heap is the first
 * slice's before and the last one's after.
 */
export function sumMeasurements(ms: readonly Measurement[]): Measurement {
  if (ms.length === 0) throw new Error("sumMeasurements: no measurement");
  const sum = (f: (m: Measurement) => number) => ms.reduce((a, m) => a + f(m), 0);
  const last = ms[ms.length - 1]!;
  return {
    wallMs: sum((m) => m.wallMs),
    cpuMs: sum((m) => m.cpuMs),
    gc: {
      minor: sum((m) => m.gc.minor),
      major: sum((m) => m.gc.major),
      incremental: sum((m) => m.gc.incremental),
      weakcb: sum((m) => m.gc.weakcb),
      pauseMs: round3(sum((m) => m.gc.pauseMs)),
    },
    heap: { ...last.heap, usedBeforeMiB: ms[0]!.heap.usedBeforeMiB },
  };
}

/**
 * Collects latency samples into a preallocated buffer (no allocation while timing). Samples past
 * the capacity are dropped, so size it for the run.
 */
export class Samples {
  readonly #buf: Float64Array;
  #n = 0;

  constructor(capacity: number) {
    this.#buf = new Float64Array(Math.max(1, capacity));
  }

  add(v: number): void {
    if (this.#n < this.#buf.length) this.#buf[this.#n++] = v;
  }

  get count(): number {
    return this.#n;
  }

  /**
   * The nearest-rank percentiles of the samples, scaled by `scale` (e.g. 1e3 for ms → us); with
   * `p999`, the 99.9th too.
   */
  latency(unit: Latency["unit"], of: string, scale = 1, p999 = false): Latency {
    return latencyOf(this.#buf.slice(0, this.#n), unit, of, scale, p999);
  }
}

/** Percentiles of `samples` (sorted in place), as {@link Samples.latency}. */
export function latencyOf(
  samples: Float64Array,
  unit: Latency["unit"],
  of: string,
  scale = 1,
  p999 = false,
): Latency {
  const s = samples.sort();
  return {
    unit,
    of,
    samples: s.length,
    p50: round3(percentile(s, 50) * scale),
    p90: round3(percentile(s, 90) * scale),
    p99: round3(percentile(s, 99) * scale),
    ...(p999 ? { p999: round3(percentile(s, 99.9) * scale) } : {}),
    max: round3((s.length > 0 ? s[s.length - 1]! : 0) * scale),
  };
}

/** The nearest-rank `p`th percentile of `sorted` (ascending); 0 for no samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!;
}

/** Rounds to 3 decimals (JSON lines stay readable). */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * The counters of `ours` that differ from `ref` (only names present in `ref` are compared), as
 * `name: [ours, reference]`.
 */
export function diffCounters(
  ours: Readonly<Record<string, number>>,
  ref: Readonly<Record<string, number>>,
): Record<string, readonly [number, number]> {
  const d: Record<string, readonly [number, number]> = {};
  for (const [k, v] of Object.entries(ref)) {
    const o = ours[k];
    if (o !== v) d[k] = [o ?? Number.NaN, v];
  }
  return d;
}

/** Assembles a {@link BenchResult} from a measurement and the case's own figures. */
export function result(
  family: string,
  c: BenchCase,
  ops: number,
  m: Measurement,
  extra: {
    counters: Record<string, number>;
    figures?: Record<string, number> | undefined;
    latency?: Latency | undefined;
    reference?: Reference | undefined;
    notes?: string[] | undefined;
  },
): BenchResult {
  const ref = extra.reference;
  return {
    bench: family,
    case: c.id,
    params: c.params,
    ops,
    wallMs: round3(m.wallMs),
    cpuMs: round3(m.cpuMs),
    opsPerSec: Math.round(ops / (m.wallMs / 1000)),
    cpuOpsPerSec: Math.round(ops / (m.cpuMs / 1000)),
    latency: extra.latency,
    counters: extra.counters,
    figures: extra.figures,
    gc: m.gc,
    heap: m.heap,
    reference: ref,
    counterDiffs: ref?.counters !== undefined ? diffCounters(extra.counters, ref.counters) : undefined,
    notes: extra.notes,
  };
}

/** Looks up a case of `family` by id, with an error listing the valid ones. */
export function findCase(family: AnyFamily, id: string): BenchCase {
  const c = family.cases().find((x) => x.id === id);
  if (c === undefined) {
    const ids = family
      .cases()
      .map((x) => x.id)
      .join(", ");
    throw new Error(`unknown ${family.name} case ${JSON.stringify(id)} (cases: ${ids})`);
  }
  return c;
}
