/**
 * Raft's safety properties (Raft paper figure 3, the thesis's membership and leadership rules, and
 * what a driver must guarantee), checked incrementally while a simulation runs: the checker is told
 * about every core call, Ready, durable write, apply, message sent and delivered, crash and
 * restart, and keeps just enough history to check each new fact in O(1) — no log is rescanned on
 * every step.
 *
 * Independence: every check is computed from the simulator's own records — the logs the core
 * handed out and the disks wrote (log-record.ts), the configurations its own membership model
 * prescribes (config-model.ts), the messages it carried — and from the core's outputs (term, vote,
 * role, commit index). It never asks the core's code a question (no quorum, log, tracker or
 * election helper), so a bug there cannot be shared by the check that should see it.
 *
 * Every check throws an {@link InvariantViolation} naming the property.
 */

import type {
  ConfChange,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  SnapshotMetadata,
} from "../../raftpb/types.js";
import { EntryType, MessageType, newConfState } from "../../raftpb/types.js";
import type { Ready } from "../../ready.js";
import { StateType } from "../../ready.js";
import { AckChecks } from "./ack-checks.js";
import { bytesEqual } from "./bytes.js";
import { checkElectable, checkProgress } from "./cluster-checks.js";
import { applyToModel, type ConfigModel, diffModel, formatModel, modelOf, quorumOf } from "./config-model.js";
import { type DeliveryContext, LeaseChecks } from "./lease-checks.js";
import { ReadChecks } from "./read-checks.js";
import { type CheckedNode, InvariantViolation } from "./violation.js";

export type { DeliveryContext } from "./lease-checks.js";
export { type CheckedNode, type InvariantName, InvariantViolation } from "./violation.js";

/** What the checker tracks per node. */
interface Track {
  /** Term, role and commit index last observed in this incarnation. */
  term: number;
  state: StateType;
  /** The last term in which this node was seen leading (its election already checked). */
  ledTerm: number;
  commit: number;
  /** Commits up to here were cross-checked against the other nodes' (the rest await their terms). */
  resolved: number;
  /** The last index applied (entries are applied one by one, in order). */
  applied: number;
  /** The configuration as of `applied`, by the simulator's model. */
  model: ConfigModel;
  /** The last vote granted (a MsgVoteResp sent), across incarnations: at most one per term. */
  voteTerm: number;
  voteFor: number;
  /** The votes granted to this node in `votes.term` (MsgVoteResp sent to it), across incarnations. */
  votes: { term: number; from: Set<number> };
  /**
   * The highest term of a message that goes out only once its sender's term is durable (across
   * incarnations): acknowledgements and votes, vote requests, and a leader's messages.
   */
  termFloor: number;
  /** The HardState on disk. */
  durTerm: number;
  durVote: number;
  durCommit: number;
  /**
   * The last index of the log this node handed out before its latest Ready: the messages of that
   * Ready were made when the log reached at least this far.
   */
  lastBeforeReady: number;
}

/** A log entry's identity as first seen: what every other copy of (index, term) must equal. */
interface EntryRecord {
  readonly prevTerm: number;
  readonly type: number;
  readonly data: Uint8Array;
}

/** A commit whose quorum is checked once the committed entry's term is known. */
interface PendingCommit {
  readonly index: number;
  readonly by: number;
  readonly term: number;
  readonly model: ConfigModel;
}

/**
 * Messages sent only once their term is on the sender's disk: acknowledgements and votes (they
 * wait for the write of the state they vouch for), vote requests (a candidate persists its new
 * term and vote first), and a leader's messages (it was elected by such vote requests).
 */
const DURABLE_TERM_MSGS: ReadonlySet<MessageType> = new Set([
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgVote,
  MessageType.MsgApp,
  MessageType.MsgHeartbeat,
  MessageType.MsgSnap,
  MessageType.MsgTimeoutNow,
]);

/** Terms stay below 2^24 in a simulation; (index, term) packs into one safe integer. */
const TERM_BITS = 16777216;

