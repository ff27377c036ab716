import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { decodeConfChange, decodeConfChangeV2 } from "./codec.js";
import {
  ConfChangeTransition,
  ConfChangeType,
  type ConfState,
  EntryType,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newHardState,
  newSnapshot,
} from "./types.js";
import {
  confChangeTransitionName,
  confChangeTypeName,
  confStateEquivalent,
  entryTypeName,
  isEmptyHardState,
  isEmptySnap,
  isHardStateEqual,
  marshalConfChange,
  messageTypeName,
} from "./util.js";

const SEED = 20240605;

describe("confStateEquivalent", () => {
  // etcd's TestConfState_Equivalent.
  it("ignores the order of ids in each set", () => {
    const a = newConfState({
      voters: [1, 2, 3],
      learners: [5, 4, 6],
      votersOutgoing: [9, 8, 7],
      learnersNext: [10, 20, 15],
    });
    const b = newConfState({
      voters: [1, 2, 3],
      learners: [4, 5, 6],
      votersOutgoing: [7, 9, 8],
      learnersNext: [20, 10, 15],
    });
    expect(confStateEquivalent(a, b)).toBeUndefined();
    expect(confStateEquivalent(newConfState(), newConfState({ voters: [] }))).toBeUndefined();
  });

  it("reports different sets, and autoLeave", () => {
    expect(
      confStateEquivalent(newConfState({ voters: [1, 2, 3, 4] }), newConfState({ voters: [2, 1, 3] })),
    ).toBeInstanceOf(Error);
    expect(
      confStateEquivalent(newConfState({ voters: [1, 4, 3] }), newConfState({ voters: [2, 1, 3] })),
    ).toBeInstanceOf(Error);
    expect(
      confStateEquivalent(newConfState({ learners: [1] }), newConfState({ voters: [1] })),
    ).toBeInstanceOf(Error);
    expect(confStateEquivalent(newConfState({ votersOutgoing: [1] }), newConfState())).toBeInstanceOf(Error);
    expect(confStateEquivalent(newConfState({ learnersNext: [1] }), newConfState())).toBeInstanceOf(Error);
    expect(confStateEquivalent(newConfState({ autoLeave: true }), newConfState())).toBeInstanceOf(Error);
  });

  it("describes the difference: both sorted, then both as given", () => {
    const err = confStateEquivalent(
      newConfState({ voters: [3, 1] }),
      newConfState({ voters: [2, 1], autoLeave: true }),
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
    expect(confStateEquivalent(undefined, newConfState())?.message).toBe(
      "cannot compare ConfState: nil input (left=true, right=false)",
    );
  });

  it("agrees with comparing sorted copies, and does not reorder its inputs", () => {
    const ids = fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 });
    const arb = fc
      .tuple(ids, ids, ids, ids, fc.boolean())
      .map(([voters, learners, votersOutgoing, learnersNext, autoLeave]) =>
        newConfState({ voters, learners, votersOutgoing, learnersNext, autoLeave }),
      );
    const sorted = (cs: ConfState): string =>
      JSON.stringify([cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext].map((s) => [...s].sort()));
    fc.assert(
      fc.property(arb, arb, fc.boolean(), (a, b, shuffle) => {
        // Half the time compare with a reordered copy of a, which must be equivalent.
        const other = shuffle ? newConfState({ ...a, voters: [...a.voters].reverse() }) : b;
        const before = JSON.stringify(a);
        const same = sorted(a) === sorted(other) && a.autoLeave === other.autoLeave;
        expect(confStateEquivalent(a, other) === undefined).toBe(same);
        expect(JSON.stringify(a)).toBe(before);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("HardState and Snapshot helpers", () => {
  it("isEmptyHardState: absent or all zero", () => {
    expect(isEmptyHardState(undefined)).toBe(true);
    expect(isEmptyHardState(newHardState())).toBe(true);
    expect(isEmptyHardState(newHardState({ term: 1 }))).toBe(false);
    expect(isEmptyHardState(newHardState({ vote: 1 }))).toBe(false);
    expect(isEmptyHardState(newHardState({ commit: 1 }))).toBe(false);
  });

  it("isHardStateEqual compares all three fields", () => {
    const hs = newHardState({ term: 2, vote: 1, commit: 5 });
    expect(isHardStateEqual(hs, { ...hs })).toBe(true);
    expect(isHardStateEqual(hs, { ...hs, term: 3 })).toBe(false);
    expect(isHardStateEqual(hs, { ...hs, vote: 2 })).toBe(false);
    expect(isHardStateEqual(hs, { ...hs, commit: 4 })).toBe(false);
  });

  it("isEmptySnap: absent or index 0, whatever else it holds", () => {
    expect(isEmptySnap(undefined)).toBe(true);
    expect(isEmptySnap(newSnapshot())).toBe(true);
    expect(isEmptySnap(newSnapshot({ data: Uint8Array.of(1), metadata: { term: 3 } }))).toBe(true);
    expect(isEmptySnap(newSnapshot({ metadata: { index: 1 } }))).toBe(false);
  });
});

describe("marshalConfChange", () => {
  it("a V1 change becomes an EntryConfChange holding its encoding", () => {
    const cc = newConfChange({ id: 3, type: ConfChangeType.ConfChangeRemoveNode, nodeId: 2 });
    const { type, data } = marshalConfChange(cc);
    expect(type).toBe(EntryType.EntryConfChange);
    expect(decodeConfChange(data)).toEqual(cc);
  });

  it("a V2 change becomes an EntryConfChangeV2 holding its encoding", () => {
    const cc = newConfChangeV2({
      transition: ConfChangeTransition.ConfChangeTransitionJointImplicit,
      changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }],
    });
    const { type, data } = marshalConfChange(cc);
    expect(type).toBe(EntryType.EntryConfChangeV2);
    expect(decodeConfChangeV2(data)).toEqual(cc);
  });

  it("no change becomes an empty EntryConfChangeV2, which decodes as the leave-joint change", () => {
    const { type, data } = marshalConfChange(undefined);
    expect(type).toBe(EntryType.EntryConfChangeV2);
    expect(data.length).toBe(0);
    expect(decodeConfChangeV2(data)).toEqual(newConfChangeV2());
  });
});

describe("enum names", () => {
  it("print etcd's names", () => {
    expect(messageTypeName(MessageType.MsgApp)).toBe("MsgApp");
    expect(messageTypeName(MessageType.MsgHup)).toBe("MsgHup");
    expect(messageTypeName(MessageType.MsgForgetLeader)).toBe("MsgForgetLeader");
    expect(entryTypeName(EntryType.EntryConfChangeV2)).toBe("EntryConfChangeV2");
    expect(confChangeTypeName(ConfChangeType.ConfChangeAddLearnerNode)).toBe("ConfChangeAddLearnerNode");
    expect(confChangeTransitionName(ConfChangeTransition.ConfChangeTransitionJointExplicit)).toBe(
      "ConfChangeTransitionJointExplicit",
    );
  });

  it("print an undefined value as its number, as Go's protobuf runtime does", () => {
    expect(messageTypeName(24 as MessageType)).toBe("24");
    expect(entryTypeName(3 as EntryType)).toBe("3");
    expect(confChangeTypeName(4 as ConfChangeType)).toBe("4");
    expect(confChangeTransitionName(99 as ConfChangeTransition)).toBe("99");
  });
});
