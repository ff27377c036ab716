import { describe, expect, it } from "vitest";
import { JointConfig } from "../quorum/joint.js";
import { MajorityConfig } from "../quorum/majority.js";
import { VoteResult } from "../quorum/quorum.js";
import { Inflights } from "./inflights.js";
import { Progress } from "./progress.js";
import { ProgressTracker, TrackerConfig } from "./tracker.js";

/** A tracker with the given voters (joint if `outgoing` is given) and learners, all at match 0. */
function tracker(incoming: number[], outgoing: number[] = [], learners: number[] = []): ProgressTracker {
  const t = new ProgressTracker(10, 0);
  t.config = new TrackerConfig(
    new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing)),
    new Set(learners),
  );
  for (const id of [...incoming, ...outgoing, ...learners]) {
    if (!t.progress.has(id)) {
      t.progress.set(
        id,
        new Progress({ next: 1, inflights: new Inflights(10, 0), isLearner: learners.includes(id) }),
      );
    }
  }
  return t;
}

describe("TrackerConfig", () => {
  it("prints in etcd's format, ids in hex", () => {
    const c = new TrackerConfig(
      new JointConfig(new MajorityConfig([1, 2]), new MajorityConfig([1])),
      new Set([3]),
      new Set([4]),
      true,
    );
    expect(c.toString()).toBe("voters=(1 2)&&(1) learners=(3) learners_next=(4) autoleave");
    expect(new TrackerConfig().toString()).toBe("voters=()");
    expect(new TrackerConfig(new JointConfig(new MajorityConfig([26, 11]))).toString()).toBe("voters=(b 1a)");
  });

  it("clones into an independent config, autoLeave included", () => {
    const c = new TrackerConfig(new JointConfig(new MajorityConfig([1])), new Set([2]), new Set(), false);
    const d = c.clone();
    d.voters.incoming.add(5);
    d.learners.add(6);
    d.autoLeave = true;
    expect(c.toString()).toBe("voters=(1) learners=(2)");
    expect(d.toString()).toBe("voters=(1 5) learners=(2 6) autoleave");
    expect(d.clone().autoLeave).toBe(true);
  });
});

describe("ProgressTracker", () => {
  it("visits peers in ascending id order and skips those removed on the way", () => {
    const t = tracker([9, 3, 12], [], [7]);
    const seen: number[] = [];
    t.visit((id) => seen.push(id));
    expect(seen).toEqual([3, 7, 9, 12]);
    const seen2: number[] = [];
    t.visit((id) => {
      seen2.push(id);
      if (id === 3) t.progress.delete(9);
    });
    expect(seen2).toEqual([3, 7, 12]);
  });

  it("commits by the voters' match indexes, ignoring learners, and jointly", () => {
    const t = tracker([1, 2, 3], [], [4]);
    const match = (id: number, m: number) => {
      t.progress.get(id)!.match = m;
    };
    match(1, 10);
    match(2, 7);
    match(3, 2);
    match(4, 100);
    expect(t.committed()).toBe(7);
    // Joint with (3 4 5): 4 is then a voter too; 5 has no progress and counts as 0.
    t.config.voters.outgoing = new MajorityConfig([3, 4, 5]);
    expect(t.committed()).toBe(2);
    // Replacing the progress map is seen by committed().
    t.progress = tracker([1, 2, 3, 4, 5]).progress;
    expect(t.committed()).toBe(0);
  });

  it("reports the configuration as a sorted ConfState", () => {
    const t = tracker([3, 1], [2, 1], [5, 4]);
    t.config.learnersNext = new Set([2]);
    t.config.autoLeave = true;
    expect(t.confState()).toEqual({
      voters: [1, 3],
      learners: [4, 5],
      votersOutgoing: [1, 2],
      learnersNext: [2],
      autoLeave: true,
    });
    expect(t.voterNodes()).toEqual([1, 2, 3]);
    expect(t.learnerNodes()).toEqual([4, 5]);
    expect(new ProgressTracker(1, 0).learnerNodes()).toEqual([]);
  });

  it("is a singleton only with one voter and no outgoing half", () => {
    expect(tracker([1]).isSingleton()).toBe(true);
    expect(tracker([1], [], [2]).isSingleton()).toBe(true);
    expect(tracker([1, 2]).isSingleton()).toBe(false);
    expect(tracker([1], [1]).isSingleton()).toBe(false);
    expect(new ProgressTracker(1, 0).isSingleton()).toBe(false);
  });

  it("sees a quorum active from the voters' recentActive flags", () => {
    const t = tracker([1, 2, 3], [], [4]);
    t.progress.get(4)!.recentActive = true;
    t.progress.get(1)!.recentActive = true;
    expect(t.quorumActive()).toBe(false);
    t.progress.get(2)!.recentActive = true;
    expect(t.quorumActive()).toBe(true);
  });

  it("records the first vote of each peer and tallies voters only", () => {
    const t = tracker([1, 2, 3], [], [4]);
    t.recordVote(1, true);
    t.recordVote(1, false); // ignored: the first vote counts
    t.recordVote(4, true); // a learner: not counted
    t.recordVote(9, false); // not in the config: not counted
    expect(t.tallyVotes()).toEqual({ granted: 1, rejected: 0, result: VoteResult.VotePending });
    t.recordVote(2, false);
    t.recordVote(3, false);
    expect(t.tallyVotes()).toEqual({ granted: 1, rejected: 2, result: VoteResult.VoteLost });
    t.resetVotes();
    t.recordVote(2, true);
    t.recordVote(3, true);
    expect(t.tallyVotes()).toEqual({ granted: 2, rejected: 0, result: VoteResult.VoteWon });
  });
});
