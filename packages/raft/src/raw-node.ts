/**
 * RawNode: the thread-unsafe, synchronous API to one Raft peer (etcd's rawnode.go). The caller
 * owns the loop: tick it, step it with received messages, and process each Ready in order —
 * persist `hardState`, `entries` and `snapshot`, send `messages`, apply `committedEntries`, then
 * call `advance`.
 */

import { bootstrap as bootstrapRaft, type Peer } from "./bootstrap.js";
import type { Config } from "./config.js";
import { LocalAppendThread, LocalApplyThread } from "./constants.js";
import { errStepLocalMsg, errStepPeerNotFound, isRaftError } from "./errors.js";
import { panic } from "./logger.js";
import { applyConfChange } from "./membership.js";
import { Raft } from "./raft.js";
import { asV2, type ConfChangeI } from "./raftpb/confchange.js";
import { entriesSize } from "./raftpb/size.js";
import type { ConfState, Entry, HardState, Message, Snapshot } from "./raftpb/types.js";
import { EntryType, MessageType, zeroMessage } from "./raftpb/types.js";
import { isEmptyHardState, isEmptySnap } from "./raftpb/util.js";
import type { ReadState, Ready, SoftState } from "./ready.js";
import { type BasicStatus, getBasicStatus, getStatus, type Status } from "./status.js";
import type { Progress } from "./tracker/index.js";
import { clearArray, confChangeToMsg, isLocalMsg, isLocalMsgTarget, isResponseMsg, message } from "./util.js";

/** The outcome of sending a snapshot, reported with {@link RawNode.reportSnapshot}. */
export enum SnapshotStatus {
  SnapshotFinish = 1,
  SnapshotFailure = 2,
}

/** Whether a peer visited by {@link RawNode.withProgress} is a voter or a learner. */
export enum ProgressType {
  ProgressTypePeer = 0,
  ProgressTypeLearner = 1,
}

const NO_READ_STATES: readonly ReadState[] = Object.freeze([]);
const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: 0, commit: 0 });

/**
 * True if a Ready with this HardState and `entsnum` entries must be written durably before its
 * messages are sent: new entries, or a changed term or vote (Raft paper figure 2: currentTerm,
 * votedFor and log[] are persistent state). A commit-index change alone need not be synced.
 */
export function mustSync(st: HardState, prevst: HardState, entsnum: number): boolean {
  return entsnum !== 0 || st.vote !== prevst.vote || st.term !== prevst.term;
}

/** A single Raft peer driven synchronously by its caller. Not safe for concurrent use. */
export class RawNode {
  /**
   * The state machine. Exposed for tests and the interaction harness; applications should only
   * use RawNode's methods.
   */
  readonly raft: Raft;
  private readonly asyncStorageWrites: boolean;
  /** The SoftState and HardState of the last accepted Ready: a Ready carries them only on change. */
  private prevSoftSt: SoftState;
  private prevHardSt: HardState;
  /** Local messages to step on advance (the leader's own append and vote acknowledgements, etc.). */
  private readonly stepsOnAdvance: Message[] = [];

  /** Creates a node from `config` and the state in its storage. Throws a "ConfigInvalid" RaftError. */
  constructor(config: Config) {
    this.raft = new Raft(config);
    this.asyncStorageWrites = config.asyncStorageWrites ?? false;
    this.prevSoftSt = this.raft.softState();
    this.prevHardSt = this.raft.hardState();
  }

  /** Advances the logical clock by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Advances the election timer only, without any other effect of a tick: for an application that
   * stops ticking idle groups. A leader's checks do not run; a follower may campaign late.
   */
  tickQuiesced(): void {
    this.raft.tickQuiesced();
  }

  /** Makes this node campaign (a pre-election first with preVote). */
  campaign(): void {
    this.raft.step(message(MessageType.MsgHup, 0, {}));
  }

  /**
   * Proposes `data` to be appended to the log. Throws a "ProposalDropped" RaftError when it cannot be
   * (no leader, transfer in progress, forwarding disabled, uncommitted-size quota); a proposal that
   * is not dropped may still be lost, so the application must track it until it applies.
   */
  propose(data: Uint8Array): void {
    const r = this.raft;
    // No defaults object: this runs once per proposal.
    const m = zeroMessage(MessageType.MsgProp, 0, r.id);
    m.entries = [{ term: 0, index: 0, type: EntryType.EntryNormal, data }];
    r.step(m);
  }

