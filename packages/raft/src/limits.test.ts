/**
 * Size and flow limits: maxUncommittedEntriesSize, maxSizePerMsg, maxInflightMsgs/Bytes,
 * maxCommittedSizePerReady; and proposal forwarding and snapshots for compacted followers.
 */
import { describe, expect, it } from "vitest";
import {
  caught,
  dataOf,
  enc,
  msg,
  Network,
  newTestRaft,
  newTestStorage,
  persistReady,
  readMessages,
} from "../test/network.js";
import { isRaftError } from "./errors.js";
import { entrySize } from "./raftpb/size.js";
import { type Entry, MessageType } from "./raftpb/types.js";
import { SnapshotStatus } from "./raw-node.js";
import { ProgressState } from "./tracker/index.js";

/** True if `f` threw a ProposalDropped RaftError, false if it returned; anything else is rethrown. */
function dropped(f: () => void): boolean {
  const e = caught(f);
  if (e !== undefined && !isRaftError(e, "ProposalDropped")) throw e;
  return e !== undefined;
}

describe("maxUncommittedEntriesSize", () => {
  it("drops proposals once the uncommitted tail would exceed it, and accepts again after commit", () => {
    // Followers never answer: nothing commits.
    const nw = Network.create([1, 2, 3], () => ({ maxUncommittedEntriesSize: 100 }));
    nw.elect(1);
    nw.isolate(1);
    const data = new Uint8Array(30);
    const rn = nw.node(1);
    expect(dropped(() => rn.propose(data))).toBe(false); // 30
    expect(dropped(() => rn.propose(data))).toBe(false); // 60
    expect(dropped(() => rn.propose(data))).toBe(false); // 90
    expect(dropped(() => rn.propose(data))).toBe(true); // 120 > 100
    expect(nw.raft(1).uncommittedSize).toBe(90);
    // Empty payloads are never refused (they count 0).
    expect(dropped(() => rn.propose(new Uint8Array(0)))).toBe(false);
    // Commit and apply: the quota is released.
    nw.heal();
    nw.node(1).tick();
    nw.stabilize();
    expect(nw.raft(1).uncommittedSize).toBe(0);
    expect(dropped(() => rn.propose(data))).toBe(false);
  });

  it("accepts any single proposal when nothing is uncommitted", () => {
    const nw = Network.create([1, 2, 3], () => ({ maxUncommittedEntriesSize: 10 }));
    nw.elect(1);
    expect(dropped(() => nw.node(1).propose(new Uint8Array(50)))).toBe(false);
    expect(dropped(() => nw.node(1).propose(new Uint8Array(1)))).toBe(true);
  });
});

describe("maxSizePerMsg", () => {
  it("splits appends to a replicating follower into messages of at most maxSizePerMsg bytes", () => {
    const data = new Uint8Array(20);
    const one = entrySize({ term: 1, index: 10, type: 0, data });
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2]), { maxSizePerMsg: 3 * one });
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    // Get follower 2 into StateReplicate.
    r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: 1 }));
    readMessages(r);
    expect(r.trk.progress.get(2)!.state).toBe(ProgressState.StateReplicate);
    // Ten entries in one proposal: the broadcast sends the first batch...
    const ten = Array.from({ length: 10 }, () => ({ term: 0, index: 0, type: 0, data }));
    r.step(msg(MessageType.MsgProp, { from: 1, to: 1, entries: ten }));
    const apps = readMessages(r).filter((m) => m.type === MessageType.MsgApp);
    expect(apps.map((m) => m.entries.length)).toEqual([3]);
    // ...and an acknowledgement lets the leader send all the rest, batch by batch.
    r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: 4 }));
    apps.push(...readMessages(r).filter((m) => m.type === MessageType.MsgApp));
    expect(apps.map((m) => m.entries.length)).toEqual([3, 3, 3, 1]);
    for (const m of apps) {
      expect(m.entries.reduce((s, e) => s + entrySize(e), 0)).toBeLessThanOrEqual(3 * one);
    }
    // Consecutive: each message starts where the previous one ended.
    expect(apps.map((m) => m.index)).toEqual([1, 4, 7, 10]);
  });

  it("0 sends one entry per message; an oversized entry still goes alone", () => {
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2]), { maxSizePerMsg: 0 });
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: 1 }));
    readMessages(r);
    r.step(
      msg(MessageType.MsgProp, {
        from: 1,
        to: 1,
        entries: [
          { term: 0, index: 0, type: 0, data: new Uint8Array(100) },
          { term: 0, index: 0, type: 0, data: new Uint8Array(1) },
        ],
      }),
    );
    const apps = readMessages(r).filter((m) => m.type === MessageType.MsgApp);
    expect(apps.map((m) => m.entries.length)).toEqual([1]);
    r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: 2 }));
    apps.push(...readMessages(r).filter((m) => m.type === MessageType.MsgApp));
    expect(apps.map((m) => [m.index, m.entries.length])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });
});

/** Makes `r` leader with follower 2 replicating (it acked index 1), then proposes `data` five times. */
function proposeToReplicatingFollower(r: ReturnType<typeof newTestRaft>, data: Uint8Array): void {
  r.becomeCandidate();
  r.becomeLeader();
  readMessages(r);
  r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: 1 }));
  readMessages(r);
  for (let i = 0; i < 5; i++) {
    r.step(msg(MessageType.MsgProp, { from: 1, to: 1, entries: [{ term: 0, index: 0, type: 0, data }] }));
  }
}

