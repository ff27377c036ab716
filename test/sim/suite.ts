/**
 * The simulation property suite, shared by the test files that split the seeds between vitest's
 * workers: fast-check draws case seeds from a fixed seed, each case (a cluster, its options, a
 * 2,000-step fault and workload schedule) runs with every invariant checked after every step and
 * ends with the liveness phase. A failure is shrunk and reported with its seed, the shrunk schedule,
 * its transcript and the command that replays it.
 */
import { appendFileSync } from "node:fs";
import fc from "fast-check";
import { simCaseArbitrary } from "../../packages/raft/src/rafttest/fast-check.js";
import {
  formatFailure,
  formatSeedSpec,
  type GenerateOptions,
  InvariantViolation,
  REPLAY_TEST,
  runCase,
  type SimCase,
  type SimStats,
} from "../../packages/raft/src/rafttest/index.js";
import { boundedShrink, fcShrinkBudgetMs } from "../fc.js";

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
 * Runs `runs` cases from `gen` (fast-check seed `seed`) and returns the tally. At the first
 * violation it prints the counterexample and the command that replays it at once (and appends it
 * as a JSON line to the file `TSRAFT_SIM_REPORT` names, for scripts/mutate.mjs), shrinks it for at
 * most {@link fcShrinkBudgetMs} (`FC_SHRINK=full`: no limit), and throws the report of the shrunk
 * case: a broken core fails the suite within seconds.
 */
export function runSuite(gen: GenerateOptions, runs: number, seed = SIM_SEED): Tally {
  const t: Tally = { cases: 0, steps: 0, violations: 0, options: {}, stats: {}, ms: 0, cpuMs: 0 };
  const start = performance.now();
  const cpu = process.cpuUsage();
  let failing = false;
  const property = (c: SimCase): void => {
    const run = runCase(c);
    if (!failing) tallyCase(t, c, run.stats);
    if (run.violation !== undefined) {
      if (!failing) t.violations++;
      failing = true;
      throw run.violation;
    }
  };
  const firstFailure = (e: unknown, c: SimCase): void => {
    const spec = formatSeedSpec(c.seed, gen);
    const v = e instanceof InvariantViolation ? e : undefined;
    const what = v === undefined ? String(e) : `${v.invariant} at step ${v.step}: ${v.detail}`;
    const ms = performance.now() - start;
    console.error(
      `simulation: first counterexample after ${t.cases} case(s), ${(ms / 1000).toFixed(1)} s: ${what}\n` +
        `  replay it: TSRAFT_SIM_REPLAY=${spec} corepack pnpm test ${REPLAY_TEST}\n` +
        `  (shrinking it for at most ${fcShrinkBudgetMs() / 1000} s; FC_SHRINK=full for no limit)`,
    );
    const file = process.env.TSRAFT_SIM_REPORT;
    if (file !== undefined && file !== "") {
      const line = {
        spec,
        invariant: v?.invariant ?? "error",
        step: v?.step ?? 0,
        detail: what,
        ms,
        cases: t.cases,
      };
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    }
  };
  const r = fc.check(
    fc.property(
      simCaseArbitrary(fc, { ...gen, steps: gen.steps ?? SIM_STEPS }),
      boundedShrink(property, firstFailure),
    ),
    { seed, numRuns: runs },
  );
  t.ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  t.cpuMs = (used.user + used.system) / 1000;
  if (r.failed) {
    const shrunk = r.counterexample?.[0];
    if (shrunk === undefined) throw r.errorInstance ?? new Error("the simulation suite failed");
    const run = runCase(shrunk, { trace: true });
    throw new Error(
      `${formatFailure(run, { seedSpec: formatSeedSpec(shrunk.seed, gen) })}\n` +
        `(after ${t.cases} case(s); shrunk ${r.numShrinks} time(s), ${(t.ms / 1000).toFixed(1)} s in all)`,
    );
  }
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
    `${s.livenessTicks} liveness ticks, ${s.livenessProbes} liveness probes`
  );
}