  /**
   * Proposes a configuration change. At most one may be pending (Raft thesis §4.1); an invalid one
   * is replaced by an empty entry (see Config.disableConfChangeValidation). The application must
   * call {@link applyConfChange} once it is committed.
   */
  proposeConfChange(cc: ConfChangeI): void {
    this.raft.step(confChangeToMsg(cc));
  }

  /** Applies a committed configuration change; returns the resulting ConfState to persist. */
  applyConfChange(cc: ConfChangeI): ConfState {
    return applyConfChange(this.raft, asV2(cc));
  }

  /**
   * Steps a message received from the network. Throws a "StepLocalMsg" RaftError for message types only the
   * core may generate, and a "StepPeerNotFound" RaftError for a response from a node not in the configuration.
   */
  step(m: Message): void {
    // Local messages may only come from the local storage threads.
    if (isLocalMsg(m.type) && !isLocalMsgTarget(m.from)) throw errStepLocalMsg();
    if (isResponseMsg(m.type) && !isLocalMsgTarget(m.from) && !this.raft.trk.progress.has(m.from)) {
      throw errStepPeerNotFound();
    }
    this.raft.step(m);
  }

  /**
   * Returns the outstanding work and accepts it: the next Ready only carries what changed since.
   * The caller must process it completely, then call {@link advance} (unless asyncStorageWrites).
   */
  ready(): Ready {
    const rd = this.readyWithoutAccept();
    this.acceptReady(rd);
    return rd;
  }

  private readyWithoutAccept(): Ready {
    const r = this.raft;
    const log = r.raftLog;
    const entries = log.nextUnstableEnts();
    const committedEntries = log.nextCommittedEnts(this.applyUnstableEntries());
    const messages = r.msgs;

    // SoftState and HardState objects only when they changed (most Readys carry neither).
    const ps = this.prevSoftSt;
    const softState = r.lead === ps.lead && r.state === ps.raftState ? undefined : r.softState();
    const ph = this.prevHardSt;
    const hardState =
      r.term === ph.term && r.vote === ph.vote && log.committed === ph.commit ? undefined : r.hardState();
    const snapshot = log.hasNextUnstableSnapshot() ? log.nextUnstableSnapshot() : undefined;
    const readStates = r.readStates.length !== 0 ? r.readStates : NO_READ_STATES;

    const rd: Ready = {
      softState,
      hardState,
      readStates,
      entries,
      snapshot,
      committedEntries,
      messages,
      // mustSync(), without building the current HardState.
      mustSync: entries.length !== 0 || r.vote !== ph.vote || r.term !== ph.term,
    };

    if (this.asyncStorageWrites) {
      // The storage work travels as messages to the local threads, after the network messages.
      if (needStorageAppendMsg(r, rd)) messages.push(newStorageAppendMsg(r, rd));
      if (needStorageApplyMsg(rd)) messages.push(newStorageApplyMsg(r, rd));
    } else {
      // Responses to other nodes go out with this Ready (the caller sends messages only after
      // persisting); those to ourselves are stepped in advance().
      for (const m of r.msgsAfterAppend) {
        if (m.to !== r.id) messages.push(m);
      }
    }
    return rd;
  }

