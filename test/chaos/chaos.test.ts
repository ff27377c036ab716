/**
 * Chaos runs against real `tsraft-kv` processes (packages/chaos; see its README): each run starts a
 * cluster, drives 8 clients over 10 keys and 2 groups of keys (transactions, ranges), watches every
 * key from each node, injects one fault, heals, and checks that the history (single-key and
 * multi-key) is linearizable, that every acknowledged write is in the committed log, that every node
 * has the same state digest at the same applied index, and that every watch delivered exactly the
 * committed history.
 *
 * Short mode (the default, part of `pnpm test`): seeds 0–13 (every fault kind on 3 nodes), 42, 44,
 * 46 (the 1-node variant: kill, crash before fsync, crash before a snapshot) and the regression seeds
 * below, about 10 s each.
 * `TSRAFT_CHAOS_RUNS=N` runs seeds 0..N-1 instead (the long mode; 9.3 s a run on average, so 1000
 * runs take about 2.6 hours), `TSRAFT_CHAOS_SEED=S` runs seed S alone. A failing run keeps its artifacts and
 * prints the command that replays it.
 */
import { describe, expect, it } from "vitest";
import {
  FAULT_KINDS,
  formatRunReport,
  kvCliMissing,
  type RunReport,
  runChaos,
  specForSeed,
} from "../../packages/chaos/src/index.js";

/**
 * Seeds that found bugs, replayed by every short run:
 * - 40 (enospc on a follower): the fail-stopped node answered 503 `Stopped` to writes it had already
 *   forwarded to the leader, which committed them, while the README promised "nothing was proposed,
 *   retry" for every 503. Fixed in the README (Stopped: the write may still apply); the workload
 *   records Stopped as ambiguous (see workload.test.ts), and treating it as "not proposed" makes this
 *   run report the committed value as one no recorded write produced.
 */
const REGRESSIONS = [40];
const SHORT = [...Array.from({ length: FAULT_KINDS.length }, (_, i) => i), 42, 44, 46, ...REGRESSIONS];
const seeds = process.env.TSRAFT_CHAOS_SEED
  ? [Number(process.env.TSRAFT_CHAOS_SEED)]
  : process.env.TSRAFT_CHAOS_RUNS
    ? Array.from({ length: Number(process.env.TSRAFT_CHAOS_RUNS) }, (_, i) => i)
    : SHORT;

const FAILPOINT_KINDS = new Set([
  "crash-before-fsync",
  "crash-after-fsync",
  "crash-before-snapshot",
  "crash-after-snapshot",
  "enospc",
]);

const reports: RunReport[] = [];

describe("the short run's schedule", () => {
  it("covers every fault kind on 3 nodes, and the 1-node variant", () => {
    const specs = SHORT.map(specForSeed);
    expect(new Set(specs.filter((s) => s.nodes === 3).map((s) => s.fault))).toEqual(new Set(FAULT_KINDS));
    expect(specs.filter((s) => s.nodes === 1).length).toBeGreaterThanOrEqual(3);
    expect(SHORT.length).toBeGreaterThanOrEqual(10);
  });
});

describe.skipIf(kvCliMissing() !== undefined)("chaos runs (real processes, one fault each)", () => {
  it.each(seeds)(
    "seed %i",
    async (seed) => {
      const r = await runChaos(specForSeed(seed));
      reports.push(r);
      console.log(formatRunReport(r));
      expect(r.failures).toEqual([]);
      expect(r.lincheck).toBe("ok");
      // The run must have tested what it claims: load, and a failpoint that actually fired.
      expect(r.ops).toBeGreaterThan(100);
      if (FAILPOINT_KINDS.has(r.spec.fault)) expect(r.faultFired, "the failpoint never fired").toBe(true);
    },
    120_000,
  );

  // Skipped for a single replayed seed (TSRAFT_CHAOS_SEED): an aggregate over one run says nothing more.
  it.skipIf(seeds.length < 2)("ambiguity after patching stayed below 0.5% of all operations", () => {
    expect(reports).toHaveLength(seeds.length);
    const ops = reports.reduce((s, r) => s + r.ops, 0);
    const ambiguous = reports.reduce((s, r) => s + r.ambiguousAfter, 0);
    console.log(
      `chaos: ${reports.length} runs, ${ops} operations, ${ambiguous} ambiguous after patching (${((100 * ambiguous) / ops).toFixed(3)}%)`,
    );
    expect(ambiguous / ops).toBeLessThan(0.005);
  });
});
