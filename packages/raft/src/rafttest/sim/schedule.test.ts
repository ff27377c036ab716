import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../../test/fc.js";
import { NO_LIMIT } from "../../constants.js";
import { faultActionArbitrary, workloadActionArbitrary } from "./arbitraries.js";
import {
  type Action,
  DEFAULT_SIM_OPTIONS,
  formatAction,
  formatCase,
  formatCaseOneLine,
  parseAction,
  parseCase,
  ScheduleSyntaxError,
  type SimCase,
} from "./schedule.js";

const SEED = 20250607;

const EVERY_KIND: Action[] = [
  { kind: "tick" },
  { kind: "deliver", pick: 0 },
  { kind: "drop", pick: 3 },
  { kind: "dup", pick: 12 },
  { kind: "flush" },
  { kind: "sync", node: 0 },
  { kind: "sync", node: 2 },
  { kind: "apply", node: 0 },
  { kind: "apply", node: 3 },
  { kind: "cut", from: 1, to: 2 },
  { kind: "cut", from: 2, to: 1, hold: true },
  { kind: "partition", groups: [[1, 2], [3], [4, 5]] },
  { kind: "partition", groups: [[1], [2, 3]], hold: true },
  { kind: "splitJoint", half: "outgoing" },
  { kind: "replay", pick: 4, snap: false },
  { kind: "replay", pick: 0, snap: true },
  { kind: "replay", pick: 2, snap: true, to: 3 },
  { kind: "disk", node: 2, slow: true },
  { kind: "disk", node: 2, slow: false },
  { kind: "heal" },
  { kind: "crash", node: 2, torn: 1 },
  { kind: "crashLeader", torn: 0 },
  { kind: "isolateLeader" },
  { kind: "isolateLeader", hold: true },
  { kind: "isolateLeader", with: 3 },
  { kind: "isolateLeader", with: 2, hold: true },
  { kind: "restart", node: 2 },
  { kind: "restart", node: 0 },
  { kind: "pause", node: 1 },
  { kind: "resume", node: 1 },
  { kind: "skew", node: 3, rate: 150 },
  { kind: "propose", node: 1, data: 'put k "v"; it\'s\nfine' },
  { kind: "confChange", change: { mode: "simple", ops: [{ op: "v", node: 4 }] } },
  {
    kind: "confChange",
    change: {
      mode: "joint",
      ops: [
        { op: "l", node: 3 },
        { op: "r", node: 2 },
      ],
    },
  },
  { kind: "confChange", change: { mode: "joint-explicit", ops: [{ op: "v", node: 5 }] } },
  { kind: "confChange", change: { mode: "leave", ops: [] } },
  { kind: "transfer", to: 2 },
  { kind: "read", node: 3 },
  { kind: "snapshot", node: 2, keep: 5 },
  { kind: "campaign", node: 1 },
];

const CASE: SimCase = {
  seed: 123,
  cluster: { nodes: 5, voters: [1, 2, 3], learners: [4] },
  options: { ...DEFAULT_SIM_OPTIONS, preVote: true, checkQuorum: true, leaseReads: true, maxSizePerMsg: 0 },
  broken: ["apply-before-commit"],
  schedule: EVERY_KIND,
};

describe("the schedule's text form", () => {
  it("round-trips every kind of action", () => {
    for (const a of EVERY_KIND) expect(parseAction(formatAction(a))).toEqual(a);
    expect(EVERY_KIND.map(formatAction).slice(0, 6)).toEqual([
      "tick",
      "deliver 0",
      "drop 3",
      "dup 12",
      "flush",
      "sync",
    ]);
    expect(formatAction({ kind: "propose", node: 1, data: "it's" })).toBe('propose 1 "it\\u0027s"');
  });

  it("round-trips a whole case, as lines and on one line (with quotes, ; and newlines in data)", () => {
    expect(parseCase(formatCase(CASE))).toEqual(CASE);
    expect(parseCase(formatCaseOneLine(CASE))).toEqual(CASE);
    expect(formatCaseOneLine(CASE)).not.toContain("\n");
    expect(formatCaseOneLine(CASE)).not.toContain("'");
    expect(formatCase(CASE).split("\n")[0]).toBe(
      "sim seed=123 nodes=5 voters=1,2,3 learners=4 election=10 heartbeat=1 msgsize=0 applysize=max inflight=256 prevote checkquorum lease broken=apply-before-commit",
    );
    const defaults = parseCase("sim seed=1 nodes=3 voters=1,2,3\n# a comment\n\ntick");
    expect(defaults.options).toEqual(DEFAULT_SIM_OPTIONS);
    expect(defaults.options.maxSizePerMsg).toBe(NO_LIMIT);
    expect(defaults.schedule).toEqual([{ kind: "tick" }]);
  });

  it("round-trips any schedule of fault and workload actions (fast-check arbitraries)", () => {
    const action = fc.oneof(
      faultActionArbitrary(fc, { nodes: 5 }),
      workloadActionArbitrary(fc, { nodes: 5 }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 50 }), (schedule) => {
        const c = { ...CASE, schedule };
        expect(parseCase(formatCaseOneLine(c))).toEqual(c);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("rejects malformed text with a ScheduleSyntaxError", () => {
    for (const bad of [
      "teleport 1",
      "deliver",
      "deliver x",
      "crash 1",
      "crash 1 tron=2",
      "cut 1-2",
      "confchange x4",
      "confchange",
      "isolate 2",
      'propose 1 "unterminated',
    ]) {
      expect(() => parseAction(bad), bad).toThrow(ScheduleSyntaxError);
    }
    expect(() => parseCase("tick")).toThrow(ScheduleSyntaxError);
    expect(() => parseCase("sim nodes=3")).toThrow(/seed/);
    expect(() => parseCase("sim seed=1 nodes=3 turbo")).toThrow(/flag/);
    expect(() => parseCase("sim seed=1 nodes=3 broken=nope")).toThrow(/broken/);
  });
});
