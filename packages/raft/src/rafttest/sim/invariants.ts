/**
 * Raft's safety properties (Raft paper figure 3, and what a driver must guarantee), checked
 * incrementally while a simulation runs: the checker is told about every core call, Ready, durable
 * write, apply, message sent, crash and restart, and keeps just enough history to check each new
 * fact in O(1) — no log is rescanned on every step.
 *
 * Every check throws an {@link InvariantViolation} naming the property.
 */

import { hasUnappliedConfChanges } from "../../election.js";
import type { MajorityConfig } from "../../quorum/index.js";
import type { Entry, HardState, Message, SnapshotMetadata } from "../../raftpb/types.js";
import { MessageType } from "../../raftpb/types.js";
import type { ReadState, Ready } from "../../ready.js";
import { StateType } from "../../ready.js";
import type { MemoryStorage } from "../../storage.js";
import { ProgressState } from "../../tracker/index.js";
import { bytesEqual, utf8Decode } from "./bytes.js";
import { type CheckedNode, InvariantViolation } from "./violation.js";

export { type CheckedNode, type InvariantName, InvariantViolation } from "./violation.js";

/** What the checker tracks per node. */
interface Track {
  /** Term, role and commit index last observed in this incarnation. */
  term: number;
  state: StateType;
  /** The last term in which this node was seen leading (its election already checked). */
  ledTerm: number;
  commit: number;
  /** The last index applied (entries are applied one by one, in order). */
  applied: number;
  /** The last vote granted (a MsgVoteResp sent), across incarnations: at most one per term. */
  voteTerm: number;
  voteFor: number;
  /**
   * The highest term of a message that goes out only once its sender's term is durable (across
   * incarnations): acknowledgements and votes, vote requests, and a leader's messages.
   */
  termFloor: number;
  /** The last append acknowledged in this incarnation (a MsgAppResp sent). */
  ackTerm: number;
  ackIndex: number;
  /** The HardState on disk. */
  durTerm: number;
  durVote: number;
  durCommit: number;
}

/** A log entry's identity as first seen: what every other copy of (index, term) must equal. */
interface EntryRecord {
  readonly prevTerm: number;
  readonly type: number;
  readonly data: Uint8Array;
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

/** The incremental checker of one simulation. */
export class Checker {
  /** The leader of each term seen so far. */
  private readonly leaderOf = new Map<number, number>();
  /**
   * committedTerm[i]: the term of the entry committed at index i (0 if not known: it was only ever
   * seen inside a snapshot). Invariant: length is maxCommit + 1.
   */
  private readonly committedTerm: number[] = [0];
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
  /** ReadIndex requests: context → the commit index when issued. */
  private readonly reads = new Map<string, number>();
  /** Receives a line per notable event (role changes, commits) when tracing. */
  event: ((line: string) => void) | undefined;
  /** Counts for reports. */
  readonly stats = { elections: 0, readsAnswered: 0, maxTerm: 0 };

  /** A checker for nodes 1..nodes, whose durable state starts as `initial[id]`. */
  constructor(initial: readonly (HardState | undefined)[]) {
    for (let id = 0; id < initial.length; id++) {
      const hs = initial[id] ?? { term: 0, vote: 0, commit: 0 };
      this.tracks.push({
        term: hs.term,
        state: StateType.StateFollower,
        ledTerm: 0,
        commit: hs.commit,
        applied: hs.commit,
        voteTerm: 0,
        voteFor: 0,
        termFloor: 0,
        ackTerm: 0,
        ackIndex: 0,
        durTerm: hs.term,
        durVote: hs.vote,
        durCommit: hs.commit,
      });
    }
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
    }
    if (r.state === StateType.StateLeader && t.ledTerm !== r.term) {
      t.ledTerm = r.term;
      this.newLeader(n);
    }
    const c = r.raftLog.committed;
    if (c !== t.commit) {
      if (c < t.commit) {
        throw new InvariantViolation(
          "commit-safety",
          `node ${n.id}'s commit index went back from ${t.commit} to ${c}`,
        );
      }
      this.recordCommits(n, t.commit, c);
      if (this.event !== undefined) this.event(`${n.id} committed ${t.commit + 1}..${c}`);
      t.commit = c;
    }
  }

