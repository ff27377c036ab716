import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { type ConfState, newConfState } from "../raftpb/types.js";
import { ProgressTracker } from "../tracker/tracker.js";
import { Changer } from "./confchange.js";
import { restore } from "./restore.js";

const SEED = 0x5eed_0004;

const sorted = (ids: readonly number[]) => [...ids].sort((a, b) => a - b);
const normalize = (cs: ConfState): ConfState => ({
  voters: sorted(cs.voters),
  learners: sorted(cs.learners),
  votersOutgoing: sorted(cs.votersOutgoing),
  learnersNext: sorted(cs.learnersNext),
  autoLeave: cs.autoLeave,
});

/** Restores `cs` on a fresh tracker and reads the ConfState back from the result. */
function roundTrip(cs: ConfState): ConfState {
  const chg = new Changer(new ProgressTracker(20, 0), 10);
  const r = restore(chg, cs);
  const t = new ProgressTracker(20, 0);
  t.config = r.config;
  t.progress = r.progress;
  // Every peer of the configuration has a progress, and only those.
  expect(t.progress.sortedIds()).toEqual(
    sorted([...new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext])]),
  );
  return t.confState();
}

/** etcd's generator of valid ConfStates (never the empty one; that is a unit case). */
const confStateArb: fc.Arbitrary<ConfState> = fc
  .record({
    nVoters: fc.integer({ min: 1, max: 5 }),
    nLearners: fc.integer({ min: 0, max: 4 }),
    nRemovedVoters: fc.integer({ min: 0, max: 2 }),
    retainedFraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    learnersNextFraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    autoLeave: fc.boolean(),
  })
  .chain((p) => {
    const total = 2 * (p.nVoters + p.nLearners + p.nRemovedVoters);
    return fc
      .shuffledSubarray(
        Array.from({ length: total }, (_, i) => i + 1),
        { minLength: total, maxLength: total },
      )
      .map((ids) => {
        const voters = ids.slice(0, p.nVoters);
        let rest = ids.slice(p.nVoters);
        const learners = rest.slice(0, p.nLearners);
        rest = rest.slice(p.nLearners);
        const retained = Math.floor(p.retainedFraction * (p.nVoters + 1));
        const votersOutgoing =
          retained > 0 || p.nRemovedVoters > 0
            ? [...voters.slice(0, retained), ...rest.slice(0, p.nRemovedVoters)]
            : [];
        // Only outgoing voters that are not incoming voters can be learners-to-be (demotions).
        const nLearnersNext = Math.floor(p.learnersNextFraction * (p.nRemovedVoters + 1));
        const learnersNext = rest.slice(0, nLearnersNext);
        return newConfState({
          voters,
          learners,
          votersOutgoing,
          learnersNext,
          autoLeave: votersOutgoing.length > 0 && p.autoLeave,
        });
      });
  });

describe("restore", () => {
  it.each([
    ["empty", newConfState()],
    ["voters", newConfState({ voters: [1, 2, 3] })],
    ["voters and learners", newConfState({ voters: [1, 2, 3], learners: [4, 5, 6] })],
    [
      "joint with a demotion",
      newConfState({ voters: [1, 2, 3], learners: [5], votersOutgoing: [1, 2, 4, 6], learnersNext: [4] }),
    ],
    [
      "joint, auto-leaving, unsorted input",
      newConfState({ voters: [3, 1], votersOutgoing: [4, 1], autoLeave: true }),
    ],
  ])("%s round-trips", (_name, cs) => {
    expect(roundTrip(cs)).toEqual(normalize(cs));
  });

  it("builds the documented example", () => {
    const r = restore(
      new Changer(new ProgressTracker(20, 0), 10),
      newConfState({ voters: [1, 2, 3], learners: [5], votersOutgoing: [1, 2, 4, 6], learnersNext: [4] }),
    );
    expect(r.config.toString()).toBe("voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4)");
    expect(r.progress.toString()).toBe(
      [1, 2, 3, 4, 5, 6]
        .map((id) => `${id}: StateProbe match=0 next=10${id === 5 ? " learner" : ""}\n`)
        .join(""),
    );
  });

  it("leaves the changer's tracker alone", () => {
    const t = new ProgressTracker(20, 0);
    const chg = new Changer(t, 10);
    restore(chg, newConfState({ voters: [1, 2], votersOutgoing: [3] }));
    expect(t.config.toString()).toBe("voters=()");
    expect(t.progress.size).toBe(0);
    expect(chg.tracker).toBe(t);
  });

  it("refuses an invalid ConfState", () => {
    // A learner that is also a voter.
    expect(() =>
      restore(new Changer(new ProgressTracker(20, 0), 10), newConfState({ voters: [1], learners: [1] })),
    ).toThrow(expect.objectContaining({ code: "ConfChangeInvalid" }));
    // Learners but no voters.
    expect(() =>
      restore(new Changer(new ProgressTracker(20, 0), 10), newConfState({ learners: [2] })),
    ).toThrow("removed all voters");
  });

  it("round-trips random valid ConfStates (fixed seed)", () => {
    fc.assert(
      fc.property(confStateArb, (cs) => {
        expect(roundTrip(cs)).toEqual(normalize(cs));
      }),
      { seed: SEED, numRuns: runs(1000) },
    );
  });
});
