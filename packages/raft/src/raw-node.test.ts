/**
 * RawNode: the Ready/advance contract (what each Ready carries, mustSync, acknowledgements stepped
 * on advance), asyncStorageWrites, step's refusals, bootstrap, restarts, status, and determinism.
 */
import { describe, expect, it } from "vitest";
import {
  caught,
  dataOf,
  enc,
  Network,
  newTestConfig,
  newTestStorage,
  persistReady,
} from "../test/network.js";
import { LocalAppendThread, LocalApplyThread } from "./constants.js";
import { describeReady } from "./describe.js";
import { isRaftError } from "./errors.js";
import { RaftPanic } from "./logger.js";
import { decodeConfChange } from "./raftpb/decode.js";
import type { Message } from "./raftpb/types.js";
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  newConfChange,
  newConfChangeV2,
  newMessage,
} from "./raftpb/types.js";
import { mustSync, RawNode, setRandomizedElectionTimeout } from "./raw-node.js";
import { type Ready, StateType } from "./ready.js";
import { statusToJSON } from "./status.js";
import { MemoryStorage } from "./storage.js";
import { ProgressState } from "./tracker/index.js";

/** Processes one Ready as an application does; returns it. */
function cycle(rn: RawNode, s: MemoryStorage): Ready {
  const rd = rn.ready();
  persistReady(s, rd);
  rn.advance(rd);
  return rd;
}

describe("Ready and advance", () => {
  it("a single node elects itself and commits its no-op over three Readys", () => {
    const s = newTestStorage([1]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s));
    expect(rn.hasReady()).toBe(false);
    rn.campaign();
    expect(rn.hasReady()).toBe(true);

    // 1. Candidate: the vote must be durable before it counts.
    let rd = cycle(rn, s);
    expect(rd.softState).toEqual({ lead: 0, raftState: StateType.StateCandidate });
    expect(rd.hardState).toEqual({ term: 1, vote: 1, commit: 0 });
    expect(rd.entries).toEqual([]);
    expect(rd.mustSync).toBe(true);
    // Advancing stepped the self-vote: now leader, with its no-op to persist.
    rd = cycle(rn, s);
    expect(rd.softState).toEqual({ lead: 1, raftState: StateType.StateLeader });
    expect(rd.hardState).toBeUndefined();
    expect(rd.entries.map((e) => [e.term, e.index])).toEqual([[1, 1]]);
    expect(rd.committedEntries).toEqual([]);
    expect(rd.mustSync).toBe(true);
    // The self-acknowledgement commits it.
    rd = cycle(rn, s);
    expect(rd.softState).toBeUndefined();
    expect(rd.hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    expect(rd.committedEntries.map((e) => [e.term, e.index])).toEqual([[1, 1]]);
    expect(rd.mustSync).toBe(false); // only the commit index changed
    expect(rn.hasReady()).toBe(false);
  });

  it("a proposal is appended, then committed and handed out for applying", () => {
    const s = newTestStorage([1]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s));
    rn.campaign();
    while (rn.hasReady()) cycle(rn, s);
    rn.propose(enc("foo"));
    let rd = cycle(rn, s);
    expect(dataOf(rd.entries)).toEqual(["foo"]);
    expect(rd.mustSync).toBe(true);
    rd = cycle(rn, s);
    expect(dataOf(rd.committedEntries)).toEqual(["foo"]);
    expect(rd.hardState?.commit).toBe(2);
    expect(rn.hasReady()).toBe(false);
    expect(rn.basicStatus().applied).toBe(2);
  });

  it("a follower's acknowledgements go out with the Ready that persists what they acknowledge", () => {
    const nw = Network.create([1, 2]);
    nw.elect(1);
    nw.node(1).propose(enc("x"));
    nw.ready(1);
    nw.deliver();
    const rd = nw.node(2).ready();
    expect(rd.entries.length).toBe(1);
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.map((m) => [MessageType[m.type], m.to, m.index])).toEqual([["MsgAppResp", 1, 2]]);
  });

  it("refuses a second Ready before advance", () => {
    const s = newTestStorage([1]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s));
    rn.campaign();
    rn.ready();
    rn.campaign(); // more work
    expect(caught(() => rn.ready())).toBeInstanceOf(RaftPanic);
  });

  it("mustSync: new entries or a changed term or vote, not a commit index alone", () => {
    const hs = { term: 1, vote: 1, commit: 1 };
    expect(mustSync(hs, hs, 0)).toBe(false);
    expect(mustSync({ ...hs, commit: 5 }, hs, 0)).toBe(false);
    expect(mustSync(hs, hs, 1)).toBe(true);
    expect(mustSync({ ...hs, term: 2 }, hs, 0)).toBe(true);
    expect(mustSync({ ...hs, vote: 2 }, hs, 0)).toBe(true);
  });

  it("on restart, hands out committed entries not yet applied, and no HardState", () => {
    const s = newTestStorage([1]);
    s.setHardState({ term: 1, vote: 0, commit: 1 });
    s.append([
      { term: 1, index: 1, type: EntryType.EntryNormal, data: new Uint8Array(0) },
      { term: 1, index: 2, type: EntryType.EntryNormal, data: enc("foo") },
    ]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s));
    const rd = rn.ready();
    expect(rd.hardState).toBeUndefined();
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(rd.mustSync).toBe(false);
    rn.advance(rd);
    expect(rn.hasReady()).toBe(false);
  });

  it("Config.applied skips what the application already applied", () => {
    const s = newTestStorage([1]);
    s.setHardState({ term: 1, vote: 0, commit: 3 });
    s.append([1, 2, 3].map((i) => ({ term: 1, index: i, type: EntryType.EntryNormal, data: enc(`e${i}`) })));
    const rn = new RawNode(newTestConfig(1, 10, 1, s, { applied: 2 }));
    expect(dataOf(rn.ready().committedEntries)).toEqual(["e3"]);
  });
});