/** What the checker needs to know of the run's options. */
export interface CheckerOptions {
  readonly electionTick: number;
  readonly checkQuorum: boolean;
}

/** True for the two conf change entry types. */
function isConfChangeType(t: number): boolean {
  return t === EntryType.EntryConfChange || t === EntryType.EntryConfChangeV2;
}

/** The incremental checker of one simulation. */
export class Checker {
  /** The leader of each term seen so far. */
  private readonly leaderOf = new Map<number, number>();
  /**
   * committedTerm[i]: the term of the entry committed at index i (0 while not known: it was only
   * seen inside a snapshot, or its committer's log did not show it yet). Invariant: length is
   * maxCommit + 1.
   */
  readonly committedTerm: number[] = [0];
  /**
   * committedIn[i]: the term of the first node seen with a commit index >= i (the leader that
   * committed it). Non-decreasing in i.
   */
  private readonly committedIn: number[] = [0];
  /** The highest index any node has committed. */
  maxCommit = 0;
  /** Every (index, term) ever written to a log, keyed by index * 2^24 + term. */
  private readonly entries = new Map<number, EntryRecord>();
  private readonly tracks: Track[] = [];
  private pendingCommits: PendingCommit[] = [];
  private readonly reads = new ReadChecks();
  /** The nodes, by id (index 0 unused); see {@link Checker.attach}. */
  private nodes: readonly (CheckedNode | undefined)[] = [];
  private readonly acks = new AckChecks();
  private readonly leases: LeaseChecks;
  /** Receives a line per notable event (role changes, commits) when tracing. */
  event: ((line: string) => void) | undefined;
  /** Counts for reports. */
  readonly stats = { elections: 0, readsAnswered: 0, maxTerm: 0 };

  /** A checker for nodes 1..nodes, whose durable state starts as `initial[id]`. */
  constructor(
    initial: readonly (HardState | undefined)[],
    options: CheckerOptions = { electionTick: 10, checkQuorum: false },
  ) {
    this.leases = new LeaseChecks(options.electionTick, options.checkQuorum);
    for (let id = 0; id < initial.length; id++) {
      const hs = initial[id] ?? { term: 0, vote: 0, commit: 0 };
      this.tracks.push({
        term: hs.term,
        state: StateType.StateFollower,
        ledTerm: 0,
        commit: hs.commit,
        resolved: hs.commit,
        applied: hs.commit,
        model: modelOf(newConfState()),
        voteTerm: 0,
        voteFor: 0,
        votes: { term: 0, from: new Set() },
        termFloor: 0,
        durTerm: hs.term,
        durVote: hs.vote,
        durCommit: hs.commit,
        lastBeforeReady: 0,
      });
    }
  }

  /** The nodes the cluster-wide checks look at (by id; index 0 unused). */
  attach(nodes: readonly (CheckedNode | undefined)[]): void {
    this.nodes = nodes;
  }

  /**
   * Declares the entries committed at bootstrap (the initial snapshot): index `index` of term
   * `term` and everything before it.
   */
  bootstrapCommitted(index: number, term: number): void {
    while (this.committedTerm.length <= index) {
      this.committedTerm.push(0);
      this.committedIn.push(0);
    }
    this.committedTerm[index] = term;
    this.maxCommit = Math.max(this.maxCommit, index);
  }

  private track(id: number): Track {
    return this.tracks[id]!;
  }

  /** The configuration of node `id` as of its applied index, by the simulator's model. */
  configOf(id: number): ConfigModel {
    return this.track(id).model;
  }

