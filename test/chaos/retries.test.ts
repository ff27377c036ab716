/**
 * Chaos runs with the retrying workload (packages/chaos, `retries`): every write carries an
 * Idempotency-Key and every ambiguous one (a 504, a reset, 503 Stopped or LeaderChanged) is sent
 * again with its key until its answer is definite — single-key writes and the groups' transactions
 * alike. The checks of every run apply, with the committed log deduplicated by key as the state
 * machine does: every acknowledged write is committed exactly once, the history is linearizable,
 * and nothing is left ambiguous but what ran out of its retry budget.
 *
 * Short mode: seed 0 (kill the leader) and seed 40 (a follower fail-stops on ENOSPC: the 503
 * Stopped regression). `TSRAFT_CHAOS_RETRY_SEEDS=a,b,...` runs other seeds.
 */
import { describe, expect, it } from "vitest";
import {
  formatRunLine,
  kvCliMissing,
  type RunReport,
  runChaos,
  specForSeed,
} from "../../packages/chaos/src/index.js";

const seeds = (process.env.TSRAFT_CHAOS_RETRY_SEEDS ?? "0,40").split(",").map(Number);
const reports: RunReport[] = [];

describe.skipIf(kvCliMissing() !== undefined)("chaos runs, retrying ambiguous writes with their keys", () => {
  it.each(seeds)(
    "seed %i",
    async (seed) => {
      const r = await runChaos({ ...specForSeed(seed), retries: true });
      reports.push(r);
      console.log(formatRunLine(r));
      if (!r.ok) console.log(`${r.failures.join("\n")}\nartifacts: ${r.dir}\nreplay: ${r.replay}`);
      expect(r.failures).toEqual([]);
      expect(r.lincheck).toBe("ok");
      expect(r.ops).toBeGreaterThan(100);
      // Retried to a definite answer, transactions too: what stays ambiguous is exactly what ran
      // out of its retry budget (15 s; the final write's 10 s).
      expect(r.ambiguousBefore).toBe(r.retryExhausted);
    },
    120_000,
  );

  // Skipped for a single seed: that one run may have had nothing ambiguous to retry.
  it.skipIf(seeds.length < 2)("the runs did retry writes, and found some already applied", () => {
    const retried = reports.reduce((s, r) => s + r.retried, 0);
    const replays = reports.reduce((s, r) => s + r.replays, 0);
    const txns = reports.reduce((s, r) => s + r.retriedTxns, 0);
    console.log(
      `retrying chaos: ${reports.length} runs, ${retried} writes retried (${txns} transactions), ${replays} replays deduplicated`,
    );
    expect(retried).toBeGreaterThan(0);
  });
});
