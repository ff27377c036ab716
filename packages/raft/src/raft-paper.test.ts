/**
 * One test per claim of the Raft paper's §5.1–§5.4 ("In Search of an Understandable Consensus
 * Algorithm", Ongaro & Ousterhout, 2014), each citing the sentence it checks. etcd's
 * raft_paper_test.go served as a guide; these tests are written for this implementation.
 *
 * Where etcd deliberately deviates from the paper's wording (it ignores stale requests instead of
 * answering them; a new leader appends a no-op), the test says so.
 */
import { describe, expect, it } from "vitest";
import {
  advanceMessagesAfterAppend,
  enc,
  entsWithTerms,
  msg,
  newTestRaft,
  newTestStorage,
  readMessages,
  stepQuiet,
} from "../test/network.js";
import { None } from "./constants.js";
import type { Raft } from "./raft.js";
import { type Entry, type HardState, type Message, MessageType, newMessage } from "./raftpb/types.js";
import { StateType } from "./ready.js";
import type { MemoryStorage } from "./storage.js";

/** Messages sorted by recipient, for comparisons independent of send order. */
function byTo(ms: Message[]): Message[] {
  return [...ms].sort((a, b) => a.to - b.to || a.type - b.type);
}

/** A summary of a message's Raft fields, for readable expectations. */
function brief(m: Message) {
  return {
    type: MessageType[m.type],
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    commit: m.commit,
    reject: m.reject,
    entries: m.entries.map((e) => [e.term, e.index]),
  };
}

/** The {@link brief}s of a message with no log position and no entries, from node 1 to each of `to`. */
function bare(type: string, term: number, to: number[]) {
  return to.map((t) => ({
    type,
    from: 1,
    to: t,
    term,
    logTerm: 0,
    index: 0,
    commit: 0,
    reject: false,
    entries: [],
  }));
}

/** The follower's positive answer to an append or vote request. */
function acceptAndReply(m: Message): Message {
  if (m.type !== MessageType.MsgApp) throw new Error("type should be MsgApp");
  return newMessage({
    type: MessageType.MsgAppResp,
    from: m.to,
    to: m.from,
    term: m.term,
    index: m.index + m.entries.length,
  });
}

/** Brings a fresh leader's no-op to committed, persisted and applied (etcd's commitNoopEntry). */
function commitNoopEntry(r: Raft, s: MemoryStorage): void {
  expect(r.state).toBe(StateType.StateLeader);
  r.bcastAppend();
  for (const m of readMessages(r)) {
    expect(m.type).toBe(MessageType.MsgApp);
    expect(m.entries.length).toBe(1);
    expect(m.entries[0]!.data.length).toBe(0);
    r.step(acceptAndReply(m));
  }
  readMessages(r); // the commit index updates to followers
  s.append(r.raftLog.nextUnstableEnts());
  r.raftLog.appliedTo(r.raftLog.committed, 0);
  r.raftLog.stableTo(r.raftLog.lastEntryID());
}

/**
 * Node `id` of `voters` restarted over a log of entries with `terms` (from index 1), with HardState
 * `hs` if given.
 */
function restartedOver(id: number, terms: number[], hs?: HardState, voters = [1, 2, 3]): Raft {
  const s = newTestStorage(voters);
  s.append(entsWithTerms(terms));
  const r = newTestRaft(id, 10, 1, s);
  if (hs !== undefined) r.loadState(hs);
  return r;
}

/** Leader 1 proposes one entry, "x", as its application would (a MsgProp to itself). */
function proposeX(r: Raft): void {
  r.step(
    msg(MessageType.MsgProp, { from: 1, to: 1, entries: [{ term: 0, index: 0, type: 0, data: enc("x") }] }),
  );
}

function leaderOf3(): { r: Raft; s: MemoryStorage } {
  const s = newTestStorage([1, 2, 3]);
  const r = newTestRaft(1, 10, 1, s);
  r.becomeCandidate();
  r.becomeLeader();
  return { r, s };
}