  private newLeader(n: CheckedNode): void {
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
    // Leader Completeness: every entry committed in an earlier term is in the new leader's log.
    let k = this.maxCommit;
    while (k > 0 && this.committedIn[k]! >= r.term) k--;
    const log = r.raftLog;
    const last = log.lastIndex();
    if (last < k) {
      throw new InvariantViolation(
        "leader-completeness",
        `node ${n.id} was elected in term ${r.term} with log up to ${last}, but entry ${k} ` +
          `(term ${this.committedTerm[k]}) was committed in term ${this.committedIn[k]}`,
      );
    }
    for (let i = Math.max(log.firstIndex() - 1, 1); i <= k; i++) {
      const known = this.committedTerm[i]!;
      const has = log.zeroTermOnOutOfBounds(i);
      if (known !== 0 && has !== 0 && known !== has) {
        throw new InvariantViolation(
          "leader-completeness",
          `node ${n.id} was elected in term ${r.term} with entry ${i} of term ${has}, but entry ${i} ` +
            `of term ${known} was committed in term ${this.committedIn[i]}`,
        );
      }
    }
  }

  /** Node `n`'s commit index moved from `from` to `to`: record (and cross-check) what it committed. */
  private recordCommits(n: CheckedNode, from: number, to: number): void {
    const r = n.rn!.raft;
    const log = r.raftLog;
    for (let i = from + 1; i <= to; i++) {
      const term = log.zeroTermOnOutOfBounds(i);
      if (i > this.maxCommit) {
        while (this.committedTerm.length <= i) {
          this.committedTerm.push(0);
          this.committedIn.push(r.term);
        }
        this.committedTerm[i] = term;
        this.maxCommit = i;
        continue;
      }
      if (term === 0) continue; // inside a snapshot: nothing to compare
      const known = this.committedTerm[i]!;
      if (known === 0) this.committedTerm[i] = term;
      else if (known !== term) {
        throw new InvariantViolation(
          "commit-safety",
          `node ${n.id} committed entry ${i} of term ${term}, but entry ${i} of term ${known} was committed before`,
        );
      }
    }
  }

