import {
  formatCaseOneLine,
  formatFailure,
  formatSeedSpec,
  type GenerateOptions,
  generateCase,
  replayCommand,
  runCase,
} from "@tsraft/raft/rafttest";
import { describe, expect, it } from "vitest";
import { extractSpec, parseReplayText, ReplaySession } from "./replay.js";

/** A short failing case: the first seed of a broken variant caught within its schedule. */
function failingCase() {
  const gen: GenerateOptions = { nodes: 3, steps: 400, broken: ["apply-before-commit"] };
  for (let seed = 1; seed < 200; seed++) {
    const c = generateCase(seed, gen);
    const run = runCase(c, { liveness: false });
    if (run.violation !== undefined) return { c, run, gen, seed };
  }
  throw new Error("apply-before-commit not caught in 200 seeds");
}

describe("extractSpec", () => {
  it("takes the shrunk case of a failure report, the quoted case of a command, else the text", () => {
    const { c, run, gen, seed } = failingCase();
    const report = formatFailure(run, { seedSpec: formatSeedSpec(seed, gen), transcriptLines: 5 });
    expect(extractSpec(report)).toBe(formatCaseOneLine(c));
    expect(extractSpec(replayCommand(c))).toBe(formatCaseOneLine(c));
    expect(extractSpec("  seed:12,nodes=5 \n")).toBe("seed:12,nodes=5");
    // A report line naming only the unshrunk case.
    expect(extractSpec(`seed: 5 (unshrunk case: TSRAFT_SIM_REPLAY=${formatSeedSpec(seed, gen)})`)).toBe(
      formatSeedSpec(seed, gen),
    );
    expect(parseReplayText(report)).toEqual(c);
  });
});

describe("ReplaySession", () => {
  it("stops at the step where the invariant broke, as runCase does", () => {
    const { c, run } = failingCase();
    const s = new ReplaySession(c);
    expect(s.outcome.violation).toEqual({
      invariant: run.violation!.invariant,
      detail: run.violation!.detail,
      step: run.violation!.step,
    });
    s.runAll();
    expect(s.index).toBe(run.violation!.step);
    expect(s.violation?.invariant).toBe(run.violation!.invariant);
    expect(s.finished).toBe(true);
    expect(s.step()).toBe(false);
    expect(s.transcript()).toBe(runCase(c, { trace: true }).transcript);
  });

  it("steps back by replaying from the start, to the same state", () => {
    const c = generateCase(77, { nodes: 5, steps: 300 });
    const s = new ReplaySession(c);
    s.runTo(120);
    const at120 = s.transcript();
    s.runTo(150);
    s.seek(120);
    expect(s.index).toBe(120);
    expect(s.transcript()).toBe(at120);
  });

  it("runs the liveness phase after the schedule, with the transcript runCase gives", () => {
    const c = generateCase(4242, { nodes: 5, steps: 500 });
    const s = new ReplaySession(c);
    expect(s.outcome.violation).toBeUndefined();
    s.runAll();
    expect(s.livenessTicks).toBeGreaterThanOrEqual(0);
    expect(s.transcript()).toBe(runCase(c, { trace: true }).transcript);
  });
});
