/**
 * The state machine beyond the paper's core: PreVote, CheckQuorum and the leader lease, learners,
 * conf change rules, fast log-conflict resolution, commit propagation, snapshot restore, logging.
 */
import { describe, expect, it } from "vitest";
import {
  enc,
  entsWithTerms,
  msg,
  Network,
  newTestRaft,
  newTestStorage,
  RecordingLogger,
  readMessages,
} from "../test/network.js";
import { None } from "./constants.js";
import { encodeConfChangeV2 } from "./raftpb/encode.js";
import type { Message } from "./raftpb/types.js";
import {
  ConfChangeType,
  EntryType,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newConfState,
  newSnapshot,
} from "./raftpb/types.js";
import { StateType } from "./ready.js";

describe("PreVote (Raft thesis §9.6)", () => {
  for (const preVote of [false, true]) {
    it(`a partitioned node with a stale log ${preVote ? "cannot" : "can"} disrupt the cluster when it rejoins`, () => {
      const nw = Network.create([1, 2, 3], () => ({ preVote }));
      nw.elect(1);
      nw.isolate(3);
      nw.propose(1, "a"); // 3 falls behind
      for (let i = 0; i < 100; i++) {
        nw.node(3).tick();
        nw.stabilize();
      }
      // Its elections go nowhere; without PreVote each one still bumps its term.
      expect(nw.raft(3).term === 1).toBe(preVote);
      nw.heal();
      for (let i = 0; i < 200; i++) {
        for (const id of [1, 2, 3]) nw.node(id).tick();
        nw.stabilize();
      }
      if (preVote) {
        expect([nw.raft(1).state, nw.raft(1).term]).toEqual([StateType.StateLeader, 1]);
      } else {
        // The old leader had to step down for 3's higher term.
        expect(nw.raft(1).term).toBeGreaterThan(1);
      }
      expect(nw.raft(3).raftLog.committed).toBe(nw.raft(1).raftLog.committed);
    });
  }

  it("a pre-candidate keeps its term and vote, and campaigns for real once pre-elected", () => {
    const nw = Network.create([1, 2, 3], () => ({ preVote: true }));
    const rn = nw.node(1);
    rn.campaign();
    expect(rn.raft.state).toBe(StateType.StatePreCandidate);
    expect([rn.raft.term, rn.raft.vote]).toEqual([0, None]);
    nw.stabilize();
    const votes = nw.sent.filter((m) => m.type === MessageType.MsgPreVote || m.type === MessageType.MsgVote);
    // Pre-votes are for the next term; then the real election at that term.
    expect(votes.map((m) => [MessageType[m.type], m.to, m.term])).toEqual([
      ["MsgPreVote", 2, 1],
      ["MsgPreVote", 3, 1],
      ["MsgVote", 2, 1],
      ["MsgVote", 3, 1],
    ]);
    expect(rn.raft.state).toBe(StateType.StateLeader);
  });
});

describe("CheckQuorum and the leader lease", () => {
  it("a leader that does not hear from a quorum within an election timeout steps down", () => {
    const nw = Network.create([1, 2, 3], () => ({ checkQuorum: true }));
    nw.elect(1);
    nw.isolate(1);
    const r = nw.raft(1);
    for (let i = 0; i < r.electionTimeout; i++) r.tick();
    // The first check marks peers inactive; the next one, a timeout later, finds no quorum.
    for (let i = 0; i < r.electionTimeout; i++) r.tick();
    expect(r.state).toBe(StateType.StateFollower);
  });

  it("followers that heard from the leader recently ignore vote requests", () => {
    const nw = Network.create([1, 2, 3], () => ({ checkQuorum: true }));
    nw.elect(1);
    const r2 = nw.raft(2);
    r2.step(msg(MessageType.MsgVote, { from: 3, to: 2, term: 5, logTerm: 1, index: 1 }));
    expect(r2.term).toBe(1);
    expect(readMessages(r2)).toEqual([]);
    // A leadership transfer's request is honoured despite the lease.
    r2.step(
      msg(MessageType.MsgVote, {
        from: 3,
        to: 2,
        term: 5,
        logTerm: 1,
        index: 1,
        context: enc("CampaignTransfer"),
      }),
    );
    expect(r2.term).toBe(5);
    expect(r2.vote).toBe(3);
  });

  it("a stale leader's append is answered so it learns the newer term", () => {
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]), { checkQuorum: true });
    r.becomeFollower(3, None);
    r.step(msg(MessageType.MsgApp, { from: 2, to: 1, term: 2 }));
    expect(readMessages(r).map((m) => [MessageType[m.type], m.to, m.term])).toEqual([["MsgAppResp", 2, 3]]);
    // Without CheckQuorum or PreVote, it is simply ignored.
    const q = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
    q.becomeFollower(3, None);
    q.step(msg(MessageType.MsgApp, { from: 2, to: 1, term: 2 }));
    expect(readMessages(q)).toEqual([]);
  });
});