describe("step", () => {
  const rn = () => new RawNode(newTestConfig(1, 10, 1, newTestStorage([1, 2])));
  it("refuses local message types from the network", () => {
    for (const type of [MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgStorageAppend]) {
      expect(caught(() => rn().step(newMessage({ type, from: 2 })))).toSatisfy((e) =>
        isRaftError(e, "StepLocalMsg"),
      );
    }
  });

  it("refuses responses from nodes outside the configuration", () => {
    const e = caught(() => rn().step(newMessage({ type: MessageType.MsgAppResp, from: 3, term: 1 })));
    expect(isRaftError(e, "StepPeerNotFound")).toBe(true);
    // A request from an unknown node is fine.
    expect(
      caught(() => rn().step(newMessage({ type: MessageType.MsgHeartbeat, from: 3, term: 1 }))),
    ).toBeUndefined();
  });

  it("accepts local messages from the storage threads", () => {
    const node = rn();
    const m = newMessage({ type: MessageType.MsgStorageApplyResp, from: LocalApplyThread });
    expect(caught(() => node.step(m))).toBeUndefined();
  });
});

describe("asyncStorageWrites", () => {
  /** Runs the local append/apply threads the way an application does: write, then deliver responses. */
  function drive(rn: RawNode, s: MemoryStorage, rounds = 10): Message[] {
    const seen: Message[] = [];
    for (let i = 0; i < rounds && rn.hasReady(); i++) {
      const rd = rn.ready();
      for (const m of rd.messages) {
        seen.push(m);
        if (m.to === LocalAppendThread) {
          if (m.snapshot !== undefined) s.applySnapshot(m.snapshot);
          if (m.term !== 0 || m.vote !== 0 || m.commit !== 0) {
            s.setHardState({ term: m.term, vote: m.vote, commit: m.commit });
          }
          s.append(m.entries);
        }
        if (m.to === LocalAppendThread || m.to === LocalApplyThread) {
          for (const resp of m.responses) rn.step(resp);
        }
      }
    }
    return seen;
  }

  it("hands storage work out as messages to the append and apply threads", () => {
    const s = newTestStorage([1]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s, { asyncStorageWrites: true }));
    rn.campaign();
    const rd = rn.ready();
    const app = rd.messages.find((m) => m.to === LocalAppendThread)!;
    expect(MessageType[app.type]).toBe("MsgStorageAppend");
    expect([app.term, app.vote, app.commit]).toEqual([1, 1, 0]);
    // Its responses: the self-vote, to be delivered once the vote is durable.
    expect(app.responses.map((m) => [MessageType[m.type], m.from, m.to])).toEqual([["MsgVoteResp", 1, 1]]);
    for (const m of app.responses) rn.step(m);
    const seen = drive(rn, s);
    const applies = seen.filter((m) => m.type === MessageType.MsgStorageApply);
    expect(applies.length).toBe(1);
    expect(applies[0]!.entries.map((e) => e.index)).toEqual([1]);
    expect(applies[0]!.responses.map((m) => [MessageType[m.type], m.from])).toEqual([
      ["MsgStorageApplyResp", LocalApplyThread],
    ]);
    expect(rn.basicStatus()).toMatchObject({ raftState: StateType.StateLeader, commit: 1, applied: 1 });
    // The appended entries were acknowledged: nothing unstable remains.
    expect(rn.raft.raftLog.hasNextOrInProgressUnstableEnts()).toBe(false);
  });

  it("forbids advance", () => {
    const s = newTestStorage([1]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s, { asyncStorageWrites: true }));
    rn.campaign();
    const rd = rn.ready();
    expect(caught(() => rn.advance(rd))).toBeInstanceOf(RaftPanic);
  });

  it("ignores the entries of an append acknowledgement from an older term (the ABA guard)", () => {
    const s = newTestStorage([1, 2]);
    const rn = new RawNode(newTestConfig(1, 10, 1, s, { asyncStorageWrites: true }));
    // Entries of term 1 from leader 2, written asynchronously...
    rn.step(
      newMessage({
        type: MessageType.MsgApp,
        from: 2,
        term: 1,
        entries: [{ term: 1, index: 1, type: 0, data: enc("a") }],
      }),
    );
    const rd = rn.ready();
    const app = rd.messages.find((m) => m.type === MessageType.MsgStorageAppend)!;
    const resp = app.responses.find((m) => m.type === MessageType.MsgStorageAppendResp)!;
    expect([resp.term, resp.index, resp.logTerm]).toEqual([1, 1, 1]);
    // ...while a new term begins before the write completes.
    rn.step(newMessage({ type: MessageType.MsgHeartbeat, from: 2, term: 2 }));
    rn.step(resp);
    // The entry stays unstable: a later write of the new term may still replace it.
    expect(rn.raft.raftLog.hasNextOrInProgressUnstableEnts()).toBe(true);
  });
});

