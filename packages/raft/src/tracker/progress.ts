import { RaftPanic } from "../logger.js";
import type { Inflights } from "./inflights.js";
import { ProgressState } from "./state.js";

/** The fields a {@link Progress} starts with; those left out take their zero values. */
export interface ProgressInit {
  match?: number;
  next?: number;
  sentCommitIndex?: number;
  state?: ProgressState;
  pendingSnapshot?: number;
  recentActive?: boolean;
  msgAppFlowPaused?: boolean;
  inflights: Inflights;
  isLearner?: boolean;
}

/**
 * A follower's progress as the leader sees it: how far its log is known to match, what to send it
 * next, and how to send (Raft paper §5.3: nextIndex and matchIndex). A small state machine whose
 * transitions the leader drives from raft.ts; some fields only mean something in some states.
 */
export class Progress {
  /** The index up to which the follower's log is known to match the leader's. */
  match: number;
  /**
   * The index of the next entry to send; entries in (match, next) are already in flight.
   * Invariant: 0 <= match < next (so next >= 1). In StateSnapshot, next === pendingSnapshot + 1.
   */
  next: number;
  /**
   * The highest commit index sent to the follower. Mostly monotonic, but it regresses when the
   * follower drops back to probing or rejects an append.
   * Invariant: in StateSnapshot, sentCommitIndex === pendingSnapshot === next - 1.
   */
  sentCommitIndex: number;
  /** How the leader talks to this follower: probing, replicating, or waiting on a snapshot. */
  state: ProgressState;
  /**
   * In StateSnapshot: the leader's last index when it found a snapshot necessary (the index of the
   * MsgSnap it sent). Replication stays paused until an MsgAppResp reconnects the follower to the
   * leader's log; the snapshot actually applied may be older or newer than this (an application may
   * send snapshots from elsewhere), which is why it is not required to match. If reportSnapshot says
   * the snapshot went through, probing resumes from pendingSnapshot + 1.
   * Invariant: 0 outside StateSnapshot.
   */
  pendingSnapshot: number;
  /**
   * True if the follower was heard from recently (any message counts). Reset after an election
   * timeout by CheckQuorum; always true for the leader itself.
   */
  recentActive: boolean;
  /**
   * True while the flow of MsgApps to the follower is throttled: in StateProbe after a probe, or in
   * StateReplicate with full Inflights. One MsgApp still goes out now and then (when a heartbeat
   * response clears this flag) so that progress is guaranteed without flooding the follower.
   */
  msgAppFlowPaused: boolean;
  /** The MsgApps in flight to this follower (used in StateReplicate). */
  inflights: Inflights;
  /** True if this progress tracks a learner (a non-voting member). */
  isLearner: boolean;

  constructor(init: ProgressInit) {
    this.match = init.match ?? 0;
    this.next = init.next ?? 0;
    this.sentCommitIndex = init.sentCommitIndex ?? 0;
    this.state = init.state ?? ProgressState.StateProbe;
    this.pendingSnapshot = init.pendingSnapshot ?? 0;
    this.recentActive = init.recentActive ?? false;
    this.msgAppFlowPaused = init.msgAppFlowPaused ?? false;
    this.inflights = init.inflights;
    this.isLearner = init.isLearner ?? false;
  }

  /** A copy that shares no memory with this one (its Inflights is cloned too). */
  clone(): Progress {
    return new Progress({
      match: this.match,
      next: this.next,
      sentCommitIndex: this.sentCommitIndex,
      state: this.state,
      pendingSnapshot: this.pendingSnapshot,
      recentActive: this.recentActive,
      msgAppFlowPaused: this.msgAppFlowPaused,
      inflights: this.inflights.clone(),
      isLearner: this.isLearner,
    });
  }

