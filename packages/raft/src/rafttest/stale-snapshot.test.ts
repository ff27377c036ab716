/**
 * A unit test of the core, beside the simulator's coverage of the same rule: a stale or duplicated
 * MsgSnap — at or below the follower's commit index, delivered late by the network — is ignored:
 * restoring it would take the follower's log, commit index and state machine back. The simulator
 * reaches this with late replays of snapshots (`replay snap K to N`, the stale snapshot episode of
 * sim/generator.ts); this is the same rule at the level of one node.
 */
import { describe, expect, it } from "vitest";
import { msg, newTestConfig, newTestRaft, readMessages } from "../../test/network.js";
import { MessageType, newConfState, newSnapshot } from "../raftpb/types.js";
import { RawNode } from "../raw-node.js";
import { MemoryStorage } from "../storage.js";

const snap = (index: number, term: number) =>
  newSnapshot({ metadata: { index, term, confState: newConfState({ voters: [1, 2, 3] }) } });

/** Follower 2 of term 2: snapshot at 8 (its log compacted there), entries 9 and 10, commit 10. */
function follower() {
  const s = new MemoryStorage();
  s.applySnapshot(snap(8, 2));
  s.append([
    { index: 9, term: 2, type: 0, data: new Uint8Array(0) },
    { index: 10, term: 2, type: 0, data: new Uint8Array(0) },
  ]);
  s.setHardState({ term: 2, vote: 1, commit: 10 });
  const r = newTestRaft(2, 10, 1, s, { applied: 10 });
  r.becomeFollower(2, 1);
  return r;
}

describe("a stale or duplicated MsgSnap", () => {
  for (const [what, index] of [
    ["below the commit index, whose index is compacted away here", 5],
    ["at the snapshot this node holds", 8],
    ["at the commit index", 10],
  ] as const) {
    it(`${what} is ignored: log, commit index and configuration stay`, () => {
      const r = follower();
      r.step(msg(MessageType.MsgSnap, { from: 1, to: 2, term: 2, snapshot: snap(index, 2) }));
      expect(r.raftLog.committed).toBe(10);
      expect([r.raftLog.firstIndex(), r.raftLog.lastIndex()]).toEqual([9, 10]);
      expect(r.raftLog.hasNextOrInProgressSnapshot()).toBe(false);
      // It tells the leader how far it is: its commit index.
      expect(readMessages(r).map((m) => [MessageType[m.type], m.index])).toEqual([["MsgAppResp", 10]]);
    });
  }

  it("delivered twice, the second copy restores nothing once the first was applied", () => {
    const r = follower();
    const m = msg(MessageType.MsgSnap, { from: 1, to: 2, term: 2, snapshot: snap(12, 2) });
    r.step(m);
    expect(r.raftLog.committed).toBe(12);
    expect(r.raftLog.hasNextOrInProgressSnapshot()).toBe(true);
    // Written and applied by the driver.
    r.raftLog.stableSnapTo(12);
    r.raftLog.appliedTo(12, 0);
    readMessages(r);
    r.step(m);
    expect(r.raftLog.committed).toBe(12);
    expect(r.raftLog.hasNextOrInProgressSnapshot()).toBe(false);
    expect(readMessages(r).map((x) => [MessageType[x.type], x.index])).toEqual([["MsgAppResp", 12]]);
  });

  it("through a RawNode, hands out no snapshot to write", () => {
    const s = new MemoryStorage();
    s.applySnapshot(snap(8, 2));
    s.setHardState({ term: 2, vote: 1, commit: 8 });
    const rn = new RawNode({ ...newTestConfig(2, 10, 1, s), applied: 8 });
    rn.step(msg(MessageType.MsgSnap, { from: 1, to: 2, term: 2, snapshot: snap(6, 2) }));
    const rd = rn.ready();
    expect(rd.snapshot).toBeUndefined();
    expect(rd.hardState?.commit ?? 8).toBe(8);
  });
});