describe("maxInflightMsgs / maxInflightBytes", () => {
  it("pauses a replicating follower once its inflight window is full", () => {
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2]), { maxInflightMsgs: 2, maxSizePerMsg: 0 });
    proposeToReplicatingFollower(r, enc("x"));
    const apps = readMessages(r).filter((m) => m.type === MessageType.MsgApp && m.entries.length > 0);
    expect(apps.length).toBe(2);
    expect(r.trk.progress.get(2)!.isPaused()).toBe(true);
    // An ack frees the window.
    r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: apps[0]!.index + 1 }));
    expect(readMessages(r).filter((m) => m.type === MessageType.MsgApp && m.entries.length > 0).length).toBe(
      1,
    );
  });

  it("limits the payload bytes in flight", () => {
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2]), {
      maxInflightMsgs: 100,
      maxInflightBytes: 25,
      maxSizePerMsg: 0,
    });
    proposeToReplicatingFollower(r, new Uint8Array(10));
    const apps = readMessages(r).filter((m) => m.type === MessageType.MsgApp && m.entries.length > 0);
    // 10 + 10 < 25, the third reaches 30 ≥ 25 and fills the window.
    expect(apps.length).toBe(3);
  });
});

describe("maxCommittedSizePerReady", () => {
  it("pages committed entries across Readys", () => {
    const s = newTestStorage([1]);
    const nw = new Network();
    const data = new Uint8Array(50);
    const one = entrySize({ term: 1, index: 10, type: 0, data });
    nw.add(1, s, { maxCommittedSizePerReady: 2 * one });
    nw.elect(1);
    const rn = nw.node(1);
    // Propose 7 entries, committed at once (single node), without applying.
    for (let i = 0; i < 7; i++) rn.propose(data);
    const pages: number[] = [];
    for (let i = 0; i < 20 && rn.hasReady(); i++) {
      const rd = rn.ready();
      persistReady(s, rd);
      const n = rd.committedEntries.filter((e: Entry) => e.data.length > 0).length;
      if (n > 0) pages.push(n);
      for (const e of rd.committedEntries) {
        expect(e.index).toBeGreaterThan(0);
      }
      rn.advance(rd);
    }
    expect(pages.reduce((a, b) => a + b, 0)).toBe(7);
    expect(Math.max(...pages)).toBeLessThanOrEqual(2);
    expect(pages.length).toBeGreaterThanOrEqual(4);
  });
});

describe("disableProposalForwarding", () => {
  it("makes followers drop proposals instead of forwarding them", () => {
    const nw = Network.create([1, 2, 3], (id) => ({ disableProposalForwarding: id === 2 }));
    nw.elect(1);
    expect(dropped(() => nw.node(2).propose(enc("no")))).toBe(true);
    expect(dropped(() => nw.node(3).propose(enc("yes")))).toBe(false);
    nw.stabilize();
    expect(nw.sent.filter((m) => m.type === MessageType.MsgProp).map((m) => [m.from, m.to])).toEqual([
      [3, 1],
    ]);
    expect(dataOf(nw.applied(1))).toEqual(["yes"]);
  });

  it("a node without a leader drops proposals", () => {
    const nw = Network.create([1, 2, 3]);
    expect(dropped(() => nw.node(2).propose(enc("x")))).toBe(true);
  });
});

describe("snapshots for followers whose entries were compacted", () => {
  it("sends MsgSnap, pauses the follower, and resumes once it applied the snapshot", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    nw.isolate(3);
    for (const d of ["a", "b", "c", "d"]) nw.propose(1, d);
    // The leader compacts its log past node 3's next index.
    const s1 = nw.storage(1);
    const applied = nw.raft(1).raftLog.applied;
    s1.createSnapshot(applied, undefined, enc(`state@${applied}`));
    s1.compact(applied);
    nw.heal();
    // A heartbeat response from 3 makes the leader probe it; the probes end in a snapshot. Hold
    // the snapshot back for a look.
    nw.node(1).tick();
    nw.stabilize((m) => m.type !== MessageType.MsgSnap);
    const snaps = nw.sent.filter((m) => m.type === MessageType.MsgSnap);
    expect(snaps.map((m) => [m.from, m.to, m.snapshot!.metadata.index])).toEqual([[1, 3, applied]]);
    const pr = nw.raft(1).trk.progress.get(3)!;
    expect(pr.state).toBe(ProgressState.StateSnapshot);
    expect(pr.pendingSnapshot).toBe(applied);
    // Deliver it: the follower restores it; the leader hears back and resumes replication.
    nw.node(3).step(snaps[0]!);
    nw.node(1).reportSnapshot(3, SnapshotStatus.SnapshotFinish);
    nw.stabilize();
    expect(nw.raft(3).raftLog.committed).toBe(nw.raft(1).raftLog.committed);
    expect(nw.storage(3).snapshot().metadata.index).toBe(applied);
    expect(nw.raft(1).trk.progress.get(3)!.state).toBe(ProgressState.StateReplicate);
    nw.propose(1, "e");
    expect(nw.raft(3).raftLog.committed).toBe(nw.raft(1).raftLog.committed);
  });

  it("a failed snapshot sends the follower back to probing", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, "a");
    const s1 = nw.storage(1);
    const applied = nw.raft(1).raftLog.applied;
    s1.createSnapshot(applied, undefined, enc("s"));
    s1.compact(applied);
    nw.heal();
    nw.node(1).tick();
    nw.stabilize((m) => m.type !== MessageType.MsgSnap);
    const pr = nw.raft(1).trk.progress.get(3)!;
    expect(pr.state).toBe(ProgressState.StateSnapshot);
    nw.node(1).reportSnapshot(3, SnapshotStatus.SnapshotFailure);
    expect(pr.state).toBe(ProgressState.StateProbe);
    expect(pr.pendingSnapshot).toBe(0);
    expect(pr.msgAppFlowPaused).toBe(true);
  });
});
