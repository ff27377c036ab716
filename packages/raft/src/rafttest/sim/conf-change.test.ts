/** The application's side of membership changes in the simulation. */
import { describe, expect, it } from "vitest";
import { JointConfig, MajorityConfig } from "../../quorum/index.js";
import { ConfChangeTransition, ConfChangeType } from "../../raftpb/types.js";
import { TrackerConfig } from "../../tracker/index.js";
import { buildConfChange } from "./conf-change.js";
import type { ConfChangeSpec } from "./schedule.js";

const cfg = (voters: number[], learners: number[] = [], outgoing: number[] = []) =>
  new TrackerConfig(
    new JointConfig(new MajorityConfig(voters), new MajorityConfig(outgoing)),
    new Set(learners),
  );
const spec = (mode: ConfChangeSpec["mode"], ...ops: string[]): ConfChangeSpec => ({
  mode,
  ops: ops.map((o) => ({ op: o[0] as "v" | "l" | "r", node: Number(o.slice(1)) })),
});
const none = new Set<number>();

describe("buildConfChange", () => {
  it("builds simple and joint changes for the leader's configuration", () => {
    expect(buildConfChange(spec("simple", "v4"), cfg([1, 2, 3]), 5, 1, none)).toEqual({
      transition: ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }],
      context: new Uint8Array(0),
    });
    const joint = buildConfChange(spec("joint-explicit", "l3", "v4"), cfg([1, 2, 3]), 5, 1, none);
    expect(joint).toMatchObject({
      transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
      changes: [
        { type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 3 },
        { type: ConfChangeType.ConfChangeAddNode, nodeId: 4 },
      ],
    });
    expect(buildConfChange(spec("leave"), cfg([1, 2], [], [1, 2, 3]), 5, 1, none)).toMatchObject({
      changes: [],
    });
  });

  it("refuses what an operator would not do: remove the leader, a majority, every voter, or reuse an id", () => {
    expect(buildConfChange(spec("simple", "r1"), cfg([1, 2, 3]), 5, 1, none)).toMatch(/leader/);
    expect(buildConfChange(spec("simple", "l1"), cfg([1, 2, 3]), 5, 1, none)).toMatch(/leader/);
    expect(buildConfChange(spec("joint", "r2", "r3"), cfg([1, 2, 3]), 5, 1, none)).toMatch(/majority/);
    expect(buildConfChange(spec("simple", "r2"), cfg([1, 2]), 5, 1, none)).toMatch(/majority/);
    expect(buildConfChange(spec("simple", "v4"), cfg([1, 2, 3]), 5, 1, new Set([4]))).toMatch(/never reused/);
    expect(buildConfChange(spec("simple", "v9"), cfg([1, 2, 3]), 5, 1, none)).toMatch(/no node 9/);
    // Removing one of three is fine; so is anything while joint (the core refuses it itself).
    expect(typeof buildConfChange(spec("simple", "r3"), cfg([1, 2, 3]), 5, 1, none)).toBe("object");
    expect(typeof buildConfChange(spec("joint", "r2", "r3"), cfg([1, 2, 3], [], [1, 2, 3]), 5, 1, none)).toBe(
      "object",
    );
  });
});