describe("§5.1 Raft basics: terms", () => {
  for (const state of [StateType.StateFollower, StateType.StateCandidate, StateType.StateLeader]) {
    it(`${StateType[state]}: "If one server's current term is smaller than the other's, then it updates its current term to the larger value. If a candidate or leader discovers that its term is out of date, it immediately reverts to follower state."`, () => {
      const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
      if (state === StateType.StateFollower) r.becomeFollower(1, 2);
      if (state !== StateType.StateFollower) r.becomeCandidate();
      if (state === StateType.StateLeader) r.becomeLeader();
      expect(r.state).toBe(state);
      r.step(msg(MessageType.MsgApp, { from: 2, to: 1, term: 2 }));
      expect(r.term).toBe(2);
      expect(r.state).toBe(StateType.StateFollower);
    });
  }

  it('"If a server receives a request with a stale term number, it rejects the request." (etcd ignores it instead)', () => {
    const s = newTestStorage([1, 2, 3]);
    const r = newTestRaft(1, 10, 1, s);
    r.loadState({ term: 2, vote: 0, commit: 0 });
    r.step(
      msg(MessageType.MsgApp, { from: 2, to: 1, term: 1, index: 0, logTerm: 0, entries: entsWithTerms([1]) }),
    );
    // Nothing appended, nothing answered, term and role unchanged.
    expect(r.raftLog.lastIndex()).toBe(0);
    expect(readMessages(r)).toEqual([]);
    expect(r.term).toBe(2);
    expect(r.lead).toBe(None);
  });
});

