/**
 * Each check of the Checker, fed the events of made-up nodes: a correct history passes, and the
 * one wrong event is reported with the right property name.
 */
import { describe, expect, it } from "vitest";
import { newReady } from "../../../test/ready-fixtures.js";
import type { ConfState, Entry, HardState, Message } from "../../raftpb/types.js";
import {
  ConfChangeTransition,
  ConfChangeType,
  EntryType,
  MessageType,
  newConfState,
  newMessage,
} from "../../raftpb/types.js";
import { StateType } from "../../ready.js";
import { utf8Encode } from "./bytes.js";
import { type CheckedNode, Checker, type InvariantName, InvariantViolation } from "./invariants.js";
import { LogRecord } from "./log-record.js";

/** A made-up node: `terms[i - 1]` is the term of its entry i (in memory and, unless given, on disk). */
function node(
  id: number,
  term: number,
  state: StateType,
  terms: number[],
  committed: number,
  more: { disk?: number[]; applied?: number; ticks?: number; lead?: number } = {},
) {
  const record = (ts: number[]): LogRecord => {
    const r = new LogRecord();
    r.append(ts.map((t, i) => ({ index: i + 1, term: t })));
    return r;
  };
  const raft = {
    id,
    term,
    state,
    vote: 0,
    lead: more.lead ?? 0,
    raftLog: { committed, lastIndex: () => terms.length },
    msgs: [] as Message[],
    msgsAfterAppend: [] as Message[],
  };
  const n = {
    id,
    rn: { raft } as never,
    log: record(terms),
    durableLog: record(more.disk ?? terms),
    appliedIndex: more.applied ?? 0,
    removed: false,
    snapshotPending: false,
    ticks: more.ticks ?? 0,
  };
  return { n: n as CheckedNode & { ticks: number }, raft };
}

const ent = (index: number, term: number, data = ""): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: utf8Encode(data),
});

const ready = newReady;

function violation(f: () => void): InvariantName | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantViolation) return e.invariant;
    throw e;
  }
  return undefined;
}

const voters = (...ids: number[]): ConfState => newConfState({ voters: ids });
const msg = (
  type: MessageType,
  from: number,
  to: number,
  term: number,
  more: Partial<Message> = {},
): Message => newMessage({ type, from, to, term, ...more });