describe("bootstrap", () => {
  it("writes the membership into an empty log, committed and ready to apply", () => {
    const s = new MemoryStorage();
    const rn = new RawNode(newTestConfig(1, 10, 1, s));
    rn.bootstrap([{ id: 1 }, { id: 2, context: enc("ctx") }]);
    const rd = rn.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 0, commit: 2 });
    expect(rd.entries.map((e) => [e.term, e.index, e.type])).toEqual([
      [1, 1, EntryType.EntryConfChange],
      [1, 2, EntryType.EntryConfChange],
    ]);
    expect(rd.committedEntries).toEqual(rd.entries);
    const cc = decodeConfChange(rd.entries[1]!.data);
    expect([cc.type, cc.nodeId, new TextDecoder().decode(cc.context)]).toEqual([
      ConfChangeType.ConfChangeAddNode,
      2,
      "ctx",
    ]);
    expect([...rn.raft.trk.config.voters.ids()].sort()).toEqual([1, 2]);
  });

  it("refuses no peers and a non-empty storage", () => {
    const rn = new RawNode(newTestConfig(1, 10, 1, new MemoryStorage()));
    expect(caught(() => rn.bootstrap([]))).toHaveProperty(
      "message",
      "must provide at least one peer to Bootstrap",
    );
    const s = new MemoryStorage();
    s.append([{ term: 1, index: 1, type: 0, data: new Uint8Array(0) }]);
    const rn2 = new RawNode(newTestConfig(1, 10, 1, s));
    expect(caught(() => rn2.bootstrap([{ id: 1 }]))).toHaveProperty(
      "message",
      "can't bootstrap a nonempty Storage",
    );
  });
});