describe("§5.2 Leader election", () => {
  it('"When servers start up, they begin as followers."', () => {
    const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
    expect(r.state).toBe(StateType.StateFollower);
  });

  it('"Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all followers in order to maintain their authority."', () => {
    const hb = 2;
    const r = newTestRaft(1, 10, hb, newTestStorage([1, 2, 3]));
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.tick();
    expect(readMessages(r)).toEqual([]); // not yet a heartbeat interval
    r.tick();
    expect(byTo(readMessages(r)).map(brief)).toEqual(bare("MsgHeartbeat", 1, [2, 3]));
  });

  for (const state of [StateType.StateFollower, StateType.StateCandidate]) {
    it(`${StateType[state]}: "If a follower receives no communication over a period of time called the election timeout, then it assumes there is no viable leader and begins an election ... it increments its current term and transitions to candidate state. It then votes for itself and issues RequestVote RPCs in parallel to each of the other servers" (a candidate whose election times out starts a new one)`, () => {
      const et = 10;
      const r = newTestRaft(1, et, 1, newTestStorage([1, 2, 3]));
      if (state === StateType.StateFollower) r.becomeFollower(1, 2);
      else r.becomeCandidate();
      // The randomized timeout is below 2 × et.
      for (let i = 1; i < 2 * et; i++) r.tick();
      advanceMessagesAfterAppend(r);
      expect(r.term).toBe(2);
      expect(r.state).toBe(StateType.StateCandidate);
      expect(r.vote).toBe(1);
      expect(r.trk.votes.get(1)).toBe(true);
      expect(byTo(readMessages(r)).map(brief)).toEqual(bare("MsgVote", 2, [2, 3]));
    });
  }

  const rounds: { size: number; votes: [number, boolean][]; want: StateType; why: string }[] = [
    { size: 1, votes: [], want: StateType.StateLeader, why: "its own vote is a majority of one" },
    {
      size: 3,
      votes: [
        [2, true],
        [3, true],
      ],
      want: StateType.StateLeader,
      why: "all votes",
    },
    { size: 3, votes: [[2, true]], want: StateType.StateLeader, why: "2 of 3" },
    {
      size: 5,
      votes: [
        [2, true],
        [3, true],
      ],
      want: StateType.StateLeader,
      why: "3 of 5",
    },
    {
      size: 3,
      votes: [
        [2, false],
        [3, false],
      ],
      want: StateType.StateFollower,
      why: "a majority rejects",
    },
    {
      size: 5,
      votes: [
        [2, true],
        [3, false],
        [4, false],
        [5, false],
      ],
      want: StateType.StateFollower,
      why: "3 of 5 reject",
    },
    { size: 3, votes: [], want: StateType.StateCandidate, why: "no answer yet" },
    { size: 5, votes: [[2, true]], want: StateType.StateCandidate, why: "2 of 5" },
    {
      size: 5,
      votes: [
        [2, false],
        [3, false],
      ],
      want: StateType.StateCandidate,
      why: "2 rejections of 5",
    },
  ];
  for (const tt of rounds) {
    it(`"A candidate wins an election if it receives votes from a majority of the servers in the full cluster for the same term" — ${tt.size} nodes, ${tt.why}: ${StateType[tt.want]}`, () => {
      const ids = Array.from({ length: tt.size }, (_, i) => i + 1);
      const r = newTestRaft(1, 10, 1, newTestStorage(ids));
      r.step(msg(MessageType.MsgHup, { from: 1, to: 1 }));
      advanceMessagesAfterAppend(r);
      for (const [id, granted] of tt.votes) {
        r.step(msg(MessageType.MsgVoteResp, { from: id, to: 1, term: r.term, reject: !granted }));
      }
      expect(r.state).toBe(tt.want);
      expect(r.term).toBe(1);
    });
  }

  const votes: { vote: number; candidate: number; reject: boolean }[] = [
    { vote: None, candidate: 2, reject: false },
    { vote: None, candidate: 3, reject: false },
    { vote: 2, candidate: 2, reject: false },
    { vote: 3, candidate: 3, reject: false },
    { vote: 2, candidate: 3, reject: true },
    { vote: 3, candidate: 2, reject: true },
  ];
  for (const tt of votes) {
    it(`"Each server will vote for at most one candidate in a given term, on a first-come-first-served basis" — voted ${tt.vote}, asked by ${tt.candidate}: ${tt.reject ? "rejects" : "grants"}`, () => {
      const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
      r.loadState({ term: 1, vote: tt.vote, commit: 0 });
      r.step(msg(MessageType.MsgVote, { from: tt.candidate, to: 1, term: 1 }));
      expect(r.msgsAfterAppend.map(brief)).toEqual([
        {
          type: "MsgVoteResp",
          from: 1,
          to: tt.candidate,
          term: 1,
          logTerm: 0,
          index: 0,
          commit: 0,
          reject: tt.reject,
          entries: [],
        },
      ]);
      expect(r.vote).toBe(tt.vote === None ? tt.candidate : tt.vote);
    });
  }

  for (const term of [1, 2]) {
    it(`"If the leader's term (included in its RPC) is at least as large as the candidate's current term, then the candidate recognizes the leader as legitimate and returns to follower state" — leader term ${term}`, () => {
      const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
      r.step(msg(MessageType.MsgHup, { from: 1, to: 1 }));
      expect(r.state).toBe(StateType.StateCandidate);
      r.step(msg(MessageType.MsgApp, { from: 2, to: 1, term }));
      expect(r.state).toBe(StateType.StateFollower);
      expect(r.term).toBe(term);
      expect(r.lead).toBe(2);
    });
  }

  for (const state of [StateType.StateFollower, StateType.StateCandidate]) {
    it(`${StateType[state]}: "Raft uses randomized election timeouts ... chosen randomly from a fixed interval" — every timeout in [et, 2et) occurs`, () => {
      const et = 10;
      const r = newTestRaft(1, et, 1, newTestStorage([1, 2, 3]));
      const seen = new Set<number>();
      for (let round = 0; round < 50 * et; round++) {
        if (state === StateType.StateFollower) r.becomeFollower(r.term + 1, 2);
        else r.becomeCandidate();
        let ticks = 0;
        while (readMessages(r).length === 0) {
          r.tick();
          ticks++;
        }
        seen.add(ticks);
      }
      expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: et }, (_, i) => et + i));
    });
  }

  for (const state of [StateType.StateFollower, StateType.StateCandidate]) {
    it(`${StateType[state]}: "This spreads out the servers so that in most cases only a single server will time out"`, () => {
      const et = 10;
      const ids = [1, 2, 3, 4, 5];
      const rs = ids.map((id) => newTestRaft(id, et, 1, newTestStorage(ids)));
      let conflicts = 0;
      const rounds = 1000;
      for (let round = 0; round < rounds; round++) {
        for (const r of rs) {
          if (state === StateType.StateFollower) r.becomeFollower(r.term + 1, None);
          else r.becomeCandidate();
        }
        let timedOut = 0;
        while (timedOut === 0) {
          for (const r of rs) {
            r.tick();
            if (readMessages(r).length > 0) timedOut++;
          }
        }
        if (timedOut > 1) conflicts++;
      }
      expect(conflicts / rounds).toBeLessThanOrEqual(0.3);
    });
  }
});