/** A checker of nodes 1..4 whose configurations are `cs` (default: voters 1, 2, 3). */
function fresh(cs: ConfState = voters(1, 2, 3), options = { electionTick: 10, checkQuorum: false }) {
  const c = new Checker([undefined, undefined, undefined, undefined, undefined], options);
  return {
    c,
    /** Attaches `nodes` and restarts them (their configuration `cs`). */
    attach(...nodes: CheckedNode[]) {
      const byId: (CheckedNode | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
      for (const n of nodes) byId[n.id] = n;
      c.attach(byId);
      for (const n of nodes) c.onRestart(n, cs);
    },
  };
}

const { StateFollower: F, StateLeader: L, StateCandidate: C } = StateType;

describe("Checker", () => {
  it("election safety: one leader per term", () => {
    const { c } = fresh(voters(1));
    c.observe(node(1, 2, L, [], 0).n);
    c.observe(node(2, 3, L, [], 0).n);
    expect(violation(() => c.observe(node(3, 2, L, [], 0).n))).toBe("election-safety");
  });

  it("election quorum: a leader has the votes of a majority of each half of its configuration", () => {
    const joint: ConfState = { ...voters(1, 2, 3), votersOutgoing: [1, 4, 5] };
    const { c, attach } = fresh(joint);
    const n1 = node(1, 2, C, [], 0).n;
    attach(n1);
    c.onSend(2, msg(MessageType.MsgVoteResp, 2, 1, 2));
    // 1 and 2 are a majority of (1 2 3) but not of (1 4 5).
    expect(violation(() => c.observe(node(1, 2, L, [], 0).n))).toBe("election-quorum");
    const d = fresh(joint);
    d.attach(n1);
    d.c.onSend(2, msg(MessageType.MsgVoteResp, 2, 1, 2));
    d.c.onSend(4, msg(MessageType.MsgVoteResp, 4, 1, 2));
    expect(violation(() => d.c.observe(node(1, 2, L, [], 0).n))).toBeUndefined();
  });

  it("leader completeness: a new leader holds every entry committed in an earlier term", () => {
    const { c, attach } = fresh();
    attach(node(1, 1, F, [1, 1, 1], 0).n, node(2, 1, F, [1, 1, 1], 0).n, node(3, 1, F, [1, 1], 0).n);
    const a = node(1, 1, L, [1, 1, 1], 3).n;
    c.onSend(2, msg(MessageType.MsgVoteResp, 2, 1, 1));
    c.observe(a);
    c.onReady(a, ready({}));
    // A leader of term 2 with the committed entries is fine; one lacking entry 3 is not.
    c.onSend(3, msg(MessageType.MsgVoteResp, 3, 2, 2));
    expect(violation(() => c.observe(node(2, 2, L, [1, 1, 1, 2], 0).n))).toBeUndefined();
    c.onSend(2, msg(MessageType.MsgVoteResp, 2, 3, 3));
    expect(violation(() => c.observe(node(3, 3, L, [1, 1], 0).n))).toBe("leader-completeness");
  });

  it("commit safety: commit indexes never go back, and one entry is committed per index", () => {
    const { c } = fresh();
    const a = node(1, 2, F, [1, 1, 2], 3).n;
    c.observe(a);
    c.onReady(a, ready({}));
    expect(violation(() => c.observe(node(1, 2, F, [1, 1, 2], 2).n))).toBe("commit-safety");
    const d = fresh().c;
    const b = node(1, 2, F, [1, 1, 2], 3).n;
    d.observe(b);
    d.onReady(b, ready({}));
    const e = node(2, 3, F, [1, 1, 3], 3).n;
    d.observe(e);
    // Checked once its log is known to be the core's (after a Ready).
    expect(violation(() => d.onReady(e, ready({})))).toBe("commit-safety");
  });

  it("commit quorum: an entry is committed once a majority of each half holds it on disk", () => {
    const joint: ConfState = { ...voters(1, 2, 3), votersOutgoing: [1, 4, 5] };
    const { c, attach } = fresh(joint);
    const l = node(1, 2, L, [1, 2], 0).n;
    const f2 = node(2, 2, F, [1, 2], 0).n;
    const f3 = node(3, 2, F, [1, 2], 0, { disk: [1] }).n;
    const f4 = node(4, 2, F, [1], 0).n;
    attach(l, f2, f3, f4);
    c.onSend(2, msg(MessageType.MsgVoteResp, 2, 1, 2));
    c.onSend(4, msg(MessageType.MsgVoteResp, 4, 1, 2));
    // Incoming (1 2 3) holds entry 2 on 1 and 2; outgoing (1 4 5) only on 1.
    const committed = node(1, 2, L, [1, 2], 2).n;
    c.observe(committed);
    expect(violation(() => c.onReady(committed, ready({})))).toBe("commit-quorum");
    const d = fresh(joint);
    const f4b = node(4, 2, F, [1, 2], 0).n;
    d.attach(l, f2, f3, f4b);
    d.c.onSend(2, msg(MessageType.MsgVoteResp, 2, 1, 2));
    d.c.onSend(4, msg(MessageType.MsgVoteResp, 4, 1, 2));
    d.c.observe(committed);
    expect(violation(() => d.c.onReady(committed, ready({})))).toBeUndefined();
  });

  it("configuration: a conf change gives the configuration the rules prescribe", () => {
    const { c, attach } = fresh();
    const a = node(1, 1, F, [], 0).n;
    attach(a);
    const cc = {
      transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
      changes: [
        { type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 },
        { type: ConfChangeType.ConfChangeAddNode, nodeId: 4 },
      ],
      context: new Uint8Array(0),
    };
    const right: ConfState = { ...voters(1, 2, 4), votersOutgoing: [1, 2, 3] };
    expect(violation(() => c.onConfChange(a, 2, cc, right))).toBeUndefined();
    expect(c.configOf(1).outgoing.has(3)).toBe(true);
    const d = fresh();
    d.attach(a);
    // Joint, but with the halves aliased: the outgoing half is the new one.
    expect(
      violation(() => d.c.onConfChange(a, 2, cc, { ...voters(1, 2, 4), votersOutgoing: [1, 2, 4] })),
    ).toBe("configuration");
  });

  it("campaign: never with a committed conf change not applied yet", () => {
    const { c, attach } = fresh();
    const f = node(1, 1, F, [1, 1], 2, { applied: 1 }).n;
    attach(f);
    c.onReady(
      f,
      ready({ entries: [{ index: 2, term: 1, type: EntryType.EntryConfChangeV2, data: new Uint8Array(0) }] }),
    );
    expect(violation(() => c.observe(node(1, 2, C, [1, 1], 2, { applied: 1 }).n))).toBe("campaign");
    expect(violation(() => c.observe(node(1, 3, C, [1, 1], 2, { applied: 2 }).n))).toBeUndefined();
  });

  it("leader lease: with CheckQuorum, a vote request within the lease changes nothing", () => {
    const { c, attach } = fresh(voters(1, 2, 3), { electionTick: 10, checkQuorum: true });
    const f = node(2, 3, F, [], 0, { ticks: 100, lead: 1 });
    attach(f.n);
    c.afterDeliver(f.n, msg(MessageType.MsgHeartbeat, 1, 2, 3), c.beforeDeliver(f.n));
    const vote = msg(MessageType.MsgVote, 3, 2, 4);
    const before = c.beforeDeliver(f.n);
    f.raft.term = 4; // a disruptive request took effect
    expect(violation(() => c.afterDeliver(f.n, vote, before))).toBe("leader-lease");
    f.raft.term = 3;
    f.raft.msgsAfterAppend.push(msg(MessageType.MsgPreVoteResp, 2, 3, 4));
    expect(violation(() => c.afterDeliver(f.n, msg(MessageType.MsgPreVote, 3, 2, 4), before))).toBe(
      "leader-lease",
    );
    // Once an election timeout passed on the follower's clock, or for a transfer, it may.
    f.n.ticks = 110;
    expect(violation(() => c.afterDeliver(f.n, vote, c.beforeDeliver(f.n)))).toBeUndefined();
    f.n.ticks = 100;
    const transfer = msg(MessageType.MsgVote, 3, 2, 4, { context: utf8Encode("CampaignTransfer") });
    f.raft.term = 4;
    expect(violation(() => c.afterDeliver(f.n, transfer, before))).toBeUndefined();
  });

  it("leader transfer: MsgTimeoutNow only to a node that acknowledged the whole log", () => {
    const { c, attach } = fresh();
    const l = node(1, 2, L, [1, 2, 2], 2).n;
    const f = node(2, 2, F, [1, 2], 0).n;
    attach(l, f);
    c.onReady(l, ready({}));
    c.onReady(l, ready({}));
    c.onSend(2, msg(MessageType.MsgAppResp, 2, 1, 2, { index: 2 }));
    expect(violation(() => c.onSend(1, msg(MessageType.MsgTimeoutNow, 1, 2, 2)))).toBe("leader-transfer");
    const f3 = node(3, 2, F, [1, 2, 2], 0).n;
    attach(l, f, f3);
    c.onSend(3, msg(MessageType.MsgAppResp, 3, 1, 2, { index: 3 }));
    expect(violation(() => c.onSend(1, msg(MessageType.MsgTimeoutNow, 1, 3, 2)))).toBeUndefined();
  });

  it("ack durability: an append is acknowledged only once on disk (in the term it was made)", () => {
    const { c, attach } = fresh();
    const f = node(2, 2, F, [1, 2, 2], 0, { disk: [1, 2] }).n;
    attach(f);
    expect(violation(() => c.onSend(2, msg(MessageType.MsgAppResp, 2, 1, 2, { index: 2 })))).toBeUndefined();
    expect(violation(() => c.onSend(2, msg(MessageType.MsgAppResp, 2, 1, 2, { index: 3 })))).toBe(
      "ack-durability",
    );
    // An acknowledgement made in an older term may be sent after its entries were replaced.
    expect(violation(() => c.onSend(2, msg(MessageType.MsgAppResp, 2, 1, 1, { index: 3 })))).toBeUndefined();
  });

  it("log matching: every copy of an entry (index, term) has the same data and the same predecessor", () => {
    const { c } = fresh();
    c.onReady(node(1, 2, F, [1], 0).n, ready({ entries: [ent(2, 2, "a")] }));
    c.onReady(node(2, 2, F, [1], 0).n, ready({ entries: [ent(2, 2, "a")] }));
    expect(violation(() => c.onReady(node(3, 2, F, [1], 0).n, ready({ entries: [ent(2, 2, "b")] })))).toBe(
      "log-matching",
    );
    expect(violation(() => c.onReady(node(3, 2, F, [2], 0).n, ready({ entries: [ent(2, 2, "a")] })))).toBe(
      "log-matching",
    );
    // A gap after the log's end.
    expect(violation(() => c.onReady(node(4, 2, F, [1], 0).n, ready({ entries: [ent(3, 2, "c")] })))).toBe(
      "log-matching",
    );
  });

  it("state machine safety: entries applied in order, once committed, the committed one; snapshots go forward", () => {
    const { c } = fresh();
    c.observe(node(1, 1, F, [1, 1], 2).n);
    const n = node(1, 1, F, [1, 1], 2).n;
    c.onApply(n, ent(1, 1));
    expect(violation(() => c.onApply(n, ent(3, 1)))).toBe("state-machine-safety");
    expect(violation(() => c.onApply(node(2, 1, F, [1, 1, 1], 2).n, ent(1, 2)))).toBe("state-machine-safety");
    const early = node(3, 1, F, [1, 1, 1], 1).n;
    c.onApply(early, ent(1, 1));
    expect(violation(() => c.onApply(early, ent(2, 1)))).toBe("state-machine-safety");
    const meta = (index: number) => ({ index, term: 1, confState: voters(1, 2, 3) });
    c.onApplySnapshot(1, meta(5));
    expect(violation(() => c.onApplySnapshot(1, meta(5)))).toBe("state-machine-safety");
  });

  it("votes: one per term, never forgotten across a restart; the term never goes back", () => {
    const vote = (from: number, to: number, term: number): Message =>
      msg(MessageType.MsgVoteResp, from, to, term);
    const { c } = fresh();
    c.onSend(1, vote(1, 2, 3));
    c.onSend(1, vote(1, 2, 3));
    expect(violation(() => c.onSend(1, vote(1, 3, 3)))).toBe("vote-durability");
    // Restarting at term 3 without the vote for 2 means it was not persisted.
    const d = fresh().c;
    d.onSend(1, vote(1, 2, 3));
    const restarted = node(1, 3, F, [], 0);
    expect(violation(() => d.onRestart(restarted.n, voters(1, 2, 3)))).toBe("vote-durability");
    restarted.raft.vote = 2;
    expect(violation(() => d.onRestart(restarted.n, voters(1, 2, 3)))).toBeUndefined();
    expect(violation(() => d.onRestart(node(1, 2, F, [], 0).n, voters(1, 2, 3)))).toBe("vote-durability");
  });

  it("durable state: term, vote within a term, and commit never go back on disk", () => {
    const { c } = fresh();
    const hs = (term: number, vote: number, commit: number): HardState => ({ term, vote, commit });
    c.onDurableWrite(1, hs(2, 1, 3));
    c.onDurableWrite(1, hs(2, 1, 4));
    expect(violation(() => c.onDurableWrite(1, hs(1, 1, 4)))).toBe("durable-state");
    expect(violation(() => c.onDurableWrite(1, hs(2, 3, 4)))).toBe("durable-state");
    expect(violation(() => c.onDurableWrite(1, hs(2, 1, 2)))).toBe("durable-state");
  });

  it("read index: at least the commit index when the read was issued (the node's own, for lease reads)", () => {
    const { c } = fresh();
    c.observe(node(1, 2, L, [1, 2, 2], 3).n);
    c.registerRead("safe", 1, false);
    c.registerRead("lease", 1, true);
    const rs = (ctx: string, index: number) =>
      ready({ readStates: [{ index, requestCtx: utf8Encode(ctx) }] });
    expect(violation(() => c.onReady(node(2, 2, F, [1, 2, 2], 1).n, rs("lease", 2)))).toBeUndefined();
    expect(violation(() => c.onReady(node(2, 2, F, [1, 2, 2], 1).n, rs("safe", 2)))).toBe("read-index");
    expect(violation(() => c.onReady(node(2, 2, F, [1, 2, 2], 1).n, rs("safe", 4)))).toBe("read-index");
    expect(c.stats.readsAnswered).toBe(3);
  });
});