describe("conf changes", () => {
  it("one at a time: a second change is replaced by an empty entry until the first applies", () => {
    const nw = Network.create([1, 2]);
    nw.elect(1);
    const rn = nw.node(1);
    rn.proposeConfChange(newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: 3 }));
    rn.proposeConfChange(newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }));
    const ents = rn.raft.raftLog.nextUnstableEnts();
    expect(ents.map((e) => e.type)).toEqual([EntryType.EntryConfChange, EntryType.EntryNormal]);
    nw.stabilize();
    expect([...nw.raft(1).trk.config.voters.ids()].sort()).toEqual([1, 2, 3]);
    // Applied: the next one is accepted.
    rn.proposeConfChange(newConfChange({ type: ConfChangeType.ConfChangeAddNode, nodeId: 4 }));
    nw.stabilize();
    expect([...nw.raft(1).trk.config.voters.ids()].sort()).toEqual([1, 2, 3, 4]);
  });

  it("joint consensus with auto-leave: the leader leaves the joint configuration by itself", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    nw.node(1).proposeConfChange(
      newConfChangeV2({
        changes: [
          { type: ConfChangeType.ConfChangeAddNode, nodeId: 4 },
          { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
        ],
      }),
    );
    nw.stabilize();
    const cfg = nw.raft(1).trk.config;
    expect(cfg.voters.outgoing.size).toBe(0);
    expect([...cfg.voters.ids()].sort()).toEqual([1, 2, 4]);
    expect(cfg.autoLeave).toBe(false);
  });

  it("explicit joint consensus waits for the application's empty change", () => {
    const nw = Network.create([1, 2, 3]);
    nw.elect(1);
    nw.node(1).proposeConfChange(
      newConfChangeV2({
        transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
        changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 }],
      }),
    );
    nw.stabilize();
    expect(nw.raft(1).trk.config.voters.outgoing.size).toBe(3);
    nw.node(1).proposeConfChange(newConfChangeV2());
    nw.stabilize();
    expect(nw.raft(1).trk.config.voters.outgoing.size).toBe(0);
    expect([...nw.raft(1).trk.config.learners]).toEqual([4]);
  });

  it("stepDownOnRemoval: a removed leader steps down", () => {
    for (const stepDown of [false, true]) {
      const nw = Network.create([1, 2, 3], () => ({ stepDownOnRemoval: stepDown }));
      nw.elect(1);
      nw.node(1).proposeConfChange(newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 1 }));
      nw.stabilize();
      expect(nw.raft(1).state).toBe(stepDown ? StateType.StateFollower : StateType.StateLeader);
    }
  });
});

