/**
 * CatchUps: which WAL entries a leader's compaction keeps for a follower it sent a snapshot, and
 * when it lets go. The end-to-end cases (one snapshot despite a long transfer or a long restore) are
 * in snapshot-transfer.test.ts; here, the rule itself, compaction by compaction.
 */
import { type Progress, StateType, type Status } from "@tsraft/raft";
import { describe, expect, it } from "vitest";
import { CatchUps, INACTIVE_COMPACTIONS } from "./catch-up.js";

/** A leader's status as keepFrom reads it: its state and each follower's match and activity. */
function status(
  followers: Record<number, { match: number; active: boolean }>,
  raftState = StateType.StateLeader,
): Status {
  const progress = new Map<number, Progress>();
  for (const [id, f] of Object.entries(followers)) {
    progress.set(Number(id), { match: f.match, recentActive: f.active } as Progress);
  }
  return { raftState, progress } as unknown as Status;
}

describe("CatchUps", () => {
  it("keeps the entries after the image for the follower, from what it still needs", () => {
    const c = new CatchUps();
    c.sending(3);
    // Before the image is taken nothing is kept: the image will be at least this new.
    expect(c.keepFrom(status({ 3: { match: 10, active: true } }), 500)).toBeUndefined();
    c.imageTaken(3, 600);
    expect(c.keepFrom(status({ 3: { match: 10, active: true } }), 700)).toBe(601);
    // It restored the image and acknowledged entries beyond it: less to keep.
    expect(c.keepFrom(status({ 3: { match: 650, active: true } }), 800)).toBe(651);
    // Caught up past the compaction point: let go.
    expect(c.keepFrom(status({ 3: { match: 900, active: true } }), 850)).toBeUndefined();
    expect(c.keepFrom(status({ 3: { match: 10, active: true } }), 950)).toBeUndefined();
  });

  it(`tolerates a follower found inactive at fewer than ${INACTIVE_COMPACTIONS} compactions in a row`, () => {
    const c = new CatchUps();
    c.sending(3);
    c.imageTaken(3, 600);
    // A silence (a leader or a follower paused for seconds) at one compaction, then active again.
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < INACTIVE_COMPACTIONS - 1; k++) {
        expect(c.keepFrom(status({ 3: { match: 10, active: false } }), 700 + round)).toBe(601);
      }
      expect(c.keepFrom(status({ 3: { match: 10, active: true } }), 700 + round)).toBe(601);
    }
  });

  it(`lets go of a follower inactive at ${INACTIVE_COMPACTIONS} compactions in a row, and after a failed transfer`, () => {
    const c = new CatchUps();
    c.sending(3);
    c.imageTaken(3, 600);
    for (let k = 0; k < INACTIVE_COMPACTIONS - 1; k++) {
      expect(c.keepFrom(status({ 3: { match: 10, active: false } }), 700)).toBe(601);
    }
    expect(c.keepFrom(status({ 3: { match: 10, active: false } }), 700)).toBeUndefined();
    // Gone for good: active again, it gets a new snapshot rather than these entries.
    expect(c.keepFrom(status({ 3: { match: 10, active: true } }), 700)).toBeUndefined();

    c.sending(2);
    c.imageTaken(2, 800);
    expect(c.keepFrom(status({ 2: { match: 10, active: true } }), 900)).toBe(801);
    c.failed(2);
    expect(c.keepFrom(status({ 2: { match: 10, active: true } }), 900)).toBeUndefined();
  });

  it("keeps the least any follower needs, and nothing once this node no longer leads", () => {
    const c = new CatchUps();
    c.sending(2);
    c.sending(3);
    c.imageTaken(2, 600);
    c.imageTaken(3, 400);
    const both = { 2: { match: 10, active: true }, 3: { match: 10, active: true } };
    expect(c.keepFrom(status(both), 700)).toBe(401);
    expect(c.keepFrom(status(both, StateType.StateFollower), 700)).toBeUndefined();
    expect(c.keepFrom(status(both), 700)).toBeUndefined();
  });
});