describe("who may campaign", () => {
  it("a learner does not campaign, but votes", () => {
    const s = newTestStorage([1, 2], [3]);
    const r3 = newTestRaft(3, 10, 1, s);
    for (let i = 0; i < 30; i++) r3.tick();
    expect(r3.state).toBe(StateType.StateFollower);
    expect(readMessages(r3)).toEqual([]);
    r3.step(msg(MessageType.MsgVote, { from: 1, to: 3, term: 2, logTerm: 0, index: 0 }));
    expect(r3.msgsAfterAppend.map((m) => [MessageType[m.type], m.reject])).toEqual([["MsgVoteResp", false]]);
  });

  it("a node with a committed but unapplied conf change does not campaign", () => {
    const s = newTestStorage([1, 2]);
    const cc = encodeConfChangeV2(
      newConfChangeV2({ changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 3 }] }),
    );
    s.append([
      { term: 1, index: 1, type: EntryType.EntryNormal, data: new Uint8Array(0) },
      { term: 1, index: 2, type: EntryType.EntryConfChangeV2, data: cc },
    ]);
    s.setHardState({ term: 1, vote: 0, commit: 2 });
    const logger = new RecordingLogger();
    const r = newTestRaft(1, 10, 1, s, { logger, applied: 1 });
    r.step(msg(MessageType.MsgHup, { from: 1 }));
    expect(r.state).toBe(StateType.StateFollower);
    expect(logger.lines).toContain(
      "WARN 1 cannot campaign at term 1 since there are still pending configuration changes to apply",
    );
    // Once applied, it may.
    r.raftLog.appliedTo(2, 0);
    r.step(msg(MessageType.MsgHup, { from: 1 }));
    expect(r.state).toBe(StateType.StateCandidate);
  });

  it("a candidate ignores MsgTimeoutNow", () => {
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
    r.becomeCandidate();
    r.step(msg(MessageType.MsgTimeoutNow, { from: 2, to: 1, term: r.term }));
    expect([r.state, r.term]).toEqual([StateType.StateCandidate, 1]);
  });
});

describe("conf change validation", () => {
  it("refuses to leave a joint configuration that is not joint, unless validation is disabled", () => {
    for (const disable of [false, true]) {
      const nw = Network.create([1, 2], () => ({ disableConfChangeValidation: disable }));
      nw.elect(1);
      nw.node(1).proposeConfChange(newConfChangeV2());
      const last = nw.raft(1).raftLog.nextUnstableEnts().at(-1)!;
      expect(last.type).toBe(disable ? EntryType.EntryConfChangeV2 : EntryType.EntryNormal);
    }
  });

  it("refuses a simple change while joint", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    nw.node(1).applyConfChange(
      newConfChangeV2({
        transition: 2,
        changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }],
      }),
    );
    nw.raft(1).pendingConfIndex = 0;
    nw.node(1).proposeConfChange(newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: 5 }));
    expect(nw.raft(1).raftLog.nextUnstableEnts().at(-1)!.type).toBe(EntryType.EntryNormal);
  });
});

describe("log replication details", () => {
  it("a follower's divergent tail is skipped by term, not entry by entry", () => {
    // etcd's example: the leader's and follower's terms at indexes 1..9 and 1..6.
    const ls = newTestStorage([1, 2]);
    ls.append(entsWithTerms([1, 3, 3, 3, 5, 5, 5, 5, 5]));
    const lead = newTestRaft(1, 10, 1, ls);
    lead.loadState({ term: 5, vote: 0, commit: 1 });
    const fs = newTestStorage([1, 2]);
    fs.append(entsWithTerms([1, 1, 1, 1, 2, 2]));
    const f = newTestRaft(2, 10, 1, fs);
    f.loadState({ term: 5, vote: 0, commit: 1 });
    lead.becomeCandidate();
    lead.becomeLeader();
    lead.bcastAppend();
    let rejections = 0;
    let q: Message[] = readMessages(lead);
    for (let round = 0; round < 20 && q.length > 0; round++) {
      const next: Message[] = [];
      for (const m of q) {
        const to = m.to === 1 ? lead : f;
        if (m.type === MessageType.MsgAppResp && m.reject) rejections++;
        to.step(m);
        next.push(...readMessages(to));
      }
      q = next;
    }
    expect(f.raftLog.allEntries().map((e) => e.term)).toEqual(lead.raftLog.allEntries().map((e) => e.term));
    // One rejection reveals the follower's term 2 at index 6; the leader jumps to index 1 at once.
    expect(rejections).toBe(1);
  });

  it("heartbeats never tell a follower to commit beyond what it is known to hold", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, "a");
    nw.heal();
    // Only heartbeats reach 3: it does not hold entry 2, so the heartbeat carries commit 1.
    nw.node(1).tick();
    nw.ready(1);
    nw.deliver((m) => m.type === MessageType.MsgHeartbeat && m.to === 3);
    expect(nw.raft(3).raftLog.committed).toBe(1);
    const hb = nw.sent.filter((m) => m.type === MessageType.MsgHeartbeat && m.to === 3).at(-1)!;
    expect(hb.commit).toBe(1);
    expect(nw.raft(1).raftLog.committed).toBe(2);
  });

  it("a follower that missed a commit index update is sent one as soon as it acknowledges", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    // 3 goes back to probing: after the next append to it, it is paused.
    nw.node(1).reportUnreachable(3);
    nw.node(1).propose(enc("x"));
    nw.ready(1);
    nw.deliver();
    nw.ready(2);
    nw.ready(3);
    // Only 2's acknowledgement gets through: entry 2 commits, but the paused 3 is not told.
    nw.deliver((m) => m.from === 2);
    const rd1 = nw.ready(1)!;
    expect(rd1.messages.map((m) => [MessageType[m.type], m.to, m.commit])).toEqual([["MsgApp", 2, 2]]);
    nw.queue = [];
    expect(nw.raft(3).raftLog.committed).toBe(1);
    // 3's (late) acknowledgement: the leader answers with an append carrying the commit index.
    nw.raft(1).step(msg(MessageType.MsgAppResp, { from: 3, to: 1, term: 1, index: 2 }));
    const rd = nw.ready(1)!;
    expect(rd.messages.map((m) => [MessageType[m.type], m.to, m.commit])).toEqual([["MsgApp", 3, 2]]);
  });
});