describe("status", () => {
  it("reports the HardState, SoftState and, on the leader, every peer's progress", () => {
    const nw = Network.create([1, 2, 3]);
    expect(nw.node(1).status().progress.size).toBe(0);
    nw.elect(1);
    const st = nw.node(1).status();
    expect(st).toMatchObject({ id: 1, term: 1, vote: 1, commit: 1, lead: 1, applied: 1, leadTransferee: 0 });
    expect(st.raftState).toBe(StateType.StateLeader);
    expect([...st.progress.keys()]).toEqual([1, 2, 3]);
    expect(st.progress.get(2)!.state).toBe(ProgressState.StateReplicate);
    // Copies: changing them changes nothing.
    st.progress.get(2)!.match = 99;
    expect(nw.raft(1).trk.progress.get(2)!.match).toBe(1);
    expect(statusToJSON(st)).toBe(
      `{"id":"1","term":1,"vote":"1","commit":1,"lead":"1","raftState":"StateLeader","applied":1,"progress":{"1":{"match":1,"next":2,"state":"StateReplicate"},"2":{"match":99,"next":2,"state":"StateReplicate"},"3":{"match":1,"next":2,"state":"StateReplicate"}},"leadtransferee":"0"}`,
    );
    const follower = nw.node(2).status();
    expect(statusToJSON(follower)).toBe(
      `{"id":"2","term":1,"vote":"1","commit":1,"lead":"1","raftState":"StateFollower","applied":1,"progress":{},"leadtransferee":"0"}`,
    );
  });

  it("prints ids in hex", () => {
    const nw = Network.create([26, 255]);
    expect(statusToJSON(nw.node(255).status())).toContain(`"id":"ff"`);
  });
});

describe("other requests", () => {
  it("reportUnreachable sends a replicating follower back to probing", () => {
    const nw = Network.create([1, 2]);
    nw.elect(1);
    expect(nw.raft(1).trk.progress.get(2)!.state).toBe(ProgressState.StateReplicate);
    nw.node(1).reportUnreachable(2);
    expect(nw.raft(1).trk.progress.get(2)!.state).toBe(ProgressState.StateProbe);
  });

  it("forgetLeader lets a follower vote before the lease ends", () => {
    const nw = Network.create([1, 2, 3], () => ({ checkQuorum: true }));
    nw.elect(1);
    nw.node(2).forgetLeader();
    expect(nw.raft(2).lead).toBe(0);
    nw.isolate(1);
    nw.node(3).campaign();
    nw.stabilize();
    expect(nw.raft(3).state).toBe(StateType.StateLeader);
  });

  it("tickQuiesced only advances the election timer", () => {
    const nw = Network.create([1, 2]);
    nw.elect(1);
    const rn = nw.node(1);
    rn.tickQuiesced();
    expect(rn.raft.electionElapsed).toBe(1);
    expect(rn.hasReady()).toBe(false); // no heartbeat
  });
});

describe("determinism", () => {
  /** Runs a fixed schedule of ticks and proposals over a fresh 3-node cluster; returns every Ready. */
  function transcript(random?: (id: number) => () => number): string[] {
    const out: string[] = [];
    const nw = Network.create([1, 2, 3], (id) => (random ? { random: random(id) } : {}));
    for (let step = 0; step < 400; step++) {
      for (const id of [1, 2, 3]) {
        if ((step + id) % 3 === 0) nw.node(id).tick();
        if (step % 50 === 10 && nw.raft(id).state === StateType.StateLeader)
          nw.node(id).propose(enc(`p${step}`));
        const rd = nw.ready(id);
        if (rd) out.push(`${id}: ${describeReady(rd)}`);
      }
      nw.deliver((m) => (m.from + m.to + step) % 7 !== 0); // drop some messages, deterministically
    }
    return out;
  }

  it("the same seeds give the same Ready sequence", () => {
    const a = transcript();
    const b = transcript();
    expect(a.length).toBeGreaterThan(50);
    expect(b).toEqual(a);
    expect(a.some((l) => l.includes("StateLeader"))).toBe(true);
  });

  it("Config.random drives the election timeouts", () => {
    const rn = new RawNode(newTestConfig(1, 10, 1, newTestStorage([1, 2]), { random: () => 0.999 }));
    expect(rn.raft.randomizedElectionTimeout).toBe(19);
    const rn0 = new RawNode(newTestConfig(1, 10, 1, newTestStorage([1, 2]), { random: () => 0 }));
    expect(rn0.raft.randomizedElectionTimeout).toBe(10);
    setRandomizedElectionTimeout(rn0, 13);
    for (let i = 0; i < 12; i++) rn0.tick();
    expect(rn0.raft.state).toBe(StateType.StateFollower);
    rn0.tick();
    expect(rn0.raft.state).toBe(StateType.StateCandidate);
  });
});
