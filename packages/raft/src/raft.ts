/**
 * The Raft state machine (etcd's `raft` struct): state, role transitions (`become*`), the term
 * checks every message goes through in {@link Raft.step}, ticks, and sending. The per-role message
 * handling lives in step-leader.ts, step-candidate.ts and step-follower.ts.
 *
 * The machine is synchronous and pure: it reads its Storage, writes nothing, and queues outgoing
 * messages in `msgs` / `msgsAfterAppend` for RawNode to hand out in a Ready.
 */

import { Changer, restore as restoreConfig } from "./confchange/index.js";
import { type Config, type ValidConfig, validateConfig } from "./config.js";
import { None } from "./constants.js";
import { handleVoteRequest, hup, isCampaignTransferCtx } from "./election.js";
import { isRaftError } from "./errors.js";
import { newLogWithSize, type RaftLog } from "./log.js";
import { debugEnabled, type Logger, panic } from "./logger.js";
import { appliedSnap, appliedTo, assertConfStatesEquivalent, switchToConfig } from "./membership.js";
import { newRandom } from "./prng.js";
import { entriesSize } from "./raftpb/size.js";
import { EMPTY_BYTES, EntryType, type HardState, type Message, MessageType } from "./raftpb/types.js";
import { isEmptyHardState } from "./raftpb/util.js";
import { ReadOnly } from "./read-only.js";
import { type ReadState, type SoftState, StateType } from "./ready.js";
import { appendEntry, reduceUncommittedSize, sendAppend, sendHeartbeat } from "./replication.js";
import { stepCandidate } from "./step-candidate.js";
import { stepFollower } from "./step-follower.js";
import { stepLeader } from "./step-leader.js";
import { Inflights, Progress, ProgressTracker } from "./tracker/index.js";
import { assertNever, hex, message, payloadsSize } from "./util.js";

export { type Config, validateConfig } from "./config.js";
/** Why a node campaigns (see election.ts). */
export type { CampaignType } from "./election.js";

/**
 * One Raft peer's state machine. Drive it through RawNode; the class is exported for the tests,
 * the interaction harness and advanced users who know etcd's `raft` struct.
 */
export class Raft {
  readonly id: number;

  private _term = 0;
  private _vote = None;
  private _state: StateType = StateType.StateFollower;
  private _lead = None;
  private _electionElapsed = 0;
  private _heartbeatElapsed = 0;

  /** ReadIndex answers not yet handed out in a Ready. */
  readStates: ReadState[] = [];
  raftLog: RaftLog;

  /** Byte limit of the entries in one MsgApp. */
  readonly maxMsgSize: number;
  /** Payload byte limit of the leader's uncommitted log tail. */
  readonly maxUncommittedSize: number;

  trk: ProgressTracker;

  /** True if this node is a learner in the active configuration. */
  isLearner = false;

  /**
   * Messages to send right away. Invariant: none of them targets this node.
   */
  msgs: Message[] = [];
  /**
   * Messages to send only once the unstable state they depend on (entries, term, vote, snapshot)
   * is durable: MsgAppResp, MsgVoteResp and MsgPreVoteResp (Raft thesis §3.8). They may target
   * this node itself (its own append and vote acknowledgements).
   */
  msgsAfterAppend: Message[] = [];

  /** The target of a leadership transfer in progress, or None (Raft thesis §3.10). */
  leadTransferee = None;
  /**
   * Only one conf change may be pending (in the log but not applied). Invariant: ≥ the index of the
   * latest pending conf change; proposals of another are refused while `applied < pendingConfIndex`.
   */
  pendingConfIndex = 0;
  readonly disableConfChangeValidation: boolean;
  /**
   * Estimate of the payload bytes in the uncommitted tail of the log (leader only; reset with the
   * term). Invariant: never overestimates.
   */
  uncommittedSize = 0;

  readOnly: ReadOnly;

  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /**
   * The election timeout in force: drawn in [electionTimeout, 2 × electionTimeout − 1] at every
   * reset, so that split votes resolve quickly (Raft paper §5.2).
   */
  randomizedElectionTimeout = 0;
  readonly disableProposalForwarding: boolean;
  readonly stepDownOnRemoval: boolean;

