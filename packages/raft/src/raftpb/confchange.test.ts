import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import {
  asV1,
  asV2,
  confChangesFromString,
  confChangesToString,
  enterJoint,
  isConfChangeV2,
  leaveJoint,
  simpleConfChangeV2,
} from "./confchange.js";
import {
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  EMPTY_BYTES,
  newConfChange,
  newConfChangeV2,
} from "./types.js";

const SEED = 20240604;
const { ConfChangeAddNode, ConfChangeRemoveNode, ConfChangeUpdateNode, ConfChangeAddLearnerNode } =
  ConfChangeType;
const { ConfChangeTransitionAuto: Auto, ConfChangeTransitionJointImplicit: Implicit } = ConfChangeTransition;
const { ConfChangeTransitionJointExplicit: Explicit } = ConfChangeTransition;
const single = (type: ConfChangeType, nodeId: number): ConfChangeSingle => ({ type, nodeId });

describe("confChangesFromString / confChangesToString", () => {
  it("parses each operation", () => {
    expect(confChangesFromString("v1 l2 r3 u4")).toEqual([
      single(ConfChangeAddNode, 1),
      single(ConfChangeAddLearnerNode, 2),
      single(ConfChangeRemoveNode, 3),
      single(ConfChangeUpdateNode, 4),
    ]);
    expect(confChangesFromString("  v9007199254740991\t")).toEqual([single(ConfChangeAddNode, 2 ** 53 - 1)]);
  });

  it("parses blank input as no changes", () => {
    expect(confChangesFromString("")).toEqual([]);
    expect(confChangesFromString("   ")).toEqual([]);
  });

  it("fails with etcd's messages", () => {
    expect(() => confChangesFromString("v")).toThrow("unknown token v");
    expect(() => confChangesFromString("v1  v2")).toThrow(/^unknown token $/); // an empty token
    expect(() => confChangesFromString("x1")).toThrow("unknown input: x1");
    expect(() => confChangesFromString("v1 va")).toThrow('strconv.ParseUint: parsing "a": invalid syntax');
    expect(() => confChangesFromString("v-1")).toThrow('strconv.ParseUint: parsing "-1": invalid syntax');
    expect(() => confChangesFromString("v+1")).toThrow('strconv.ParseUint: parsing "+1": invalid syntax');
    expect(() => confChangesFromString("r9007199254740992")).toThrow(
      'strconv.ParseUint: parsing "9007199254740992": value out of range',
    );
  });

  it("formats changes, an unknown type as `unknown`", () => {
    expect(confChangesToString([])).toBe("");
    expect(confChangesToString([single(ConfChangeRemoveNode, 3), single(ConfChangeAddNode, 1)])).toBe(
      "r3 v1",
    );
    expect(confChangesToString([single(9 as ConfChangeType, 5)])).toBe("unknown5");
  });

  it("round-trips every list of changes", () => {
    const arbSingle = fc
      .tuple(fc.integer({ min: 0, max: 3 }), fc.maxSafeNat())
      .map(([type, nodeId]) => single(type, nodeId));
    fc.assert(
      fc.property(fc.array(arbSingle, { maxLength: 8 }), (ccs) => {
        expect(confChangesFromString(confChangesToString(ccs))).toEqual(ccs);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("asV1 / asV2", () => {
  const v1 = newConfChange({ id: 7, type: ConfChangeAddLearnerNode, nodeId: 3, context: Uint8Array.of(1) });
  const v2 = newConfChangeV2({ transition: Explicit, changes: [single(ConfChangeAddNode, 1)] });

  it("a V1 change is the one-change V2 with the automatic transition and its context", () => {
    expect(asV2(v1)).toEqual({
      transition: Auto,
      changes: [single(ConfChangeAddLearnerNode, 3)],
      context: Uint8Array.of(1),
    });
    expect(asV1(v1)).toBe(v1);
    expect(isConfChangeV2(v1)).toBe(false);
  });

  it("a V2 change is its own V2 and has no V1 form", () => {
    expect(asV2(v2)).toBe(v2);
    expect(asV1(v2)).toBeUndefined();
    expect(isConfChangeV2(v2)).toBe(true);
  });

  it("simpleConfChangeV2 wraps changes with the automatic transition", () => {
    const chs = [single(ConfChangeRemoveNode, 2)];
    expect(simpleConfChangeV2(chs)).toEqual({ transition: Auto, changes: chs, context: EMPTY_BYTES });
  });
});

describe("enterJoint / leaveJoint", () => {
  const cc = (transition: ConfChangeTransition, n: number, context = EMPTY_BYTES): ConfChangeV2 => ({
    transition,
    changes: Array.from({ length: n }, (_, i) => single(ConfChangeAddNode, i + 1)),
    context,
  });

  it("one change with the automatic transition uses the simple protocol", () => {
    expect(enterJoint(cc(Auto, 1))).toEqual({ autoLeave: false, ok: false });
    expect(enterJoint(cc(Auto, 0))).toEqual({ autoLeave: false, ok: false });
  });

  it("more than one change, or a joint transition, enters a joint configuration", () => {
    expect(enterJoint(cc(Auto, 2))).toEqual({ autoLeave: true, ok: true });
    expect(enterJoint(cc(Implicit, 1))).toEqual({ autoLeave: true, ok: true });
    expect(enterJoint(cc(Implicit, 0))).toEqual({ autoLeave: true, ok: true });
    expect(enterJoint(cc(Explicit, 1))).toEqual({ autoLeave: false, ok: true });
    expect(enterJoint(cc(Explicit, 3))).toEqual({ autoLeave: false, ok: true });
  });

  it("an unknown transition is a programming error", () => {
    expect(() => enterJoint(cc(7 as ConfChangeTransition, 1))).toThrow("unknown transition: 7");
  });

  // etcd's TestLeaveJoint.
  it("only an empty V2 change with the automatic transition leaves a joint configuration", () => {
    expect(leaveJoint(newConfChangeV2())).toBe(true);
    expect(leaveJoint(cc(Auto, 0, new TextEncoder().encode("some context")))).toBe(true);
    expect(leaveJoint(cc(Auto, 1))).toBe(false);
    expect(leaveJoint(cc(Auto, 2))).toBe(false);
    expect(leaveJoint(cc(Implicit, 0))).toBe(false);
    expect(leaveJoint(cc(Explicit, 0))).toBe(false);
  });
});
