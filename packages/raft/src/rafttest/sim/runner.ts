/**
 * Running a case start to finish, reporting a failure readably, and naming a case so that it can
 * be replayed with one command: either by its seed (the generator rebuilds it) or verbatim (the
 * one-line text of a shrunk schedule).
 */
import { type GenerateOptions, generateCase } from "./generator.js";
import { InvariantViolation } from "./invariants.js";
import {
  BROKEN_VARIANTS,
  type BrokenVariant,
  formatCase,
  formatCaseOneLine,
  parseCase,
  ScheduleSyntaxError,
  type SimCase,
} from "./schedule.js";
import { type SimStats, Simulation, type SimulationOptions } from "./simulation.js";
import { AsyncStateMachineError } from "./state-machine-driver.js";

/** Options of {@link runCase}. */
export interface RunOptions extends SimulationOptions {
  /** Run the liveness phase after the schedule (default true). */
  liveness?: boolean;
}

/** The outcome of {@link runCase}. */
export interface SimRun {
  readonly case: SimCase;
  /** The first property broken, if any. */
  readonly violation: InvariantViolation | undefined;
  readonly stats: SimStats;
  /** The transcript, if `trace` was on. */
  readonly transcript: string | undefined;
  /** The simulation, as the run left it. */
  readonly sim: Simulation;
}

/**
 * Runs `c`'s schedule, then (unless `liveness: false`) the liveness phase, stopping at the first
 * violation. Errors other than an {@link InvariantViolation} (bugs of the simulator) propagate. For
 * state machines that answer synchronously (the examples do): one that returns a promise makes it
 * throw an AsyncStateMachineError; use {@link runCaseAsync} for those.
 */
export function runCase(c: SimCase, opts: RunOptions = {}): SimRun {
  let violation: InvariantViolation | undefined;
  let sim: Simulation | undefined;
  try {
    sim = new Simulation(c, opts);
    sim.assertSynchronous();
    sim.run(c.schedule);
    if (opts.liveness !== false) sim.awaitLiveness();
  } catch (e) {
    if (!(e instanceof InvariantViolation) || sim === undefined) throw e;
    violation = e;
  }
  return finish(c, sim, violation);
}

/**
 * {@link runCase} for any implementation of the state machine contract: a state machine's promises
 * are awaited between two steps, so the run is the same every time.
 */
export async function runCaseAsync(c: SimCase, opts: RunOptions = {}): Promise<SimRun> {
  let violation: InvariantViolation | undefined;
  let sim: Simulation | undefined;
  try {
    sim = new Simulation(c, opts);
    await sim.settle();
    await sim.runAsync(c.schedule);
    if (opts.liveness !== false) await sim.awaitLivenessAsync();
  } catch (e) {
    if (!(e instanceof InvariantViolation) || sim === undefined) throw e;
    violation = e;
  }
  return finish(c, sim, violation);
}

/**
 * The step at which each case object last failed in {@link runCase} / {@link runCaseAsync}: the
 * shrinker cuts the schedule there first, without running the case again.
 */
const failedAtStep = new WeakMap<SimCase, number>();

/** The step at which `c` (this very object) failed when it was last run, if it did. */
export function lastFailedStep(c: SimCase): number | undefined {
  return failedAtStep.get(c);
}

function finish(c: SimCase, sim: Simulation, violation: InvariantViolation | undefined): SimRun {
  if (violation !== undefined) failedAtStep.set(c, violation.step);
  else failedAtStep.delete(c);
  return {
    case: c,
    violation,
    stats: sim.finalStats(),
    transcript: sim.transcript?.toString(),
    sim,
  };
}

/** The test file that replays a case (see {@link replayCommand}). */
export const REPLAY_TEST = "test/sim/replay";

/**
 * The shell command that replays `c` from the repository root: the one-line case in
 * `TSRAFT_SIM_REPLAY`, run by the replay test, which prints the transcript.
 */
export function replayCommand(c: SimCase): string {
  return `TSRAFT_SIM_REPLAY='${formatCaseOneLine(c)}' corepack pnpm test ${REPLAY_TEST}`;
}