  readonly logger: Logger;
  private readonly random: () => number;

  /**
   * MsgReadIndex requests a new leader received before it committed an entry in its term; they
   * are answered once it does (Raft thesis §6.4).
   */
  pendingReadIndexMessages: Message[] = [];

  constructor(cfg: Config) {
    const c: ValidConfig = validateConfig(cfg);
    this.id = c.id;
    this.logger = c.logger;
    this.random = c.random ?? newRandom(c.id);
    this.raftLog = newLogWithSize(c.storage, c.logger, c.maxCommittedSizePerReady);
    const { hardState: hs, confState: cs } = c.storage.initialState();
    this.trk = new ProgressTracker(c.maxInflightMsgs, c.maxInflightBytes);
    this.readOnly = new ReadOnly(c.readOnlyOption);
    // The settings the rest of the core reads, copied from the validated config.
    this.maxMsgSize = c.maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize;
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.disableProposalForwarding = c.disableProposalForwarding;
    this.disableConfChangeValidation = c.disableConfChangeValidation;
    this.stepDownOnRemoval = c.stepDownOnRemoval;

    const last = this.raftLog.lastEntryID();
    const { config, progress } = restoreConfig(new Changer(this.trk, last.index), cs);
    assertConfStatesEquivalent(this, cs, switchToConfig(this, config, progress));

    if (!isEmptyHardState(hs)) this.loadState(hs);
    if (c.applied > 0) this.raftLog.appliedTo(c.applied, 0);
    this.becomeFollower(this._term, None);

    const peers = this.trk.voterNodes().map(hex).join(",");
    this.logger.info(
      `newRaft ${hex(this.id)} [peers: [${peers}], term: ${this._term}, commit: ${this.raftLog.committed}, ` +
        `applied: ${this.raftLog.applied}, lastindex: ${last.index}, lastterm: ${last.term}]`,
    );
  }

  /** The current term (Raft paper §5.1). Written only by `become*` and `loadState`. */
  get term(): number {
    return this._term;
  }
  /** Whom this node voted for in the current term, or None. */
  get vote(): number {
    return this._vote;
  }
  /** This node's role. Written only by `become*`. */
  get state(): StateType {
    return this._state;
  }
  /** The leader this node follows in the current term, or None. */
  get lead(): number {
    return this._lead;
  }
  /** Ticks since the last election timeout (or, on a follower, since it last heard from the leader). */
  get electionElapsed(): number {
    return this._electionElapsed;
  }
  /** Ticks since the last heartbeat (leader only). */
  get heartbeatElapsed(): number {
    return this._heartbeatElapsed;
  }

  /** True if this node knows a leader for its current term. */
  hasLeader(): boolean {
    return this._lead !== None;
  }

  /** The volatile state a Ready reports on change (leader and role). */
  softState(): SoftState {
    return { lead: this._lead, raftState: this._state };
  }

  /** The state to persist before sending (Raft paper figure 2): term, vote and commit index. */
  hardState(): HardState {
    return { term: this._term, vote: this._vote, commit: this.raftLog.committed };
  }

  /** True when debug lines would be recorded: guards building them on hot paths. */
  debugOn(): boolean {
    return debugEnabled(this.logger);
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  /**
   * Queues `m` for the next Ready. Fills in `from` and (for all but campaign messages, proposals and
   * forwarded reads) the current term. Responses that vote on log appends or elections wait in
   * `msgsAfterAppend` until the state they depend on is durable.
   */
  send(m: Message): void {
    if (m.from === None) m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      // Campaign messages carry the term they are about, which need not be ours (a pre-vote is for
      // the next term; a vote response echoes the request's term).
      if (m.term === 0) panic(this.logger, `term should be set when sending ${MessageType[t]}`);
    } else {
      if (m.term !== 0) {
        panic(this.logger, `term should not be set when sending ${MessageType[t]} (was ${m.term})`);
      }
      // Proposals and forwarded read requests act as local messages to the leader: no term.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this._term;
    }
    if (t === MessageType.MsgAppResp || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVoteResp) {
      // These vote on appends or elections: publishing one before its state is durable could
      // lose a committed entry or double-vote after a crash (Raft thesis §3.8). Rejections too, to
      // err on the side of safety.
      this.msgsAfterAppend.push(m);
    } else {
      if (m.to === this.id) {
        panic(this.logger, `message should not be self-addressed when sending ${MessageType[t]}`);
      }
      this.msgs.push(m);
    }
  }

