import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import * as pb from "./index.js";

const SEED = 20240605;

describe("confStateEquivalent", () => {
  // etcd's TestConfState_Equivalent.
  it("ignores the order of ids in each set", () => {
    const a = pb.newConfState({
      voters: [1, 2, 3],
      learners: [5, 4, 6],
      votersOutgoing: [9, 8, 7],
      learnersNext: [10, 20, 15],
    });
    const b = pb.newConfState({
      voters: [1, 2, 3],
      learners: [4, 5, 6],
      votersOutgoing: [7, 9, 8],
      learnersNext: [20, 10, 15],
    });
    expect(pb.confStateEquivalent(a, b)).toBeUndefined();
    expect(pb.confStateEquivalent(pb.newConfState(), pb.newConfState({ voters: [] }))).toBeUndefined();
  });

  it("reports different sets, and autoLeave", () => {
    expect(
      pb.confStateEquivalent(
        pb.newConfState({ voters: [1, 2, 3, 4] }),
        pb.newConfState({ voters: [2, 1, 3] }),
      ),
    ).toBeInstanceOf(Error);
    expect(
      pb.confStateEquivalent(pb.newConfState({ voters: [1, 4, 3] }), pb.newConfState({ voters: [2, 1, 3] })),
    ).toBeInstanceOf(Error);
    expect(
      pb.confStateEquivalent(pb.newConfState({ learners: [1] }), pb.newConfState({ voters: [1] })),
    ).toBeInstanceOf(Error);
    expect(
      pb.confStateEquivalent(pb.newConfState({ votersOutgoing: [1] }), pb.newConfState()),
    ).toBeInstanceOf(Error);
    expect(pb.confStateEquivalent(pb.newConfState({ learnersNext: [1] }), pb.newConfState())).toBeInstanceOf(
      Error,
    );
    expect(pb.confStateEquivalent(pb.newConfState({ autoLeave: true }), pb.newConfState())).toBeInstanceOf(
      Error,
    );
  });

  it("describes the difference: both sorted, then both as given", () => {
    const err = pb.confStateEquivalent(
      pb.newConfState({ voters: [3, 1] }),
      pb.newConfState({ voters: [2, 1], autoLeave: true }),
    );
    expect(err?.message).toBe(
      "ConfStates not equivalent after sorting:\n" +
        "{voters:[1 3] learners:[] votersOutgoing:[] learnersNext:[] autoLeave:false}\n" +
        "{voters:[1 2] learners:[] votersOutgoing:[] learnersNext:[] autoLeave:true}\n" +
        "Inputs were:\n" +
        "{voters:[3 1] learners:[] votersOutgoing:[] learnersNext:[] autoLeave:false}\n" +
        "{voters:[2 1] learners:[] votersOutgoing:[] learnersNext:[] autoLeave:true}",
    );
  });

  it("reports a missing input", () => {
    expect(pb.confStateEquivalent(undefined, pb.newConfState())?.message).toBe(
      "cannot compare ConfState: nil input (left=true, right=false)",
    );
  });

  it("agrees with comparing sorted copies, and does not reorder its inputs", () => {
    const ids = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 });
    const arb = fc
      .tuple(ids, ids, ids, ids, fc.boolean())
      .map(([voters, learners, votersOutgoing, learnersNext, autoLeave]) =>
        pb.newConfState({ voters, learners, votersOutgoing, learnersNext, autoLeave }),
      );
    const sorted = (cs: pb.ConfState): string =>
      JSON.stringify([cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext].map((s) => [...s].sort()));
    fc.assert(
      fc.property(arb, arb, fc.boolean(), (a, b, shuffle) => {
        // Half the time compare with a reordered copy of a, which must be equivalent.
        const other = shuffle ? pb.newConfState({ ...a, voters: [...a.voters].reverse() }) : b;
        const before = JSON.stringify(a);
        const same = sorted(a) === sorted(other) && a.autoLeave === other.autoLeave;
        expect(pb.confStateEquivalent(a, other) === undefined).toBe(same);
        expect(JSON.stringify(a)).toBe(before);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("HardState and Snapshot helpers", () => {
  it("isEmptyHardState: absent or all zero", () => {
    expect(pb.isEmptyHardState(undefined)).toBe(true);
    expect(pb.isEmptyHardState(pb.newHardState())).toBe(true);
    expect(pb.isEmptyHardState(pb.newHardState({ term: 1 }))).toBe(false);
    expect(pb.isEmptyHardState(pb.newHardState({ vote: 1 }))).toBe(false);
    expect(pb.isEmptyHardState(pb.newHardState({ commit: 1 }))).toBe(false);
  });

  it("isHardStateEqual compares all three fields", () => {
    const hs = pb.newHardState({ term: 2, vote: 1, commit: 5 });
    expect(pb.isHardStateEqual(hs, { ...hs })).toBe(true);
    expect(pb.isHardStateEqual(hs, { ...hs, term: 3 })).toBe(false);
    expect(pb.isHardStateEqual(hs, { ...hs, vote: 2 })).toBe(false);
    expect(pb.isHardStateEqual(hs, { ...hs, commit: 4 })).toBe(false);
  });

  it("isEmptySnap: absent or index 0, whatever else it holds", () => {
    expect(pb.isEmptySnap(undefined)).toBe(true);
    expect(pb.isEmptySnap(pb.newSnapshot())).toBe(true);
    expect(pb.isEmptySnap(pb.newSnapshot({ data: Uint8Array.of(1), metadata: { term: 3 } }))).toBe(true);
    expect(pb.isEmptySnap(pb.newSnapshot({ metadata: { index: 1 } }))).toBe(false);
  });
});

describe("marshalConfChange", () => {
  it("a V1 change becomes an EntryConfChange holding its encoding", () => {
    const cc = pb.newConfChange({ id: 3, type: pb.ConfChangeType.ConfChangeRemoveNode, nodeId: 2 });
    const { type, data } = pb.marshalConfChange(cc);
    expect(type).toBe(pb.EntryType.EntryConfChange);
    expect(pb.decodeConfChange(data)).toEqual(cc);
  });

  it("a V2 change becomes an EntryConfChangeV2 holding its encoding", () => {
    const cc = pb.newConfChangeV2({
      transition: pb.ConfChangeTransition.ConfChangeTransitionJointImplicit,
      changes: [{ type: pb.ConfChangeType.ConfChangeAddNode, nodeId: 4 }],
    });
    const { type, data } = pb.marshalConfChange(cc);
    expect(type).toBe(pb.EntryType.EntryConfChangeV2);
    expect(pb.decodeConfChangeV2(data)).toEqual(cc);
  });

  it("no change becomes an empty EntryConfChangeV2, which decodes as the leave-joint change", () => {
    const { type, data } = pb.marshalConfChange(undefined);
    expect(type).toBe(pb.EntryType.EntryConfChangeV2);
    expect(data.length).toBe(0);
    expect(pb.decodeConfChangeV2(data)).toEqual(pb.newConfChangeV2());
  });
});

describe("enum names", () => {
  it("print etcd's names", () => {
    expect(pb.messageTypeName(pb.MessageType.MsgApp)).toBe("MsgApp");
    expect(pb.messageTypeName(pb.MessageType.MsgHup)).toBe("MsgHup");
    expect(pb.messageTypeName(pb.MessageType.MsgForgetLeader)).toBe("MsgForgetLeader");
    expect(pb.entryTypeName(pb.EntryType.EntryConfChangeV2)).toBe("EntryConfChangeV2");
    expect(pb.confChangeTypeName(pb.ConfChangeType.ConfChangeAddLearnerNode)).toBe(
      "ConfChangeAddLearnerNode",
    );
    expect(pb.confChangeTransitionName(pb.ConfChangeTransition.ConfChangeTransitionJointExplicit)).toBe(
      "ConfChangeTransitionJointExplicit",
    );
  });

  it("print an undefined value as its number, as Go's protobuf runtime does", () => {
    expect(pb.messageTypeName(24 as pb.MessageType)).toBe("24");
    expect(pb.entryTypeName(3 as pb.EntryType)).toBe("3");
    expect(pb.confChangeTypeName(4 as pb.ConfChangeType)).toBe("4");
    expect(pb.confChangeTransitionName(99 as pb.ConfChangeTransition)).toBe("99");
  });
});