  private acceptReady(rd: Ready): void {
    const r = this.raft;
    if (rd.softState !== undefined) this.prevSoftSt = rd.softState;
    if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) this.prevHardSt = rd.hardState;
    if (rd.readStates.length !== 0) r.readStates = [];
    if (!this.asyncStorageWrites) {
      if (this.stepsOnAdvance.length !== 0)
        panic(r.logger, "two accepted Ready structs without call to Advance");
      for (const m of r.msgsAfterAppend) {
        if (m.to === r.id) this.stepsOnAdvance.push(m);
      }
      if (needStorageAppendRespMsg(r, rd)) this.stepsOnAdvance.push(newStorageAppendRespMsg(r, rd));
      if (needStorageApplyRespMsg(rd))
        this.stepsOnAdvance.push(newStorageApplyRespMsg(r, rd.committedEntries));
    }
    // `msgs` went out as the Ready's messages: it is the caller's now. `msgsAfterAppend` was only
    // copied from (with synchronous storage), so it is emptied in place.
    r.msgs = [];
    if (this.asyncStorageWrites) r.msgsAfterAppend = [];
    else clearArray(r.msgsAfterAppend);
    r.raftLog.acceptUnstable();
    const ents = rd.committedEntries;
    if (ents.length > 0) {
      r.raftLog.acceptApplying(ents[ents.length - 1]!.index, entriesSize(ents), this.applyUnstableEntries());
    }
  }

  /**
   * Whether committed entries may be handed out for applying before they are durable locally. True
   * with Ready/advance (the Ready carries both, and the caller persists first); false in async mode,
   * where application may overtake the append thread.
   */
  private applyUnstableEntries(): boolean {
    return !this.asyncStorageWrites;
  }

  /** True if {@link ready} would return something to do. */
  hasReady(): boolean {
    const r = this.raft;
    // Compare field by field: this runs on every loop iteration, so no SoftState/HardState objects.
    const ps = this.prevSoftSt;
    if (r.lead !== ps.lead || r.state !== ps.raftState) return true;
    const log = r.raftLog;
    const ph = this.prevHardSt;
    const term = r.term;
    const vote = r.vote;
    const commit = log.committed;
    // A changed HardState, unless it is empty (a fresh node before bootstrap).
    if (
      (term !== ph.term || vote !== ph.vote || commit !== ph.commit) &&
      (term !== 0 || vote !== 0 || commit !== 0)
    ) {
      return true;
    }
    if (log.hasNextUnstableSnapshot()) return true;
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0) return true;
    if (log.hasNextUnstableEnts() || log.hasNextCommittedEnts(this.applyUnstableEntries())) return true;
    return r.readStates.length !== 0;
  }

  /**
   * Tells the node the last Ready was processed: its entries and state are durable and its
   * committed entries applied. Steps the node's own acknowledgements. Not for asyncStorageWrites.
   */
  advance(_rd?: Ready): void {
    const r = this.raft;
    if (this.asyncStorageWrites) panic(r.logger, "Advance must not be called when using AsyncStorageWrites");
    const steps = this.stepsOnAdvance;
    for (let i = 0; i < steps.length; i++) {
      try {
        r.step(steps[i]!);
      } catch (e) {
        if (!isRaftError(e)) throw e;
      }
    }
    clearArray(steps);
  }

  /** The full status (with progress copies on a leader). Allocates: prefer basicStatus in loops. */
  status(): Status {
    return getStatus(this.raft);
  }

  /** The status without configuration and progress. */
  basicStatus(): BasicStatus {
    return getBasicStatus(this.raft);
  }

  /**
   * Calls `visitor` with every peer's progress, in id order, without copying Inflights. The
   * progress must not be kept or mutated.
   */
  withProgress(visitor: (id: number, typ: ProgressType, pr: Readonly<Progress>) => void): void {
    this.raft.trk.visit((id, pr) => {
      visitor(id, pr.isLearner ? ProgressType.ProgressTypeLearner : ProgressType.ProgressTypePeer, pr);
    });
  }

  /** Reports that the last message to `id` may not have arrived: the leader probes it again. */
  reportUnreachable(id: number): void {
    this.stepIgnoringErrors(message(MessageType.MsgUnreachable, 0, { from: id }));
  }

  /**
   * Reports how sending a snapshot to `id` ended. A failure must be reported: the leader stops
   * replicating to a follower while its snapshot is in flight.
   */
  reportSnapshot(id: number, status: SnapshotStatus): void {
    this.stepIgnoringErrors(
      message(MessageType.MsgSnapStatus, 0, { from: id, reject: status === SnapshotStatus.SnapshotFailure }),
    );
  }

  /** Asks the leader to hand leadership to `transferee` (forwarded if this node is a follower). */
  transferLeader(transferee: number): void {
    this.stepIgnoringErrors(message(MessageType.MsgTransferLeader, 0, { from: transferee }));
  }

  /**
   * Forgets the current leader (a follower only), so that it may grant votes before the leader's
   * lease ends: use when the application knows the leader is gone. Ignored with lease-based reads.
   */
  forgetLeader(): void {
    this.raft.step(message(MessageType.MsgForgetLeader, 0, {}));
  }

  /**
   * Requests a read index: once the node learns it, a ReadState with `rctx` appears in a Ready, and
   * a read under `rctx` is linearizable after applying up to its index. May be dropped (no leader):
   * the application retries on its own timeout.
   */
  readIndex(rctx: Uint8Array): void {
    this.stepIgnoringErrors(
      message(MessageType.MsgReadIndex, 0, {
        entries: [{ term: 0, index: 0, type: EntryType.EntryNormal, data: rctx }],
      }),
    );
  }

  /**
   * Bootstraps a new cluster with `peers` as its voters (see bootstrap.ts). The storage must be
   * empty; the first Ready then persists the HardState and the membership entries.
   */
  bootstrap(peers: readonly Peer[]): void {
    bootstrapRaft(this.raft, peers);
    // Nothing is persisted yet: the first Ready must carry the HardState.
    this.prevHardSt = EMPTY_HARD_STATE;
  }

  private stepIgnoringErrors(m: Message): void {
    try {
      this.raft.step(m);
    } catch (e) {
      if (!isRaftError(e)) throw e;
    }
  }
}