describe("§5.3 Log replication", () => {
  it('"The leader appends the command to its log as a new entry, then issues AppendEntries RPCs in parallel to each of the other servers ... the leader includes the index and term of the entry in its log that immediately precedes the new entries"', () => {
    const { r, s } = leaderOf3();
    commitNoopEntry(r, s);
    const li = r.raftLog.lastIndex();
    proposeX(r);
    expect(r.raftLog.lastIndex()).toBe(li + 1);
    expect(r.raftLog.committed).toBe(li);
    const want = (to: number) => ({
      type: "MsgApp",
      from: 1,
      to,
      term: 1,
      logTerm: 1,
      index: li,
      commit: li,
      reject: false,
      entries: [[1, li + 1]],
    });
    expect(byTo(readMessages(r)).map(brief)).toEqual([want(2), want(3)]);
    // The new entry is in the log, to be written to stable storage.
    expect(r.raftLog.nextUnstableEnts().map((e) => [e.term, e.index])).toEqual([[1, li + 1]]);
  });

  it('"When the entry has been safely replicated ... the leader applies the entry to its state machine ... the leader keeps track of the highest index it knows to be committed, and it includes that index in future AppendEntries RPCs"', () => {
    const { r, s } = leaderOf3();
    commitNoopEntry(r, s);
    const li = r.raftLog.lastIndex();
    proposeX(r);
    for (const m of readMessages(r)) r.step(acceptAndReply(m));
    expect(r.raftLog.committed).toBe(li + 1);
    expect(r.raftLog.nextCommittedEnts(true).map((e) => [e.term, e.index])).toEqual([[1, li + 1]]);
    const out = byTo(readMessages(r));
    expect(out.map((m) => [m.to, MessageType[m.type], m.commit])).toEqual([
      [2, "MsgApp", li + 1],
      [3, "MsgApp", li + 1],
    ]);
  });

  const acks: { size: number; acceptors: number[]; commit: boolean }[] = [
    { size: 1, acceptors: [], commit: true },
    { size: 3, acceptors: [], commit: false },
    { size: 3, acceptors: [2], commit: true },
    { size: 3, acceptors: [2, 3], commit: true },
    { size: 5, acceptors: [2], commit: false },
    { size: 5, acceptors: [2, 3], commit: true },
    { size: 5, acceptors: [2, 3, 4, 5], commit: true },
  ];
  for (const tt of acks) {
    it(`"A log entry is committed once the leader that created the entry has replicated it on a majority of the servers" — ${tt.size} nodes, acks from [${tt.acceptors}]: ${tt.commit ? "committed" : "not committed"}`, () => {
      const ids = Array.from({ length: tt.size }, (_, i) => i + 1);
      const s = newTestStorage(ids);
      const r = newTestRaft(1, 10, 1, s);
      r.becomeCandidate();
      r.becomeLeader();
      commitNoopEntry(r, s);
      const li = r.raftLog.lastIndex();
      r.step(
        msg(MessageType.MsgProp, {
          from: 1,
          to: 1,
          entries: [{ term: 0, index: 0, type: 0, data: enc("x") }],
        }),
      );
      advanceMessagesAfterAppend(r); // the leader's own durable copy counts
      for (const m of readMessages(r)) {
        if (tt.acceptors.includes(m.to)) r.step(acceptAndReply(m));
      }
      expect(r.raftLog.committed > li).toBe(tt.commit);
    });
  }

  const prior: number[][] = [[], [2], [1, 1], [1, 2], [1, 1, 2], [1, 2, 2]];
  for (const terms of prior) {
    it(`"This also commits all preceding entries in the leader's log, including entries created by previous leaders" — prior terms [${terms}]`, () => {
      const r = restartedOver(1, terms, { term: 2, vote: 0, commit: 0 });
      r.becomeCandidate();
      r.becomeLeader();
      r.step(
        msg(MessageType.MsgProp, {
          from: 1,
          to: 1,
          entries: [{ term: 0, index: 0, type: 0, data: enc("x") }],
        }),
      );
      for (const m of readMessages(r)) r.step(acceptAndReply(m));
      const li = terms.length;
      // Everything: the old entries, the no-op of term 3, and the proposal.
      expect(r.raftLog.nextCommittedEnts(true).map((e) => [e.term, e.index])).toEqual([
        ...terms.map((t, i) => [t, i + 1]),
        [3, li + 1],
        [3, li + 2],
      ]);
    });
  }

  const followerCommits: { ents: Entry[]; commit: number }[] = [
    { ents: [{ term: 1, index: 1, type: 0, data: enc("a") }], commit: 1 },
    {
      ents: [
        { term: 1, index: 1, type: 0, data: enc("a") },
        { term: 1, index: 2, type: 0, data: enc("b") },
      ],
      commit: 2,
    },
    {
      ents: [
        { term: 1, index: 1, type: 0, data: enc("a") },
        { term: 1, index: 2, type: 0, data: enc("b") },
      ],
      commit: 1,
    },
  ];
  for (const tt of followerCommits) {
    it(`"Once a follower learns that a log entry is committed, it applies the entry to its local state machine (in log order)" — ${tt.ents.length} entries, commit ${tt.commit}`, () => {
      const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
      r.becomeFollower(1, 2);
      r.step(msg(MessageType.MsgApp, { from: 2, to: 1, term: 1, entries: tt.ents, commit: tt.commit }));
      expect(r.raftLog.committed).toBe(tt.commit);
      expect(r.raftLog.nextCommittedEnts(true)).toEqual(tt.ents.slice(0, tt.commit));
    });
  }

  // The follower's log holds (1,1) and (2,2); the commit index is 1.
  const checks: {
    term: number;
    index: number;
    wantIndex: number;
    reject: boolean;
    hint: number;
    hintTerm: number;
  }[] = [
    { term: 0, index: 0, wantIndex: 1, reject: false, hint: 0, hintTerm: 0 }, // match with committed entries
    { term: 1, index: 1, wantIndex: 1, reject: false, hint: 0, hintTerm: 0 },
    { term: 2, index: 2, wantIndex: 2, reject: false, hint: 0, hintTerm: 0 }, // match with an uncommitted entry
    { term: 1, index: 2, wantIndex: 2, reject: true, hint: 1, hintTerm: 1 }, // unmatched term
    { term: 3, index: 3, wantIndex: 3, reject: true, hint: 2, hintTerm: 2 }, // past the last index
  ];
  for (const tt of checks) {
    it(`"If the follower does not find an entry in its log with the same index and term, then it refuses the new entries" — prev (${tt.term}, ${tt.index}): ${tt.reject ? "rejects" : "accepts"}`, () => {
      const r = restartedOver(1, [1, 2], { term: 0, vote: 0, commit: 1 });
      r.becomeFollower(2, 2);
      r.step(msg(MessageType.MsgApp, { from: 2, to: 1, term: 2, logTerm: tt.term, index: tt.index }));
      expect(readMessages(r).map(brief)).toEqual([
        {
          type: "MsgAppResp",
          from: 1,
          to: 2,
          term: 2,
          logTerm: tt.hintTerm,
          index: tt.wantIndex,
          commit: 0,
          reject: tt.reject,
          entries: [],
        },
      ]);
    });
  }

  const appends: { index: number; term: number; ents: number[]; want: number[]; unstable: number[] }[] = [
    // [index/term of prev] [terms of the new entries from prev+1] → the follower's log terms
    { index: 2, term: 2, ents: [3], want: [1, 2, 3], unstable: [3] },
    { index: 1, term: 1, ents: [3, 4], want: [1, 3, 4], unstable: [3, 4] },
    { index: 0, term: 0, ents: [1], want: [1, 2], unstable: [] },
    { index: 0, term: 0, ents: [3], want: [3], unstable: [3] },
  ];
  for (const tt of appends) {
    it(`"If an existing entry conflicts with a new one (same index but different terms), delete the existing entry and all that follow it; append any new entries not already in the log" — prev (${tt.term}, ${tt.index}) + terms [${tt.ents}]`, () => {
      const r = restartedOver(1, [1, 2]);
      r.becomeFollower(2, 2);
      r.step(
        msg(MessageType.MsgApp, {
          from: 2,
          to: 1,
          term: 2,
          logTerm: tt.term,
          index: tt.index,
          entries: entsWithTerms(tt.ents, tt.index + 1),
        }),
      );
      expect(r.raftLog.allEntries().map((e) => e.term)).toEqual(tt.want);
      expect(r.raftLog.nextUnstableEnts().map((e) => e.term)).toEqual(tt.unstable);
    });
  }

  // Figure 7: the leader's log, and followers (a)–(f) with missing, extra and conflicting entries.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, flog] of Object.entries(followers)) {
    it(`"The leader handles inconsistencies by forcing the followers' logs to duplicate its own" — figure 7 (${name})`, () => {
      const lead = restartedOver(1, leaderLog, { term: 8, vote: 0, commit: leaderLog.length });
      const follower = restartedOver(2, flog, { term: 7, vote: 0, commit: 0 });
      // Node 3 votes for the leader; the follower only receives what the leader sends it.
      lead.becomeCandidate();
      lead.becomeLeader();
      lead.bcastAppend();
      const deliver = (ms: Message[]) => {
        let q = ms;
        while (q.length > 0) {
          const next: Message[] = [];
          for (const m of q) {
            if (m.to === 2) {
              stepQuiet(follower, m);
              next.push(...readMessages(follower));
            } else if (m.to === 1) {
              stepQuiet(lead, m);
              next.push(...readMessages(lead));
            }
          }
          q = next;
        }
      };
      // Node 3 acknowledges everything so the leader can commit.
      deliver(
        readMessages(lead).filter((m) => {
          if (m.to === 3 && m.type === MessageType.MsgApp) {
            lead.step(acceptAndReply(m));
            return false;
          }
          return true;
        }),
      );
      for (let i = 0; i < 5; i++) {
        lead.bcastAppend();
        deliver(readMessages(lead).filter((m) => m.to === 2));
      }
      expect(follower.raftLog.allEntries().map((e) => e.term)).toEqual(
        lead.raftLog.allEntries().map((e) => e.term),
      );
      expect(follower.raftLog.committed).toBe(lead.raftLog.committed);
    });
  }
});

