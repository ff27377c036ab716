/**
 * The simulation property suite, shared by the test files that split the seeds between vitest's
 * workers: fast-check draws case seeds from a fixed seed, each case (a cluster, its options, a
 * 2,000-step fault and workload schedule) runs with every invariant checked after every step and
 * ends with the liveness phase. A failure is shrunk and reported with its seed, the shrunk schedule,
 * its transcript and the command that replays it.
 */
import fc from "fast-check";
import {
  formatFailure,
  formatSeedSpec,
  type GenerateOptions,
  runCase,
  type SimCase,
  type SimStats,
  simCaseArbitrary,
} from "../../packages/raft/src/rafttest/index.js";

/** The fast-check seed of the suite (fixed: CI runs the same cases every time). */
export const SIM_SEED = 20250601;

/** Steps per case. */
export const SIM_STEPS = 2000;

/**
 * Cases for one of `files` test files: `TSRAFT_SIM_RUNS` (the total, for long runs) split evenly,
 * else `dflt`.
 */
export function simRuns(dflt: number, files: number): number {
  const total = Number(process.env.TSRAFT_SIM_RUNS ?? 0);
  return total > 0 ? Math.ceil(total / files) : dflt;
}

/**
 * What a suite run exercised: sums of the cases' counters (the highest term: the highest of all),
 * and how many cases had each option.
 */
export interface Tally {
  cases: number;
  steps: number;
  violations: number;
  options: Record<string, number>;
  stats: Record<string, number>;
  /** Wall-clock and CPU time (this process: user + system) of the run, in milliseconds. */
  ms: number;
  cpuMs: number;
}

function tallyCase(t: Tally, c: SimCase, s: SimStats): void {
  t.cases++;
  t.steps += s.steps;
  const o = c.options;
  const flags: Record<string, boolean> = {
    preVote: o.preVote,
    checkQuorum: o.checkQuorum,
    leaseReads: o.leaseReads,
    asyncStorageWrites: o.asyncStorageWrites,
    stepDownOnRemoval: o.stepDownOnRemoval,
    learners: c.cluster.learners.length > 0,
    spares: c.cluster.voters.length + c.cluster.learners.length < c.cluster.nodes,
  };
  for (const [k, v] of Object.entries(flags)) if (v) t.options[k] = (t.options[k] ?? 0) + 1;
  for (const [k, v] of Object.entries(s)) {
    t.stats[k] = k === "maxTerm" ? Math.max(t.stats[k] ?? 0, v) : (t.stats[k] ?? 0) + v;
  }
}

/**
 * Runs `runs` cases from `gen` (fast-check seed `seed`) and returns the tally; throws fast-check's
 * report (with the shrunk case's own report inside) at the first violation.
 */
export function runSuite(gen: GenerateOptions, runs: number, seed = SIM_SEED): Tally {
  const t: Tally = { cases: 0, steps: 0, violations: 0, options: {}, stats: {}, ms: 0, cpuMs: 0 };
  const start = performance.now();
  const cpu = process.cpuUsage();
  let failing = false;
  fc.assert(
    fc.property(simCaseArbitrary(fc, { ...gen, steps: gen.steps ?? SIM_STEPS }), (c) => {
      const run = runCase(c);
      if (!failing) tallyCase(t, c, run.stats);
      if (run.violation !== undefined) {
        if (!failing) t.violations++;
        failing = true;
        throw new Error(formatFailure(run, { seedSpec: formatSeedSpec(c.seed, gen) }));
      }
    }),
    { seed, numRuns: runs },
  );
  t.ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  t.cpuMs = (used.user + used.system) / 1000;
  return t;
}

/** One line per suite: cases, steps, violations, time, and what the cases exercised. */
export function describeTally(name: string, t: Tally): string {
  const s = t.stats;
  const opts = Object.entries(t.options)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return (
    `${name}: ${t.cases} seeds, ${t.steps} steps, ${t.violations} violations, ${(t.ms / 1000).toFixed(1)} s (cpu ${(t.cpuMs / 1000).toFixed(1)} s)\n` +
    `  options: ${opts}\n` +
    `  exercised: ${s.elections} elections (highest term ${s.maxTerm}), ${s.maxCommit} entries committed, ` +
    `${s.messagesDelivered} messages delivered, ${s.messagesLost} lost, ${s.messagesDuplicated} duplicated, ` +
    `${s.crashes} crashes (${s.tornWrites} torn writes), ${s.snapshotsTaken} snapshots taken, ${s.snapshotsSent} sent, ` +
    `${s.confChangesApplied} conf changes applied, ${s.transfers} transfers, ${s.readsAnswered} reads answered, ` +
    `${s.livenessTicks} liveness ticks`
  );
}