  /** Called after every call into a node's core: role, term and commit changes. */
  observe(n: CheckedNode): void {
    const r = n.rn!.raft;
    const t = this.track(n.id);
    if (r.term < t.term) {
      throw new InvariantViolation(
        "durable-state",
        `node ${n.id}'s term went back from ${t.term} to ${r.term}`,
      );
    }
    t.term = r.term;
    if (r.term > this.stats.maxTerm) this.stats.maxTerm = r.term;
    if (r.state !== t.state) {
      t.state = r.state;
      if (this.event !== undefined) {
        this.event(`${n.id} became ${StateType[r.state]!.slice(5).toLowerCase()} at term ${r.term}`);
      }
      if (r.state === StateType.StateCandidate || r.state === StateType.StatePreCandidate) {
        this.checkCampaign(n, t);
      }
    }
    this.leases.observe(n.id, r.state, r.term);
    if (r.state === StateType.StateLeader && t.ledTerm !== r.term) {
      t.ledTerm = r.term;
      this.newLeader(n, t);
    }
    const c = r.raftLog.committed;
    if (c !== t.commit) {
      if (c < t.commit) {
        throw new InvariantViolation(
          "commit-safety",
          `node ${n.id}'s commit index went back from ${t.commit} to ${c}`,
        );
      }
      for (let i = this.maxCommit + 1; i <= c; i++) {
        this.committedTerm.push(0);
        this.committedIn.push(r.term);
        if (r.state === StateType.StateLeader) {
          this.pendingCommits.push({ index: i, by: n.id, term: r.term, model: t.model });
        }
      }
      if (c > this.maxCommit) this.maxCommit = c;
      if (this.event !== undefined) this.event(`${n.id} committed ${t.commit + 1}..${c}`);
      t.commit = c;
    }
  }

  /**
   * Cross-checks the commits of `n` against the other nodes', once its log record shows their
   * entries: after a Ready, when the record holds the core's log as it is (until then a commit may
   * cover entries not handed out yet, and the record may still show entries they replaced). Then
   * checks the quorums of the commits whose terms became known.
   */
  private resolve(n: CheckedNode, t: Track): void {
    const log = n.log;
    const upto = Math.min(t.commit, log.lastIndex());
    for (let i = t.resolved + 1; i <= upto; i++) {
      const term = log.term(i);
      if (term !== 0) this.crossCheck(n.id, i, term);
      t.resolved = i;
    }
    if (this.pendingCommits.length > 0) this.checkPendingCommits();
  }

  /** Node `id` committed entry `i` of term `term`: it must be the one committed there. */
  private crossCheck(id: number, i: number, term: number): void {
    const known = this.committedTerm[i] ?? 0;
    if (known === 0) this.committedTerm[i] = term;
    else if (known !== term) {
      throw new InvariantViolation(
        "commit-safety",
        `node ${id} committed entry ${i} of term ${term}, but entry ${i} of term ${known} was committed before`,
      );
    }
  }

  /**
   * A leader commits an entry only once a majority of each half of its configuration holds it on
   * disk. (Once committed, an entry is never removed from a disk: checking when its term is known
   * may be late but is never wrong.)
   */
  private checkPendingCommits(): void {
    const keep: PendingCommit[] = [];
    for (const p of this.pendingCommits) {
      const term = this.committedTerm[p.index] ?? 0;
      if (term === 0) {
        keep.push(p);
        continue;
      }
      const holds = (id: number): boolean => {
        const d = this.nodes[id]?.durableLog;
        return d !== undefined && (d.term(p.index) === term || d.baseIndex > p.index);
      };
      if (!quorumOf(p.model, holds)) {
        const holders = [...new Set([...p.model.voters, ...p.model.outgoing])].filter(holds);
        throw new InvariantViolation(
          "commit-quorum",
          `leader ${p.by} (term ${p.term}) committed entry ${p.index} (term ${term}) held on disk only by ` +
            `[${holders.sort((a, b) => a - b).join(" ")}] of ${formatModel(p.model)}`,
        );
      }
    }
    this.pendingCommits = keep;
  }