describe("§5.4 Safety", () => {
  const voteReqs: { ents: number[]; wterm: number }[] = [
    { ents: [1], wterm: 2 },
    { ents: [1, 2], wterm: 3 },
  ];
  for (const tt of voteReqs) {
    it(`§5.4.1: "The RequestVote RPC ... includes information about the candidate's log" — log terms [${tt.ents}]`, () => {
      const r = newTestRaft(1, 10, 1, newTestStorage([1, 2, 3]));
      r.step(
        msg(MessageType.MsgApp, {
          from: 2,
          to: 1,
          term: tt.wterm - 1,
          logTerm: 0,
          index: 0,
          entries: entsWithTerms(tt.ents),
        }),
      );
      readMessages(r);
      for (let i = 1; i < r.electionTimeout * 2; i++) r.tick();
      const ms = byTo(readMessages(r));
      expect(ms.map(brief)).toEqual(
        [2, 3].map((to) => ({
          type: "MsgVote",
          from: 1,
          to,
          term: tt.wterm,
          logTerm: tt.ents[tt.ents.length - 1],
          index: tt.ents.length,
          commit: 0,
          reject: false,
          entries: [],
        })),
      );
    });
  }

  const voters: { ents: number[]; logterm: number; index: number; reject: boolean; why: string }[] = [
    { ents: [1], logterm: 1, index: 1, reject: false, why: "same logterm, same length" },
    { ents: [1], logterm: 1, index: 2, reject: false, why: "same logterm, candidate longer" },
    { ents: [1, 1], logterm: 1, index: 1, reject: true, why: "same logterm, candidate shorter" },
    { ents: [1], logterm: 2, index: 1, reject: false, why: "candidate's logterm higher" },
    { ents: [1], logterm: 2, index: 2, reject: false, why: "candidate's logterm higher, longer" },
    { ents: [1, 1], logterm: 2, index: 1, reject: false, why: "candidate's logterm higher, shorter" },
    { ents: [2], logterm: 1, index: 1, reject: true, why: "candidate's logterm lower" },
    { ents: [2], logterm: 1, index: 2, reject: true, why: "candidate's logterm lower, longer" },
    {
      ents: [2, 1],
      logterm: 1,
      index: 1,
      reject: true,
      why: "voter's last term lower, but candidate's lower still",
    },
  ];
  for (const tt of voters) {
    it(`§5.4.1: "The voter denies its vote if its own log is more up-to-date than that of the candidate" — ${tt.why}`, () => {
      const r = restartedOver(1, tt.ents, undefined, [1, 2]);
      r.step(msg(MessageType.MsgVote, { from: 2, to: 1, term: 3, logTerm: tt.logterm, index: tt.index }));
      const ms = r.msgsAfterAppend;
      expect(ms.length).toBe(1);
      expect(MessageType[ms[0]!.type]).toBe("MsgVoteResp");
      expect(ms[0]!.reject).toBe(tt.reject);
    });
  }

  const onlyCurrent: { index: number; commit: number }[] = [
    { index: 1, commit: 0 }, // an entry of term 1: not committed by counting replicas
    { index: 2, commit: 0 }, // term 2: neither
    { index: 3, commit: 3 }, // the leader's own no-op of term 3: commits it and everything before
  ];
  for (const tt of onlyCurrent) {
    it(`§5.4.2: "Raft never commits log entries from previous terms by counting replicas. Only log entries from the leader's current term are committed by counting replicas" — acked up to ${tt.index}`, () => {
      const r = restartedOver(1, [1, 2], { term: 2, vote: 0, commit: 0 }, [1, 2]);
      r.becomeCandidate(); // term 3
      r.becomeLeader();
      readMessages(r);
      r.step(msg(MessageType.MsgAppResp, { from: 2, to: 1, term: r.term, index: tt.index }));
      expect(r.raftLog.committed).toBe(tt.commit);
    });
  }
});