describe("snapshot restore on the follower", () => {
  const snap = (index: number, term: number, voters: number[]) =>
    newSnapshot({ metadata: { index, term, confState: newConfState({ voters }) } });

  it("restores a newer snapshot, with its configuration", () => {
    const r = newTestRaft(2, 10, 1, newTestStorage([1, 2]));
    r.becomeFollower(2, 1);
    r.step(msg(MessageType.MsgSnap, { from: 1, to: 2, term: 2, snapshot: snap(11, 2, [1, 2, 3]) }));
    expect(r.raftLog.committed).toBe(11);
    expect(r.raftLog.lastIndex()).toBe(11);
    expect([...r.trk.config.voters.ids()].sort()).toEqual([1, 2, 3]);
    expect(readMessages(r).map((m) => [MessageType[m.type], m.index])).toEqual([["MsgAppResp", 11]]);
  });

  it("ignores a snapshot that does not name this node, and an old one", () => {
    const logger = new RecordingLogger();
    const r = newTestRaft(2, 10, 1, newTestStorage([1, 2]), { logger });
    r.becomeFollower(2, 1);
    r.step(msg(MessageType.MsgSnap, { from: 1, to: 2, term: 2, snapshot: snap(11, 2, [1, 3]) }));
    expect(r.raftLog.committed).toBe(0);
    expect(
      logger.lines.some((l) =>
        l.startsWith("WARN 2 attempted to restore snapshot but it is not in the ConfState"),
      ),
    ).toBe(true);
    expect(readMessages(r).map((m) => [MessageType[m.type], m.index])).toEqual([["MsgAppResp", 0]]);
  });

  it("only moves the commit index if the log already holds the snapshot's last entry", () => {
    const s = newTestStorage([1, 2]);
    s.append(entsWithTerms([1, 1, 1]));
    const r = newTestRaft(2, 10, 1, s);
    r.becomeFollower(1, 1);
    r.step(msg(MessageType.MsgSnap, { from: 1, to: 2, term: 1, snapshot: snap(2, 1, [1, 2]) }));
    expect(r.raftLog.committed).toBe(2);
    expect(r.raftLog.lastIndex()).toBe(3);
    expect(r.raftLog.hasNextOrInProgressSnapshot()).toBe(false);
  });
});

describe("logging", () => {
  it("does not build debug lines for a logger that drops them", () => {
    const logger = new RecordingLogger();
    logger.debugOn = false;
    const nw = Network.create([1, 2], (id) => (id === 1 ? { logger } : {}));
    nw.elect(1);
    nw.node(1).reportUnreachable(2);
    expect(logger.lines.filter((l) => l.startsWith("DEBUG"))).toEqual([]);
    logger.debugOn = true;
    nw.node(1).reportUnreachable(2);
    expect(logger.lines.filter((l) => l.startsWith("DEBUG"))).toEqual([
      "DEBUG 1 failed to send message to 2 because it is unreachable [StateProbe match=1 next=2]",
    ]);
  });

  it("prints node ids in hex", () => {
    const logger = new RecordingLogger();
    newTestRaft(26, 10, 1, newTestStorage([26, 255]), { logger });
    expect(logger.lines).toEqual([
      "INFO 1a switched to configuration voters=(1a ff)",
      "INFO 1a became follower at term 0",
      "INFO newRaft 1a [peers: [1a,ff], term: 0, commit: 0, applied: 0, lastindex: 0, lastterm: 0]",
    ]);
  });
});
