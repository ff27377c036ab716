/**
 * How far V8 lets the old generation grow past what survived the last full GC before collecting it
 * again. Left to V8, a server's old generation runs up to ~2.5-3x its live size and falls back at
 * each full GC: the soak bench's leader swung 166-226 MiB of RSS every ~30 s with 25-30 MiB live
 * (nodejs_heap_space_size_total_bytes{space="old"} 21-71 MiB), beyond the ±10% a flat RSS allows.
 * 1.5x keeps the swing within that at no measurable CPU cost; 1.2x also did, but cost 11-17% more
 * server CPU per write at 16 clients (packages/kv/README.md, "Memory"). V8 reads the factor at each
 * collection, so setting it at start-up takes effect.
 */
import { setFlagsFromString } from "node:v8";

/** The old generation may grow this many percent past its live size (V8's own heuristics: 0). */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/**
 * Sets V8's heap growing factor for this process: `TSRAFT_HEAP_GROWING_PERCENT` (0: V8's own) or
 * the default, unless `--heap-growing-percent` was given to node itself (command line or
 * NODE_OPTIONS). Returns the percent set, or undefined if left alone.
 */
export function tuneHeapGrowth(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): number | undefined {
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? "").split(/\s+/)];
  if (given.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) return undefined;
  const raw = env.TSRAFT_HEAP_GROWING_PERCENT;
  const percent = raw === undefined || raw === "" ? DEFAULT_HEAP_GROWING_PERCENT : Number(raw);
  if (!Number.isSafeInteger(percent) || percent < 0 || percent > 1000) {
    throw new RangeError(`TSRAFT_HEAP_GROWING_PERCENT must be an integer in [0, 1000], not ${raw}`);
  }
  if (percent === 0) return undefined;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
