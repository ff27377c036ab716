import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import * as pb from "./index.js";

const SEED = 20240604;
const { ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeUpdateNode, ConfChangeAddLearnerNode } =
  pb.ConfChangeType;
const { ConfChangeTransitionAuto: Auto, ConfChangeTransitionJointImplicit: Implicit } =
  pb.ConfChangeTransition;
const { ConfChangeTransitionJointExplicit: Explicit } = pb.ConfChangeTransition;
const single = (type: pb.ConfChangeType, nodeId: number): pb.ConfChangeSingle => ({ type, nodeId });

describe("confChangesFromString / confChangesToString", () => {
  it("parses each operation", () => {
    expect(pb.confChangesFromString("v1 l2 r3 u4")).toEqual([
      single(ConfChangeAddNode, 1),
      single(ConfChangeAddLearnerNode, 2),
      single(ConfChangeRemoveNode, 3),
      single(ConfChangeUpdateNode, 4),
    ]);
    expect(pb.confChangesFromString("  v9007199254740991\t")).toEqual([
      single(ConfChangeAddNode, 2 ** 53 - 1),
    ]);
  });

  it("parses blank input as no changes", () => {
    expect(pb.confChangesFromString("")).toEqual([]);
    expect(pb.confChangesFromString("   ")).toEqual([]);
  });

  it("fails with etcd's messages", () => {
    expect(() => pb.confChangesFromString("v")).toThrow("unknown token v");
    expect(() => pb.confChangesFromString("v1  v2")).toThrow(/^unknown token $/); // an empty token
    expect(() => pb.confChangesFromString("x1")).toThrow("unknown input: x1");
    expect(() => pb.confChangesFromString("v1 va")).toThrow('strconv.ParseUint: parsing "a": invalid syntax');
    expect(() => pb.confChangesFromString("v-1")).toThrow('strconv.ParseUint: parsing "-1": invalid syntax');
    expect(() => pb.confChangesFromString("v+1")).toThrow('strconv.ParseUint: parsing "+1": invalid syntax');
    expect(() => pb.confChangesFromString("r9007199254740992")).toThrow(
      'strconv.ParseUint: parsing "9007199254740992": value out of range',
    );
  });

  it("formats changes, an unknown type as `unknown`", () => {
    expect(pb.confChangesToString([])).toBe("");
    expect(pb.confChangesToString([single(ConfChangeRemoveNode, 3), single(ConfChangeAddNode, 1)])).toBe(
      "r3 v1",
    );
    expect(pb.confChangesToString([single(9 as pb.ConfChangeType, 5)])).toBe("unknown5");
  });

  it("round-trips every list of changes", () => {
    const arbSingle = fc
      .tuple(fc.integer({ min: 0, max: 3 }), fc.maxSafeNat())
      .map(([type, nodeId]) => single(type, nodeId));
    fc.assert(
      fc.property(fc.array(arbSingle, { maxLength: 8 }), (ccs) => {
        expect(pb.confChangesFromString(pb.confChangesToString(ccs))).toEqual(ccs);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("asV1 / asV2", () => {
  const v1 = pb.newConfChange({
    id: 7,
    type: ConfChangeAddLearnerNode,
    nodeId: 3,
    context: Uint8Array.of(1),
  });
  const v2 = pb.newConfChangeV2({ transition: Explicit, changes: [single(ConfChangeAddNode, 1)] });

  it("a V1 change is the one-change V2 with the automatic transition and its context", () => {
    expect(pb.asV2(v1)).toEqual({
      transition: Auto,
      changes: [single(ConfChangeAddLearnerNode, 3)],
      context: Uint8Array.of(1),
    });
    expect(pb.asV1(v1)).toBe(v1);
    expect(pb.isConfChangeV2(v1)).toBe(false);
  });

  it("a V2 change is its own V2 and has no V1 form", () => {
    expect(pb.asV2(v2)).toBe(v2);
    expect(pb.asV1(v2)).toBeUndefined();
    expect(pb.isConfChangeV2(v2)).toBe(true);
  });

  it("simpleConfChangeV2 wraps changes with the automatic transition", () => {
    const chs = [single(ConfChangeRemoveNode, 2)];
    expect(pb.simpleConfChangeV2(chs)).toEqual({ transition: Auto, changes: chs, context: pb.EMPTY_BYTES });
  });
});

describe("enterJoint / leaveJoint", () => {
  const cc = (transition: pb.ConfChangeTransition, n: number, context = pb.EMPTY_BYTES): pb.ConfChangeV2 => ({
    transition,
    changes: Array.from({ length: n }, (_, i) => single(ConfChangeAddNode, i + 1)),
    context,
  });

  it("one change with the automatic transition uses the simple protocol", () => {
    expect(pb.enterJoint(cc(Auto, 1))).toEqual({ autoLeave: false, ok: false });
    expect(pb.enterJoint(cc(Auto, 0))).toEqual({ autoLeave: false, ok: false });
  });

  it("more than one change, or a joint transition, enters a joint configuration", () => {
    expect(pb.enterJoint(cc(Auto, 2))).toEqual({ autoLeave: true, ok: true });
    expect(pb.enterJoint(cc(Implicit, 1))).toEqual({ autoLeave: true, ok: true });
    expect(pb.enterJoint(cc(Implicit, 0))).toEqual({ autoLeave: true, ok: true });
    expect(pb.enterJoint(cc(Explicit, 1))).toEqual({ autoLeave: false, ok: true });
    expect(pb.enterJoint(cc(Explicit, 3))).toEqual({ autoLeave: false, ok: true });
  });

  it("an unknown transition is a programming error", () => {
    expect(() => pb.enterJoint(cc(7 as pb.ConfChangeTransition, 1))).toThrow("unknown transition: 7");
  });

  // etcd's TestLeaveJoint.
  it("only an empty V2 change with the automatic transition leaves a joint configuration", () => {
    expect(pb.leaveJoint(pb.newConfChangeV2())).toBe(true);
    expect(pb.leaveJoint(cc(Auto, 0, new TextEncoder().encode("some context")))).toBe(true);
    expect(pb.leaveJoint(cc(Auto, 1))).toBe(false);
    expect(pb.leaveJoint(cc(Auto, 2))).toBe(false);
    expect(pb.leaveJoint(cc(Implicit, 0))).toBe(false);
    expect(pb.leaveJoint(cc(Explicit, 0))).toBe(false);
  });
});