  private newLeader(n: CheckedNode, t: Track): void {
    const r = n.rn!.raft;
    const prev = this.leaderOf.get(r.term);
    if (prev !== undefined && prev !== n.id) {
      throw new InvariantViolation(
        "election-safety",
        `nodes ${prev} and ${n.id} were both elected in term ${r.term}`,
      );
    }
    if (prev !== undefined) return;
    this.leaderOf.set(r.term, n.id);
    this.stats.elections++;
    // Elected by a majority of each half of its configuration (its own vote included).
    const votes = t.votes.term === r.term ? t.votes.from : new Set<number>();
    if (!quorumOf(t.model, (id) => id === n.id || votes.has(id))) {
      throw new InvariantViolation(
        "election-quorum",
        `node ${n.id} became leader of term ${r.term} with the votes of [${[...votes].sort((a, b) => a - b).join(" ")}] ` +
          `and its own, not a majority of each half of ${formatModel(t.model)}`,
      );
    }
    // Leader Completeness: every entry committed in an earlier term is in the new leader's log.
    let k = this.maxCommit;
    while (k > 0 && this.committedIn[k]! >= r.term) k--;
    const log = n.log;
    const last = log.lastIndex();
    if (last < k) {
      throw new InvariantViolation(
        "leader-completeness",
        `node ${n.id} was elected in term ${r.term} with log up to ${last}, but entry ${k} ` +
          `(term ${this.committedTerm[k]}) was committed in term ${this.committedIn[k]}`,
      );
    }
    for (let i = Math.max(log.baseIndex, 1); i <= k; i++) {
      const known = this.committedTerm[i]!;
      const has = log.term(i);
      if (known !== 0 && has !== 0 && known !== has) {
        throw new InvariantViolation(
          "leader-completeness",
          `node ${n.id} was elected in term ${r.term} with entry ${i} of term ${has}, but entry ${i} ` +
            `of term ${known} was committed in term ${this.committedIn[i]}`,
        );
      }
    }
  }

  /** A node became (pre-)candidate: it must have applied every committed conf change it holds. */
  private checkCampaign(n: CheckedNode, t: Track): void {
    const at = this.unappliedConfChange(n, t.commit);
    if (at !== undefined) {
      throw new InvariantViolation(
        "campaign",
        `node ${n.id} campaigns at term ${t.term} with the committed conf change at ${at} not applied ` +
          `(applied ${n.appliedIndex}, commit ${t.commit})`,
      );
    }
  }

  /**
   * The index of a conf change entry `n` holds in (applied, commit], by the simulator's records of
   * its log and of every entry, or undefined.
   */
  unappliedConfChange(n: CheckedNode, commit: number): number | undefined {
    for (let i = n.appliedIndex + 1; i <= commit; i++) {
      const term = n.log.term(i);
      if (term === 0) continue;
      const rec = this.entries.get(i * TERM_BITS + term);
      if (rec !== undefined && isConfChangeType(rec.type)) return i;
    }
    return undefined;
  }

