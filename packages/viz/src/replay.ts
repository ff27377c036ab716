/**
 * Replaying a case step by step: what a failing property test printed (its whole report, the
 * replay command, the one-line case, a seed spec, or a case's text) becomes a {@link SimCase}, run
 * one action at a time on a live {@link Simulation}, stopping at the step where an invariant broke.
 */
import {
  formatAction,
  type InvariantName,
  InvariantViolation,
  parseReplaySpec,
  runCase,
  type SimCase,
  Simulation,
} from "@tsraft/raft/rafttest";

/**
 * The replay spec in `text`: the shrunk case of a failure report or a replay command
 * (`TSRAFT_SIM_REPLAY='<case>' ...`), else the unshrunk seed spec a report names
 * (`TSRAFT_SIM_REPLAY=seed:...`), else the text itself (a case, one-line or not, or a seed spec).
 */
export function extractSpec(text: string): string {
  const quoted = /TSRAFT_SIM_REPLAY='([^']*)'/.exec(text);
  if (quoted !== null) return quoted[1]!;
  const seed = /TSRAFT_SIM_REPLAY=(seed:[^\s)]+)/.exec(text);
  if (seed !== null) return seed[1]!;
  return text.trim();
}

/** Parses what {@link extractSpec} finds in `text`. Throws a ScheduleSyntaxError. */
export function parseReplayText(text: string): SimCase {
  return parseReplaySpec(extractSpec(text));
}

/** How a complete run of the case ends (known before stepping through it). */
export interface ReplayOutcome {
  /** The property broken, if any, its detail and the step it broke at. */
  readonly violation:
    | { readonly invariant: InvariantName; readonly detail: string; readonly step: number }
    | undefined;
  /** True if it broke in the liveness phase, after the schedule. */
  readonly inLiveness: boolean;
}

/** A case replayed one step at a time. */
export class ReplaySession {
  readonly case: SimCase;
  /** How the whole run ends (from a run ahead of time). */
  readonly outcome: ReplayOutcome;
  sim: Simulation;
  /** Actions of the schedule run so far. */
  index = 0;
  ticks = 0;
  /** The violation the stepping hit (the run cannot go on after it). */
  violation: InvariantViolation | undefined;
  /** Set once the liveness phase ran; its result in ticks, or the violation. */
  livenessTicks: number | undefined;

  constructor(c: SimCase) {
    this.case = c;
    const run = runCase(c);
    const v = run.violation;
    this.outcome = {
      violation: v === undefined ? undefined : { invariant: v.invariant, detail: v.detail, step: v.step },
      inLiveness: v?.invariant === "liveness",
    };
    this.sim = new Simulation(c, { trace: true });
  }

  /** The number of actions in the schedule. */
  get length(): number {
    return this.case.schedule.length;
  }

  /** True once nothing more can run: a violation was hit, or the schedule and liveness phase ran. */
  get finished(): boolean {
    return this.violation !== undefined || this.livenessTicks !== undefined;
  }

  /** The next action as text ("" at the end). */
  nextActionText(): string {
    const a = this.case.schedule[this.index];
    return a === undefined ? "" : formatAction(a);
  }

  /**
   * Runs the next action, or the liveness phase once the schedule is done. Returns false if
   * nothing ran (finished).
   */
  step(): boolean {
    if (this.finished) return false;
    if (this.index >= this.length) {
      this.catching(() => {
        this.livenessTicks = this.sim.awaitLiveness();
      });
      if (this.violation !== undefined) this.livenessTicks = -1;
      return true;
    }
    const a = this.case.schedule[this.index++]!;
    if (a.kind === "tick") this.ticks++;
    this.catching(() => this.sim.step(a));
    return true;
  }

  /** Runs actions until `index` reaches `target` (or a violation stops it). */
  runTo(target: number): void {
    while (this.index < Math.min(target, this.length) && !this.finished) this.step();
  }

  /** Rebuilds the simulation and runs up to `target` actions (to go back a step, or jump). */
  seek(target: number): void {
    this.sim = new Simulation(this.case, { trace: true });
    this.index = 0;
    this.ticks = 0;
    this.violation = undefined;
    this.livenessTicks = undefined;
    this.runTo(target);
  }

  /** Runs everything: the schedule, then the liveness phase. */
  runAll(): void {
    while (this.step()) {
      // one step at a time: stops at the first violation
    }
  }

  /** The transcript so far. */
  transcript(): string {
    return this.sim.transcript?.toString() ?? "";
  }

  private catching(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (!(e instanceof InvariantViolation)) throw e;
      this.violation = e;
    }
  }
}
