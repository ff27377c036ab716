/**
 * The simulation property suite on 3-node clusters (voters, learners and spare nodes; every option
 * on or off at random): every Raft safety property after every step, then liveness once every fault
 * healed. Half of the seeds of `pnpm test` (the other half: sim-5.test.ts); TSRAFT_SIM_RUNS
 * sets the total for long runs.
 */
import { describe, expect, it } from "vitest";
import { describeTally, runSuite, SIM_STEPS, simRuns } from "./suite.js";

const RUNS = simRuns(500, 2);

describe("simulation, 3 nodes", () => {
  it(
    `${RUNS} seeds × ${SIM_STEPS} steps: no invariant violated, every run live after healing`,
    () => {
      const t = runSuite({ nodes: 3 }, RUNS, 20250603);
      console.log(describeTally("simulation, 3 nodes", t));
      expect(t.violations).toBe(0);
      expect(t.cases).toBe(RUNS);
      expect(t.steps).toBe(RUNS * SIM_STEPS);
      // The schedules do exercise what they are meant to (so a pass means something).
      for (const k of ["preVote", "checkQuorum", "leaseReads", "asyncStorageWrites", "learners"]) {
        expect(t.options[k] ?? 0, k).toBeGreaterThan(RUNS / 10);
      }
      const s = t.stats;
      expect(s.elections).toBeGreaterThan(RUNS * 3);
      expect(s.maxCommit).toBeGreaterThan(RUNS * 20);
      expect(s.crashes).toBeGreaterThan(RUNS);
      expect(s.tornWrites).toBeGreaterThan(0);
      expect(s.snapshotsSent).toBeGreaterThan(RUNS / 10);
      expect(s.confChangesApplied).toBeGreaterThan(RUNS / 2);
      expect(s.readsAnswered).toBeGreaterThan(RUNS);
      expect(s.messagesLost).toBeGreaterThan(RUNS * 10);
      expect(s.messagesDuplicated).toBeGreaterThan(RUNS);
      // Every run ends with the liveness probes (two transfers at least).
      expect(s.livenessProbes).toBeGreaterThan(RUNS * 2);
    },
    Math.max(120_000, RUNS * 60),
  );
});