/** `seed:<seed>[,nodes=N][,steps=S][,nofaults][,broken=a+b]`: a seed and the generator options used. */
export function formatSeedSpec(seed: number, g: GenerateOptions = {}): string {
  let s = `seed:${seed}`;
  if (g.nodes !== undefined) s += `,nodes=${g.nodes}`;
  if (g.steps !== undefined) s += `,steps=${g.steps}`;
  if (g.noFaults === true) s += ",nofaults";
  if (g.broken !== undefined && g.broken.length > 0) s += `,broken=${g.broken.join("+")}`;
  return s;
}

/**
 * The case a replay spec names: a seed spec (see {@link formatSeedSpec}; the generator rebuilds
 * the case) or a case's text (see parseCase). Throws a ScheduleSyntaxError.
 */
export function parseReplaySpec(spec: string): SimCase {
  const t = spec.trim();
  if (!t.startsWith("seed:")) return parseCase(t);
  const [head, ...rest] = t.slice(5).split(",");
  if (head === undefined || !/^\d+$/.test(head)) throw new ScheduleSyntaxError(`bad seed in ${spec}`);
  let g: { -readonly [K in keyof GenerateOptions]: GenerateOptions[K] } = {};
  for (const kv of rest) {
    const [k, v] = kv.split("=");
    if (k === "nodes" && v !== undefined) g = { ...g, nodes: Number(v) };
    else if (k === "steps" && v !== undefined) g = { ...g, steps: Number(v) };
    else if (k === "nofaults") g = { ...g, noFaults: true };
    else if (k === "broken" && v !== undefined) {
      const b = v.split("+") as BrokenVariant[];
      for (const x of b)
        if (!BROKEN_VARIANTS.includes(x)) throw new ScheduleSyntaxError(`unknown broken variant ${x}`);
      g = { ...g, broken: b };
    } else throw new ScheduleSyntaxError(`unknown seed option ${kv}`);
  }
  return generateCase(Number(head), g);
}

/** The transcript of `c`, run again with tracing (a note instead, if it needs runCaseAsync). */
function retrace(c: SimCase, opts: RunOptions | undefined): string {
  try {
    return runCase(c, { ...opts, trace: true }).transcript ?? "";
  } catch (e) {
    if (!(e instanceof AsyncStateMachineError)) throw e;
    return "(the state machine is asynchronous: run the case with runCaseAsync and trace: true for its transcript)\n";
  }
}

/** Options of {@link formatFailure}. */
export interface FailureReportOptions {
  /** The seed spec of the unshrunk case, if it came from the generator. */
  seedSpec?: string;
  /** Print at most this many transcript lines, the last ones (default 200; 0: none). */
  transcriptLines?: number;
  /** Print the schedule in full up to this many steps (default 400). */
  scheduleLines?: number;
  /** How the case was run (to re-run it with tracing: the same state machine, ...). */
  runOptions?: RunOptions;
}

/**
 * A readable report of a failed run: the violation, the case (schedule included unless very
 * long), the end of the transcript (re-running the case with tracing if needed), and the commands
 * that replay it.
 */
export function formatFailure(run: SimRun, opts: FailureReportOptions = {}): string {
  const c = run.case;
  const v = run.violation;
  const out: string[] = [];
  out.push(
    v === undefined
      ? "Simulation failed (no invariant violated: see the property's own assertion)"
      : `Simulation violated ${v.invariant} at step ${v.step} of ${c.schedule.length}${v.invariant === "liveness" ? " (liveness phase)" : ""}:`,
  );
  if (v !== undefined) out.push(`  ${v.detail}`);
  out.push(
    `seed: ${c.seed}${opts.seedSpec !== undefined ? ` (unshrunk case: TSRAFT_SIM_REPLAY=${opts.seedSpec})` : ""}`,
  );
  const maxSched = opts.scheduleLines ?? 400;
  if (c.schedule.length <= maxSched) {
    out.push(`schedule (${c.schedule.length} steps):`);
    for (const line of formatCase(c).split("\n")) out.push(`  ${line}`);
  } else {
    out.push(`schedule: ${c.schedule.length} steps (replay it to see them)`);
  }
  const max = opts.transcriptLines ?? 200;
  if (max > 0) {
    const transcript = run.transcript ?? retrace(c, opts.runOptions);
    const lines = transcript.split("\n").filter((l) => l !== "");
    out.push(`transcript${lines.length > max ? ` (last ${max} of ${lines.length} lines)` : ""}:`);
    for (const l of lines.slice(-max)) out.push(`  ${l}`);
  }
  out.push("replay:");
  out.push(`  ${replayCommand(c)}`);
  return out.join("\n");
}