/** Test hook: pins `rn`'s randomized election timeout (etcd's SetRandomizedElectionTimeout). */
export function setRandomizedElectionTimeout(rn: RawNode, v: number): void {
  rn.raft.setRandomizedElectionTimeout(v);
}

// -------------------------------------------------------------------------------------------------
// asyncStorageWrites: the Ready's storage work as messages to the local append and apply threads.

function needStorageAppendMsg(r: Raft, rd: Ready): boolean {
  return (
    rd.entries.length > 0 ||
    (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) ||
    (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) ||
    r.msgsAfterAppend.length > 0
  );
}

function needStorageAppendRespMsg(r: Raft, rd: Ready): boolean {
  return (
    r.raftLog.hasNextOrInProgressUnstableEnts() || (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot))
  );
}

/**
 * The MsgStorageAppend for `rd`: entries, HardState and snapshot to write, and the responses to
 * deliver once they are durable (the deferred votes and acks, and our own MsgStorageAppendResp).
 */
function newStorageAppendMsg(r: Raft, rd: Ready): Message {
  const hs = rd.hardState !== undefined && !isEmptyHardState(rd.hardState) ? rd.hardState : EMPTY_HARD_STATE;
  const responses = r.msgsAfterAppend;
  if (needStorageAppendRespMsg(r, rd)) responses.push(newStorageAppendRespMsg(r, rd));
  return message(MessageType.MsgStorageAppend, LocalAppendThread, {
    from: r.id,
    entries: rd.entries as Entry[],
    term: hs.term,
    vote: hs.vote,
    commit: hs.commit,
    snapshot: rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined,
    responses,
  });
}

/**
 * The acknowledgement of a MsgStorageAppend, delivered once it and all earlier appends are durable.
 *
 * It names the log's last entry *now* (not the last of `rd.entries`, which may be empty) and
 * carries the current term. The term guards against the ABA problem: while an append is in flight,
 * a new leader may overwrite the same indexes with entries of a higher term, and a later leader
 * may put back the original entries (same index, same term) while those writes are still queued.
 * Truncating the unstable log on the first acknowledgement would then expose entries that a queued
 * write is about to replace. So a response whose term is older than ours marks nothing stable
 * (see Raft.step); only one sent and received within the same term does, and then only if the
 * entry still matches (`stableTo`). Since every term change emits a MsgStorageAppend (the HardState
 * changed), some acknowledgement eventually comes back in the current term, and the unstable log
 * does get truncated: naming the current last entry even when `rd.entries` is empty is what makes
 * that liveness argument hold.
 */
function newStorageAppendRespMsg(r: Raft, rd: Ready): Message {
  let index = 0;
  let logTerm = 0;
  if (r.raftLog.hasNextOrInProgressUnstableEnts()) {
    const last = r.raftLog.lastEntryID();
    index = last.index;
    logTerm = last.term;
  }
  const snapshot: Snapshot | undefined =
    rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;
  const m = zeroMessage(MessageType.MsgStorageAppendResp, r.id, LocalAppendThread);
  m.term = r.term;
  m.logTerm = logTerm;
  m.index = index;
  m.snapshot = snapshot;
  return m;
}

function needStorageApplyMsg(rd: Ready): boolean {
  return rd.committedEntries.length > 0;
}

function needStorageApplyRespMsg(rd: Ready): boolean {
  return needStorageApplyMsg(rd);
}

/** The MsgStorageApply for `rd`'s committed entries (they apply under no particular term). */
function newStorageApplyMsg(r: Raft, rd: Ready): Message {
  const ents = rd.committedEntries as Entry[];
  return message(MessageType.MsgStorageApply, LocalApplyThread, {
    from: r.id,
    entries: ents,
    responses: [newStorageApplyRespMsg(r, ents)],
  });
}

function newStorageApplyRespMsg(r: Raft, ents: readonly Entry[]): Message {
  const m = zeroMessage(MessageType.MsgStorageApplyResp, r.id, LocalApplyThread);
  if (ents.length !== 0) m.entries = ents as Entry[];
  return m;
}