  /** A Ready was handed out: register its entries (Log Matching), check its snapshot and reads. */
  onReady(n: CheckedNode, rd: Ready): void {
    const ents = rd.entries;
    if (ents.length > 0) {
      const log = n.rn!.raft.raftLog;
      let prevTerm = log.zeroTermOnOutOfBounds(ents[0]!.index - 1);
      for (const e of ents) {
        this.registerEntry(n.id, e, prevTerm);
        prevTerm = e.term;
      }
    }
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      this.checkSnapshot(n.id, rd.snapshot.metadata);
    }
    for (const rs of rd.readStates) this.checkRead(n.id, rs);
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
    const known = this.committedTerm[m.index]!;
    if (known === 0) this.committedTerm[m.index] = m.term;
    else if (known !== m.term) {
      throw new InvariantViolation(
        "commit-safety",
        `node ${id} received a snapshot at ${m.index} of term ${m.term}, but entry ${m.index} of term ${known} was committed`,
      );
    }
  }

  /**
   * A client issued a ReadIndex request with context `ctx` at a node whose commit index was
   * `nodeCommit`. The answer must be at least the highest index committed anywhere at that moment
   * (linearizability), except with `lease`-based reads, which etcd does not make linearizable even
   * with clocks ticking at one rate: its leader checks its quorum once per election timeout, so a
   * deposed leader may serve from its lease for up to one more election timeout after the others
   * elected a new leader; and a leader that handed leadership over (MsgTimeoutNow) keeps serving
   * from its lease until it hears of the new term (the simulator finds both, see test/sim). Lease
   * reads are only checked against the issuing node's own commit index.
   */
  registerRead(ctx: string, nodeCommit: number, lease: boolean): void {
    this.reads.set(ctx, lease ? nodeCommit : this.maxCommit);
  }

  private checkRead(id: number, rs: ReadState): void {
    const ctx = utf8Decode(rs.requestCtx);
    const min = this.reads.get(ctx);
    if (min === undefined) return; // not one of ours (cannot happen in a simulation)
    this.stats.readsAnswered++;
    if (rs.index < min) {
      throw new InvariantViolation(
        "read-index",
        `node ${id} got read index ${rs.index} for ${ctx}, but ${min} was committed when the read was issued`,
      );
    }
    if (rs.index > this.maxCommit) {
      throw new InvariantViolation(
        "read-index",
        `node ${id} got read index ${rs.index} for ${ctx}, beyond the highest commit index ${this.maxCommit}`,
      );
    }
  }

  /** Node `n` sent `m` to another node: record votes granted and appends acknowledged. */
  onSend(id: number, m: Message): void {
    const t = this.track(id);
    if (DURABLE_TERM_MSGS.has(m.type) && m.term > t.termFloor) t.termFloor = m.term;
    if (m.type === MessageType.MsgVoteResp && !m.reject) {
      if (m.term < t.voteTerm || (m.term === t.voteTerm && m.to !== t.voteFor)) {
        throw new InvariantViolation(
          "vote-durability",
          `node ${id} granted its vote to ${m.to} in term ${m.term}, after voting for ${t.voteFor} in term ${t.voteTerm}`,
        );
      }
      t.voteTerm = m.term;
      t.voteFor = m.to;
    } else if (m.type === MessageType.MsgAppResp && !m.reject && m.index > 0 && m.term >= t.ackTerm) {
      t.ackTerm = m.term;
      t.ackIndex = m.index;
    }
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

  /** Node `n`'s state machine was replaced by a snapshot's. */
  onApplySnapshot(id: number, m: SnapshotMetadata): void {
    this.track(id).applied = m.index;
  }

  /**
   * Node `n` crashed (its torn write already on disk; its core still readable): what it
   * acknowledged in its current term must have survived.
   */
  onCrash(n: CheckedNode): void {
    const t = this.track(n.id);
    const r = n.rn!.raft;
    if (t.ackIndex > 0 && t.ackTerm === r.term) {
      const d = n.durable;
      const last = d.lastIndex();
      if (last < t.ackIndex) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${n.id} acknowledged entries up to ${t.ackIndex} in term ${t.ackTerm}, but only ${last} survived its crash`,
        );
      }
      const want = r.raftLog.zeroTermOnOutOfBounds(t.ackIndex);
      const got = durableTerm(d, t.ackIndex);
      if (want !== 0 && got !== 0 && want !== got) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${n.id} acknowledged entry ${t.ackIndex} of term ${want}, but its disk holds term ${got} there`,
        );
      }
    }
    t.ackTerm = 0;
    t.ackIndex = 0;
  }

  /**
   * Node `n` restarted from its durable state: its votes and committed entries must have survived;
   * the checker follows the new incarnation from here.
   */
  onRestart(n: CheckedNode): void {
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
    const log = r.raftLog;
    for (let i = Math.max(log.firstIndex() - 1, 1); i <= log.committed; i++) {
      const known = this.committedTerm[i] ?? 0;
      const has = log.zeroTermOnOutOfBounds(i);
      if (known !== 0 && has !== 0 && known !== has) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${n.id} restarted with entry ${i} of term ${has}, but entry ${i} of term ${known} was committed`,
        );
      }
    }
    t.term = r.term;
    t.state = r.state;
    t.commit = log.committed;
    t.applied = n.appliedIndex;
  }

  /**
   * Leader Completeness, ahead of time: a node that could win an election now — a voter of its
   * own configuration whose log is at least as up to date as the logs of a quorum of it (Raft paper
   * §5.4.1) — holds every committed entry. Raft's safety argument says exactly this of committed
   * entries (a quorum holds them, and a log at least as up to date as one holding a committed
   * entry holds it too); checking it after every step catches a broken commit rule at the moment
   * of the commit, not only if a run goes on to elect the node that lacks the entry. Nodes that are
   * down count with their durable log.
   */
  checkElectable(nodes: readonly (CheckedNode | undefined)[]): void {
    const k = this.maxCommit;
    const kt = this.committedTerm[k]!;
    if (kt === 0) return;
    let lastTerms: number[] | undefined;
    let lastIndexes: number[] | undefined;
    for (const n of nodes) {
      const r = n?.rn?.raft;
      if (n === undefined || r === undefined) continue;
      const log = r.raftLog;
      // It holds the committed prefix (Log Matching: entry k implies all before), or a snapshot of it.
      if (k < log.firstIndex() || log.zeroTermOnOutOfBounds(k) === kt) continue;
      if (!r.promotable()) continue;
      if (lastTerms === undefined || lastIndexes === undefined) {
        // The last entry of every node that may vote (durable log if down; none if removed).
        lastTerms = [];
        lastIndexes = [];
        for (const v of nodes) {
          let index = -1;
          let term = -1;
          if (v !== undefined && !v.removed) {
            const vl = v.rn?.raft.raftLog;
            index = vl !== undefined ? vl.lastIndex() : v.durable.lastIndex();
            term = vl !== undefined ? vl.zeroTermOnOutOfBounds(index) : durableTerm(v.durable, index);
          }
          lastTerms.push(term);
          lastIndexes.push(index);
        }
      }
      const lt = lastTerms[n.id]!;
      const li = lastIndexes[n.id]!;
      const grants = (id: number): boolean => {
        const t = lastTerms![id] ?? -1;
        return t >= 0 && (lt > t || (lt === t && li >= lastIndexes![id]!));
      };
      const voters = r.trk.config.voters;
      if (!quorumGrants(voters.incoming, grants) || !quorumGrants(voters.outgoing, grants)) continue;
      // It may not campaign with committed configuration changes to apply (etcd's hup).
      if (hasUnappliedConfChanges(r)) continue;
      throw new InvariantViolation(
        "leader-completeness",
        `node ${n.id} (log up to ${li}, term ${lt}) could be elected by a quorum of ` +
          `${voters.toString()} whose logs are no more up to date, but lacks committed entry ${k} (term ${kt})`,
      );
    }
  }

  /** Checks the Progress a leader keeps of each follower (after every step). */
  checkProgress(leader: CheckedNode, nodes: readonly (CheckedNode | undefined)[]): void {
    const r = leader.rn!.raft;
    const log = r.raftLog;
    const last = log.lastIndex();
    r.trk.visit((id, pr) => {
      const bad = (what: string): never => {
        throw new InvariantViolation(
          "progress",
          `leader ${leader.id} (term ${r.term}) tracks ${id} with ${what}: ${pr}`,
        );
      };
      if (pr.match >= pr.next) bad("match >= next");
      if (pr.next > last + 1) bad(`next beyond its last index ${last}`);
      if (pr.match > last) bad(`match beyond its last index ${last}`);
      // etcd documents next === pendingSnapshot + 1 in StateSnapshot, but a stale rejection of an
      // earlier probe (maybeDecrTo) lowers next, and a late acknowledgement (maybeUpdate) raises
      // match and next, while the snapshot is pending (the simulator found both). What does hold is
      // that replication stays paused until the snapshot is reported.
      if (pr.state === ProgressState.StateSnapshot && !pr.isPaused())
        bad("not paused while waiting for a snapshot");
      if (pr.inflights.count() > pr.inflights.size) bad("too many inflight messages");
      if (id === leader.id || pr.match === 0) return;
      // Match is truthful: a follower of this leader, in its term, holds the entry at match.
      const f = nodes[id]?.rn?.raft;
      if (f === undefined || f.term !== r.term || f.lead !== leader.id) return;
      const flast = f.raftLog.lastIndex();
      if (flast < pr.match) bad(`match beyond the follower's last index ${flast}`);
      const ft = f.raftLog.zeroTermOnOutOfBounds(pr.match);
      const lt = log.zeroTermOnOutOfBounds(pr.match);
      if (ft !== 0 && lt !== 0 && ft !== lt)
        bad(`match at an entry of term ${ft} on the follower, ${lt} here`);
    });
  }
}

/** True if a majority of `m` (any, if empty: etcd's convention) grants. */
function quorumGrants(m: MajorityConfig, grants: (id: number) => boolean): boolean {
  if (m.size === 0) return true;
  let n = 0;
  for (const id of m) if (grants(id)) n++;
  return n > m.size / 2;
}

/** The term of entry `i` in durable storage, or 0 if it is compacted or absent. */
function durableTerm(d: MemoryStorage, i: number): number {
  try {
    return d.term(i);
  } catch {
    return 0;
  }
}