  /** A Ready was handed out: record its snapshot and entries (Log Matching), check its reads. */
  onReady(n: CheckedNode, rd: Ready): void {
    this.track(n.id).lastBeforeReady = n.log.lastIndex();
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      this.checkSnapshot(n.id, rd.snapshot.metadata);
      n.log.restore(rd.snapshot.metadata.index, rd.snapshot.metadata.term);
    }
    const ents = rd.entries;
    if (ents.length > 0) {
      let prevTerm = n.log.term(ents[0]!.index - 1);
      for (const e of ents) {
        this.registerEntry(n.id, e, prevTerm);
        prevTerm = e.term;
      }
      const err = n.log.append(ents);
      if (err !== undefined) throw new InvariantViolation("log-matching", `node ${n.id} appended ${err}`);
    }
    for (const rs of rd.readStates) {
      try {
        this.reads.check(n.id, rs, this.maxCommit);
      } finally {
        this.stats.readsAnswered = this.reads.answered;
      }
    }
    this.resolve(n, this.track(n.id));
  }

  private registerEntry(id: number, e: Entry, prevTerm: number): void {
    const key = e.index * TERM_BITS + e.term;
    const rec = this.entries.get(key);
    if (rec === undefined) {
      this.entries.set(key, { prevTerm, type: e.type, data: e.data });
      return;
    }
    if (rec.prevTerm !== prevTerm) {
      throw new InvariantViolation(
        "log-matching",
        `node ${id} holds entry ${e.index} of term ${e.term} after an entry of term ${prevTerm}; ` +
          `another log has it after an entry of term ${rec.prevTerm}`,
      );
    }
    if (rec.type !== e.type || !bytesEqual(rec.data, e.data)) {
      throw new InvariantViolation(
        "log-matching",
        `node ${id} holds an entry ${e.index} of term ${e.term} that differs from another log's`,
      );
    }
  }

  private checkSnapshot(id: number, m: SnapshotMetadata): void {
    if (m.index > this.maxCommit) {
      throw new InvariantViolation(
        "commit-safety",
        `node ${id} received a snapshot at ${m.index}, beyond the highest commit index ${this.maxCommit}`,
      );
    }
    this.crossCheck(id, m.index, m.term);
  }

  /** A client issued a ReadIndex request (see read-checks.ts). */
  registerRead(ctx: string, nodeCommit: number, lease: boolean): void {
    this.reads.register(ctx, nodeCommit, this.maxCommit, lease);
  }

  /**
   * Node `id` sent `m` to another node: record votes granted and appends acknowledged, and check
   * that an acknowledged append is on disk, that a lease-protected node grants nothing, and that a
   * transfer goes to a node holding the leader's whole log.
   */
  onSend(id: number, m: Message): void {
    const t = this.track(id);
    if (DURABLE_TERM_MSGS.has(m.type) && m.term > t.termFloor) t.termFloor = m.term;
    switch (m.type) {
      case MessageType.MsgVoteResp:
      case MessageType.MsgPreVoteResp:
        if (!m.reject && m.type === MessageType.MsgVoteResp) this.recordVote(id, t, m);
        return;
      case MessageType.MsgAppResp:
        if (!m.reject && m.index > 0) this.acks.onAck(id, this.nodes[id], m);
        return;
      case MessageType.MsgTimeoutNow:
        this.acks.onTimeoutNow(id, m, t.lastBeforeReady);
        return;
    }
  }

  private recordVote(id: number, t: Track, m: Message): void {
    if (m.term < t.voteTerm || (m.term === t.voteTerm && m.to !== t.voteFor)) {
      throw new InvariantViolation(
        "vote-durability",
        `node ${id} granted its vote to ${m.to} in term ${m.term}, after voting for ${t.voteFor} in term ${t.voteTerm}`,
      );
    }
    t.voteTerm = m.term;
    t.voteFor = m.to;
    const c = this.tracks[m.to];
    if (c === undefined) return;
    if (m.term > c.votes.term) c.votes = { term: m.term, from: new Set() };
    if (m.term === c.votes.term) c.votes.from.add(id);
  }

  /** A message is about to be delivered to `n` (see lease-checks.ts). */
  beforeDeliver(n: CheckedNode): DeliveryContext {
    return this.leases.before(n);
  }

  /** `m` was delivered to `n` (see lease-checks.ts). */
  afterDeliver(n: CheckedNode, m: Message, before: DeliveryContext): void {
    this.leases.after(n, m, before);
  }

  /** Node `n` wrote `hs` to disk. */
  onDurableWrite(id: number, hs: HardState): void {
    const t = this.track(id);
    if (hs.term < t.durTerm) {
      throw new InvariantViolation(
        "durable-state",
        `node ${id} wrote term ${hs.term} over term ${t.durTerm}`,
      );
    }
    if (hs.term === t.durTerm && t.durVote !== 0 && hs.vote !== t.durVote) {
      throw new InvariantViolation(
        "durable-state",
        `node ${id} wrote vote ${hs.vote} over vote ${t.durVote} in term ${hs.term}`,
      );
    }
    if (hs.commit < t.durCommit) {
      throw new InvariantViolation(
        "durable-state",
        `node ${id} wrote commit ${hs.commit} over ${t.durCommit}`,
      );
    }
    t.durTerm = hs.term;
    t.durVote = hs.vote;
    t.durCommit = hs.commit;
  }

  /** Node `n` applies committed entry `e` (in sequence). */
  onApply(n: CheckedNode, e: Entry): void {
    const t = this.track(n.id);
    if (e.index !== t.applied + 1) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${n.id} applied entry ${e.index} after ${t.applied}`,
      );
    }
    const commit = n.rn!.raft.raftLog.committed;
    if (e.index > commit) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${n.id} applied entry ${e.index} (term ${e.term}) before it was committed (commit index ${commit})`,
      );
    }
    const known = this.committedTerm[e.index] ?? 0;
    if (known === 0) this.committedTerm[e.index] = e.term;
    else if (known !== e.term) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${n.id} applied entry ${e.index} of term ${e.term}, but entry ${e.index} of term ${known} was committed`,
      );
    }
    t.applied = e.index;
  }

  /**
   * Node `n` applied the conf change `cc` and the core returned the configuration `cs`: it must be
   * the one the change prescribes.
   */
  onConfChange(n: CheckedNode, index: number, cc: ConfChange | ConfChangeV2, cs: ConfState): void {
    const t = this.track(n.id);
    const want = applyToModel(t.model, cc);
    const diff = diffModel(want, cs);
    if (diff !== undefined) {
      throw new InvariantViolation(
        "configuration",
        `node ${n.id} applied the conf change at ${index} to ${formatModel(t.model)} and got other ${diff} ` +
          `than ${formatModel(want)}`,
      );
    }
    t.model = want;
  }

  /** Node `id`'s state machine was replaced by a snapshot's: it must move forward. */
  onApplySnapshot(id: number, m: SnapshotMetadata): void {
    const t = this.track(id);
    if (m.index <= t.applied) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${id} restored a snapshot at ${m.index}, at or below what it had applied (${t.applied}): its state went back`,
      );
    }
    t.applied = m.index;
    t.model = modelOf(m.confState);
  }

  /** Node `n` crashed (see ack-checks.ts). */
  onCrash(n: CheckedNode): void {
    this.acks.onCrash(n);
  }

  /**
   * Node `n` restarted from its durable state (its log record rebuilt from its disk, its
   * configuration `cs` the durable snapshot's): its votes and committed entries must have survived;
   * the checker follows the new incarnation from here.
   */
  onRestart(n: CheckedNode, cs: ConfState): void {
    const t = this.track(n.id);
    const r = n.rn!.raft;
    if (t.voteTerm > r.term || (t.voteTerm === r.term && t.voteFor !== r.vote)) {
      throw new InvariantViolation(
        "vote-durability",
        `node ${n.id} granted its vote to ${t.voteFor} in term ${t.voteTerm}, but restarted at term ${r.term} with vote ${r.vote}`,
      );
    }
    if (r.term < t.termFloor) {
      throw new InvariantViolation(
        "durable-state",
        `node ${n.id} restarted at term ${r.term}, but it had sent messages that need term ${t.termFloor} on disk`,
      );
    }
    // No committed entry is lost: the restarted log agrees with what was committed.
    const log = n.log;
    const committed = r.raftLog.committed;
    for (let i = Math.max(log.baseIndex, 1); i <= committed; i++) {
      const known = this.committedTerm[i] ?? 0;
      const has = log.term(i);
      if (known !== 0 && has !== 0 && known !== has) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${n.id} restarted with entry ${i} of term ${has}, but entry ${i} of term ${known} was committed`,
        );
      }
    }
    t.term = r.term;
    t.state = r.state;
    t.commit = committed;
    t.resolved = committed;
    t.applied = n.appliedIndex;
    t.model = modelOf(cs);
    this.leases.restart(n.id);
  }

  /** See cluster-checks.ts: no node that lacks a committed entry could be elected now. */
  checkElectable(): void {
    const k = this.maxCommit;
    const kt = this.committedTerm[k] ?? 0;
    if (kt === 0) return;
    checkElectable(
      this.nodes,
      k,
      kt,
      (n) => this.configOf(n.id),
      (n) => this.unappliedConfChange(n, n.rn!.raft.raftLog.committed),
    );
  }

  /** See cluster-checks.ts: the Progress a leader keeps of each follower is consistent and truthful. */
  checkProgress(leader: CheckedNode): void {
    checkProgress(leader, this.nodes);
  }
}