  /** Moves to `state`, clearing the flow pause, the pending snapshot and the inflights. */
  resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /**
   * Moves to StateProbe, probing from match + 1, or from just past the pending snapshot when
   * leaving StateSnapshot after the snapshot was reported applied (whichever is higher).
   */
  becomeProbe(): void {
    if (this.state === ProgressState.StateSnapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.StateProbe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.StateProbe);
      this.next = this.match + 1;
    }
    this.sentCommitIndex = Math.min(this.sentCommitIndex, this.next - 1);
  }

  /** Moves to StateReplicate, sending from match + 1. */
  becomeReplicate(): void {
    this.resetState(ProgressState.StateReplicate);
    this.next = this.match + 1;
  }

  /** Moves to StateSnapshot, waiting for the snapshot at index `snapshoti` to be applied. */
  becomeSnapshot(snapshoti: number): void {
    this.resetState(ProgressState.StateSnapshot);
    this.pendingSnapshot = snapshoti;
    this.next = snapshoti + 1;
    this.sentCommitIndex = snapshoti;
  }

  /**
   * Records an MsgApp carrying `entries` entries (`bytes` bytes of payload) appended from `next` on.
   * Only in StateProbe or StateReplicate; any other state is a bug (RaftPanic).
   */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case ProgressState.StateReplicate:
        if (entries > 0) {
          this.next += entries;
          this.inflights.add(this.next - 1, bytes);
        }
        // A message that fills the inflights, or one sent when they were full already, counts as
        // a probe: the flow pauses.
        this.msgAppFlowPaused = this.inflights.full();
        return;
      case ProgressState.StateProbe:
        // etcd pauses only after a non-empty probe (its TODO: any MsgApp in StateProbe is one).
        if (entries > 0) this.msgAppFlowPaused = true;
        return;
      default:
        throw new RaftPanic(`sending append in unhandled state ${ProgressState[this.state]}`);
    }
  }

  /**
   * True if sending commit index `index` may advance the follower's commit index: it is above what
   * was sent, and what was sent does not already take the follower's commit to next - 1 (the most
   * it can normally reach).
   */
  canBumpCommit(index: number): boolean {
    return index > this.sentCommitIndex && this.sentCommitIndex < this.next - 1;
  }

  /** Records that commit index `commit` was sent to the follower (etcd's `SentCommit`). */
  sentCommit(commit: number): void {
    this.sentCommitIndex = commit;
  }

  /**
   * Handles an MsgAppResp acknowledging index `n`. Returns false (changing nothing) if `n` is stale,
   * i.e. not above match; otherwise raises match (and next if needed) and resumes the flow.
   */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1); // keeps match < next
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Handles a rejected MsgApp: `rejected` is the index the follower refused to append after, and
   * `matchHint` its guess of the highest index that may match. Returns false, changing nothing, if
   * the rejection is stale (messages get reordered and duplicated); otherwise lowers next sensibly
   * and resumes the flow.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.StateReplicate) {
      // Stale if what was rejected is known to match already.
      if (rejected <= this.match) return false;
      // Restart right after match (etcd's TODO asks why not from the hint when it is larger).
      this.next = this.match + 1;
      this.sentCommitIndex = Math.min(this.sentCommitIndex, this.next - 1);
      return true;
    }
    // Outside StateReplicate one entry is probed at a time, so a genuine rejection is of next - 1.
    // (Best effort: reordering is assumed rare.)
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommitIndex = Math.min(this.sentCommitIndex, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * True if sending entries to this follower is throttled: it is waiting for a snapshot, or its flow
   * is paused (after a probe, or with full inflights). A paused follower is contacted less often
   * until it can take a steady stream again.
   */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.StateProbe:
      case ProgressState.StateReplicate:
        return this.msgAppFlowPaused;
      case ProgressState.StateSnapshot:
        return true;
      default:
        throw new RaftPanic("unexpected state");
    }
  }

  /** etcd's format: `StateReplicate match=5 next=6 learner paused pendingSnap=3 inactive inflight=2[full]`. */
  toString(): string {
    let s = `${ProgressState[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.isPaused()) s += " paused";
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += " inactive";
    const n = this.inflights.count();
    if (n > 0) {
      s += ` inflight=${n}`;
      if (this.inflights.full()) s += "[full]";
    }
    return s;
  }
}

/**
 * The leader's Progress for each peer, by node id. Kept as a Map, plus the ids in ascending order
 * (cached until the next `set`/`delete`/`clear`), so that every walk over the peers — and every
 * output that depends on it — goes in a stable order without sorting each time.
 */
export class ProgressMap extends Map<number, Progress> {
  /** Invariant: undefined, or the keys in ascending order. */
  #sorted: number[] | undefined;

  constructor() {
    super();
    this.#sorted = undefined;
  }

  override set(id: number, pr: Progress): this {
    if (!this.has(id)) this.#sorted = undefined;
    return super.set(id, pr);
  }

  override delete(id: number): boolean {
    const had = super.delete(id);
    if (had) this.#sorted = undefined;
    return had;
  }

  override clear(): void {
    super.clear();
    this.#sorted = undefined;
  }

  /**
   * The ids in ascending order. The array is shared and cached until the next change: read it, never
   * modify or keep it. (A change during a walk leaves the array being walked intact.)
   */
  sortedIds(): readonly number[] {
    let s = this.#sorted;
    if (s === undefined) {
      s = Array.from(this.keys()).sort((a, b) => a - b);
      this.#sorted = s;
    }
    return s;
  }

  /** One line per peer in id order, `<id>: <progress>\n` (etcd's format; ids in decimal here). */
  override toString(): string {
    let s = "";
    for (const id of this.sortedIds()) s += `${id}: ${this.get(id)!.toString()}\n`;
    return s;
  }
}