  /** Sends appends to every peer that is behind, in id order. */
  bcastAppend(): void {
    // trk.visit's order, without a closure: this runs for every proposal and commit advance.
    const ids = this.trk.progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id !== this.id) sendAppend(this, id);
    }
  }

  /** Sends heartbeats to every peer, carrying the newest pending read's position. */
  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.heartbeatCtx());
  }

  /** Sends heartbeats carrying `ctx` to every peer, in id order. */
  bcastHeartbeatWithCtx(ctx: Uint8Array): void {
    const ids = this.trk.progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id !== this.id) sendHeartbeat(this, id, ctx);
    }
  }

  /** Tells `to` to campaign at once, skipping PreVote and leases (the end of a leadership transfer). */
  sendTimeoutNow(to: number): void {
    this.send(message(MessageType.MsgTimeoutNow, to, {}));
  }

  // ---------------------------------------------------------------------------------------------
  // Ticks

  /** Advances the logical clock by one tick: election timer for non-leaders, heartbeat for leaders. */
  tick(): void {
    switch (this._state) {
      case StateType.StateFollower:
      case StateType.StateCandidate:
      case StateType.StatePreCandidate:
        this.tickElection();
        return;
      case StateType.StateLeader:
        this.tickHeartbeat();
        return;
      default:
        assertNever(this._state);
    }
  }

  /** Advances the election timer without other effects (RawNode.tickQuiesced). */
  tickQuiesced(): void {
    this._electionElapsed++;
  }

  /** Followers and candidates campaign once the randomized election timeout passes (Raft paper §5.2). */
  private tickElection(): void {
    this._electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this._electionElapsed = 0;
      this.stepLocal(message(MessageType.MsgHup, None, { from: this.id }), "error occurred during election");
    }
  }

  /** Leaders send heartbeats every heartbeatTimeout, and check their quorum every electionTimeout. */
  private tickHeartbeat(): void {
    this._heartbeatElapsed++;
    this._electionElapsed++;

    if (this._electionElapsed >= this.electionTimeout) {
      this._electionElapsed = 0;
      if (this.checkQuorum) {
        this.stepLocal(
          message(MessageType.MsgCheckQuorum, None, { from: this.id }),
          "error occurred during checking sending heartbeat",
        );
      }
      // A transfer that did not finish within an election timeout is abandoned (Raft thesis §3.10).
      if (this._state === StateType.StateLeader && this.leadTransferee !== None) this.abortLeaderTransfer();
    }

    if (this._state !== StateType.StateLeader) return;

    if (this._heartbeatElapsed >= this.heartbeatTimeout) {
      this._heartbeatElapsed = 0;
      this.stepLocal(
        message(MessageType.MsgBeat, None, { from: this.id }),
        "error occurred during checking sending heartbeat",
      );
    }
  }

  /** Steps a message the core generated itself, logging (at debug) instead of throwing errors. */
  private stepLocal(m: Message, what: string): void {
    try {
      this.step(m);
    } catch (e) {
      if (!isRaftError(e)) throw e;
      if (this.debugOn()) this.logger.debug(`${what}: ${e.message}`);
    }
  }

  /** True once the randomized election timeout has elapsed. */
  pastElectionTimeout(): boolean {
    return this._electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Draws a new election timeout in [electionTimeout, 2 × electionTimeout − 1] from `Config.random`. */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  /** Test hook: pins the randomized election timeout (etcd's setRandomizedElectionTimeout). */
  setRandomizedElectionTimeout(v: number): void {
    this.randomizedElectionTimeout = v;
  }

  // ---------------------------------------------------------------------------------------------
  // Role transitions. Only these (and loadState) write term, vote, state, lead and the counters.

  private reset(term: number): void {
    if (this._term !== term) {
      this._term = term;
      this._vote = None;
    }
    this._lead = None;
    this._electionElapsed = 0;
    this._heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const next = this.raftLog.lastIndex() + 1;
    const trk = this.trk;
    trk.visit((id, pr) => {
      trk.progress.set(
        id,
        new Progress({
          match: id === this.id ? next - 1 : 0,
          next,
          inflights: new Inflights(trk.maxInflight, trk.maxInflightBytes),
          isLearner: pr.isLearner,
        }),
      );
    });
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
  }

  /** Becomes a follower of `lead` (or of no known leader) at `term`. */
  becomeFollower(term: number, lead: number): void {
    this.reset(term);
    this._lead = lead;
    this._state = StateType.StateFollower;
    this.logger.info(`${hex(this.id)} became follower at term ${this._term}`);
  }

  /** Becomes a candidate at the next term, voting for itself (Raft paper §5.2). Never from leader. */
  becomeCandidate(): void {
    if (this._state === StateType.StateLeader) panic(this.logger, "invalid transition [leader -> candidate]");
    this.reset(this._term + 1);
    this._vote = this.id;
    this._state = StateType.StateCandidate;
    this.logger.info(`${hex(this.id)} became candidate at term ${this._term}`);
  }

  /** A pre-candidate keeps its term and vote: it only asks whether it could win (Raft thesis §9.6). */
  becomePreCandidate(): void {
    if (this._state === StateType.StateLeader)
      panic(this.logger, "invalid transition [leader -> pre-candidate]");
    this.trk.resetVotes();
    this._lead = None;
    this._state = StateType.StatePreCandidate;
    this.logger.info(`${hex(this.id)} became pre-candidate at term ${this._term}`);
  }

  /** Becomes leader of the current term and appends its no-op entry. Never from follower. */
  becomeLeader(): void {
    if (this._state === StateType.StateFollower)
      panic(this.logger, "invalid transition [follower -> leader]");
    this.reset(this._term);
    this._lead = this.id;
    this._state = StateType.StateLeader;
    // The leader trivially replicates to itself, and is always recently active.
    const pr = this.trk.progress.get(this.id)!;
    pr.becomeReplicate();
    pr.recentActive = true;
    // A conf change may be pending somewhere in the log; scanning for it could be expensive, so
    // conservatively wait until everything up to the current last index applied.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The no-op entry of the new term (Raft thesis §6.4): committing it commits all before it. Its
    // payload is empty, so the uncommitted quota stays at 0.
    if (!appendEntry(this, [{ term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY_BYTES }]))
      panic(this.logger, "empty entry was dropped");
    this.logger.info(`${hex(this.id)} became leader at term ${this._term}`);
  }

  /** This node grants its vote to `candidate` in the current term (and restarts its election timer). */
  grantVote(candidate: number): void {
    this._electionElapsed = 0;
    this._vote = candidate;
  }

  /** A follower hears from the current leader: it follows it and restarts its election timer. */
  acknowledgeLeader(from: number): void {
    this._electionElapsed = 0;
    this._lead = from;
  }

  /** Drops the known leader (MsgForgetLeader), so this node may grant votes before its lease ends. */
  forgetLeader(): void {
    this._lead = None;
  }

  /** The leader starts transferring leadership to `to`; it has one election timeout to finish. */
  beginLeaderTransfer(to: number): void {
    this._electionElapsed = 0;
    this.leadTransferee = to;
  }

  /** Forgets the leadership transfer in progress, if any. */
  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** Restores term, vote and commit index from persisted state. */
  loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      panic(
        this.logger,
        `${hex(this.id)} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this._term = hs.term;
    this._vote = hs.vote;
  }

  // ---------------------------------------------------------------------------------------------
  // Elections

  /** A node may campaign if it is a voter and is not waiting for a snapshot to be applied. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasNextOrInProgressSnapshot();
  }

  // ---------------------------------------------------------------------------------------------
  // Step: term checks, then votes, storage acknowledgements, and the role's handler.

  /**
   * Advances the state machine with `m`. Throws a "ProposalDropped" RaftError when a proposal
   * cannot be accepted; any other throw is a RaftPanic. `m` must not be mutated afterwards.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // A local message.
    } else if (m.term > this._term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = isCampaignTransferCtx(m.context);
        const inLease =
          this.checkQuorum && this._lead !== None && this._electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Within the minimum election timeout of hearing from a leader, a vote request neither
          // updates our term nor gets our vote (Raft thesis §4.2.3): it comes from a disruptive server.
          const last = this.raftLog.lastEntryID();
          this.logger.info(
            `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(this._vote)}] ignored ${MessageType[m.type]} ` +
              `from ${hex(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this._term}: ` +
              `lease is not expired (remaining ticks: ${this.electionTimeout - this._electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // Never change our term in response to a pre-vote.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign for; ours moves if we win.
      } else {
        this.logger.info(
          `${hex(this.id)} [term: ${this._term}] received a ${MessageType[m.type]} message with higher term from ${hex(m.from)} [term: ${m.term}]`,
        );
        if (
          m.type === MessageType.MsgApp ||
          m.type === MessageType.MsgHeartbeat ||
          m.type === MessageType.MsgSnap
        ) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this._term) {
      this.stepLowerTerm(m);
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        hup(this, this.preVote ? "CampaignPreElection" : "CampaignElection");
        return;
      case MessageType.MsgStorageAppendResp:
        if (m.index !== 0) this.raftLog.stableTo({ term: m.logTerm, index: m.index });
        if (m.snapshot !== undefined) appliedSnap(this, m.snapshot);
        return;
      case MessageType.MsgStorageApplyResp:
        if (m.entries.length > 0) {
          const index = m.entries[m.entries.length - 1]!.index;
          appliedTo(this, index, entriesSize(m.entries));
          reduceUncommittedSize(this, payloadsSize(m.entries));
        }
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        handleVoteRequest(this, m);
        return;
      default:
        this.stepRole(m);
    }
  }

  /** Dispatches `m` to the handler of the current role. */
  private stepRole(m: Message): void {
    switch (this._state) {
      case StateType.StateFollower:
        stepFollower(this, m);
        return;
      case StateType.StateCandidate:
      case StateType.StatePreCandidate:
        stepCandidate(this, m);
        return;
      case StateType.StateLeader:
        stepLeader(this, m);
        return;
      default:
        assertNever(this._state);
    }
  }

  /** Handles a message from an older term: mostly ignored, sometimes answered so its sender catches up. */
  private stepLowerTerm(m: Message): void {
    if (
      (this.checkQuorum || this.preVote) &&
      (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
    ) {
      // A leader of an older term: possibly just delayed, but possibly a node that was partitioned
      // while our term advanced and that can now neither win an election nor rejoin. With
      // CheckQuorum or PreVote, vote requests will not raise its term; this response will.
      this.send(message(MessageType.MsgAppResp, m.from, {}));
    } else if (m.type === MessageType.MsgPreVote) {
      // Reject, so a pre-candidate with a stale term learns ours (dropping would deadlock clusters
      // upgraded to PreVote while holding a higher-term, shorter-log candidate).
      const last = this.raftLog.lastEntryID();
      this.logger.info(
        `${hex(this.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(this._vote)}] rejected ${MessageType[m.type]} ` +
          `from ${hex(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this._term}`,
      );
      this.send(message(MessageType.MsgPreVoteResp, m.from, { term: this._term, reject: true }));
    } else if (m.type === MessageType.MsgStorageAppendResp) {
      if (m.index !== 0) {
        // The entries may have been overwritten in the unstable log during a later term: do not
        // mark them stable (see newStorageAppendRespMsg).
        this.logger.info(
          `${hex(this.id)} [term: ${this._term}] ignored entry appends from a ${MessageType[m.type]} message with lower term [term: ${m.term}]`,
        );
      }
      // A snapshot holds committed state, valid whatever the term it was applied under.
      if (m.snapshot !== undefined) appliedSnap(this, m.snapshot);
    } else {
      this.logger.info(
        `${hex(this.id)} [term: ${this._term}] ignored a ${MessageType[m.type]} message with lower term from ${hex(m.from)} [term: ${m.term}]`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots and configuration
}
