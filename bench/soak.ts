/**
 * The soak benchmark (issue 14, item 4): a 3-node tsraft-kv under a steady load for a long time —
 * 64 closed-loop clients PUTting fresh keys with 128 B values (`--clients`, `--value-bytes`) for
 * 600 s (`--duration`) — one JSON line per 10 s window (`--window`), as the growth bench's (the
 * same runner: growth-run.ts, with no catch-up phase), then a summary line whose checks say whether
 * the cluster held steady: no window below 70% of the median writes/s, and each node's RSS flat
 * after the warm-up (`--warmup`, 60 s): every window's within ±10% of that node's median.
 *
 * Runs only when named: `pnpm bench soak` (the default `--duration` is 600 s).
 */
import { mkdirSync } from "node:fs";
import { benchParent, fsTypeOf } from "./disk.js";
import { familyOptions, type LoadDefaults, loadOptions, loadSettings } from "./family-options.js";
import { formatLine, type WindowLine } from "./growth-report.js";
import { type GrowthParams, RUN_PARAMS, runGrowth } from "./growth-run.js";
import { TSRAFT_SYSTEM } from "./growth-systems.js";
import {
  type BenchCase,
  type FamilyOption,
  findCase,
  percentile,
  type RunOptions,
  round3,
  type StreamFamily,
} from "./lib.js";

const CASE: BenchCase = { id: "put-fresh-128B", params: RUN_PARAMS };

const LOAD_DEFAULTS: LoadDefaults = { clients: 64, valueBytes: 128 };

const OPTIONS: readonly FamilyOption[] = [
  ...loadOptions(LOAD_DEFAULTS),
  { name: "warmup", takesValue: true, help: "seconds left out of the checks at the start (default 60)" },
  { name: "kv-args", takesValue: true, help: "extra tsraft-kv flags" },
];

/** No window below this fraction of the median writes/s. */
export const MIN_WINDOW_RATIO = 0.7;
/** Each node's RSS within this fraction of its median, every window after the warm-up. */
export const MAX_RSS_DRIFT = 0.1;

/** A soak's checks, from its window lines. */
export interface SoakFigures {
  /** Full windows after the warm-up. */
  readonly windows: number;
  readonly medianWritesPerSec: number | null;
  readonly minWindowRatio: number | null;
  /** Per node: its median RSS after the warm-up, MiB, and the largest |rss / median - 1| of a window. */
  readonly rss: readonly { node: number; medianMiB: number; maxDrift: number }[];
  readonly maxRssDrift: number | null;
}

/** The soak's figures, from the full windows that start after `warmupSec`. */
export function soakFigures(windows: readonly WindowLine[], warmupSec: number): SoakFigures {
  const steady = windows.filter((w) => !w.partial && w.tSec - w.durSec >= warmupSec);
  const rates = steady.map((w) => w.writesPerSec).sort((a, b) => a - b);
  const median = rates.length === 0 ? null : percentile(rates, 50);
  const minRatio = median === null || median === 0 ? null : round3(rates[0]! / median);
  const nodes = [...new Set(steady.flatMap((w) => w.nodes.map((n) => n.node)))].sort((a, b) => a - b);
  const rss = nodes.flatMap((node) => {
    const xs = steady
      .map((w) => w.nodes.find((n) => n.node === node)?.rssMiB)
      .filter((x): x is number => typeof x === "number")
      .sort((a, b) => a - b);
    if (xs.length === 0) return [];
    const m = percentile(xs, 50);
    return [
      { node, medianMiB: round3(m), maxDrift: round3(Math.max(...xs.map((x) => Math.abs(x / m - 1)))) },
    ];
  });
  return {
    windows: steady.length,
    medianWritesPerSec: median,
    minWindowRatio: minRatio,
    rss,
    maxRssDrift: rss.length === 0 ? null : Math.max(...rss.map((r) => r.maxDrift)),
  };
}

async function stream(caseId: string, opts: RunOptions, emit: (line: object) => void): Promise<void> {
  findCase(family, caseId);
  const reader = familyOptions("soak", opts);
  const { clients, valueBytes, windowSec } = loadSettings(reader, LOAD_DEFAULTS);
  const warmupSec = reader.number("warmup", 60, (v) => v >= 0, "seconds ≥ 0");
  const durationSec = opts.durationSec ?? 600;
  const kvArgs = reader.words("kv-args");
  const parent = benchParent(opts.dir);
  mkdirSync(parent, { recursive: true });

  const params: GrowthParams = {
    clients,
    valueBytes,
    growthBytes: Number.POSITIVE_INFINITY,
    phaseMaxMs: durationSec * 1000,
    catchupBytes: 0,
    catchupTimeoutMs: 0,
    signal: "SIGTERM",
    windowMs: windowSec * 1000,
    dir: opts.dir,
    extraArgs: kvArgs,
  };
  const windows: WindowLine[] = [];
  const summary = await runGrowth(TSRAFT_SYSTEM, params, (line) => {
    if ((line as { type?: string }).type === "window") windows.push(line as WindowLine);
    emit(line);
  });
  emit(summary);
  const f = soakFigures(windows, warmupSec);
  emit({
    type: "summary",
    bench: family.name,
    case: caseId,
    params: { clients, valueBytes, windowSec, warmupSec, durationSec, kvArgs: kvArgs.join(" ") },
    fsType: fsTypeOf(parent),
    ...f,
    leaderChanges: summary.leaderChanges,
    errors: summary.errors,
    checks: [
      {
        name: "minWindowRatio",
        value: f.minWindowRatio,
        target: `≥ ${MIN_WINDOW_RATIO} (no window after the warm-up below 70% of the median writes/s)`,
        pass: f.minWindowRatio === null ? null : f.minWindowRatio >= MIN_WINDOW_RATIO,
      },
      {
        name: "maxRssDrift",
        value: f.maxRssDrift,
        target: `≤ ${MAX_RSS_DRIFT} (each node's RSS within ±10% of its median, every window after the warm-up)`,
        pass: f.maxRssDrift === null ? null : f.maxRssDrift <= MAX_RSS_DRIFT,
      },
    ],
  });
}

/** The soak family: one case, streamed; runs only when named. */
export const family: StreamFamily = {
  kind: "stream",
  name: "soak",
  summary: "3 tsraft-kv processes, 64 clients PUTting 128 B values for 600 s: steady writes/s, flat RSS",
  options: OPTIONS,
  cases: () => [CASE],
  stream,
  format: formatLine,
};
