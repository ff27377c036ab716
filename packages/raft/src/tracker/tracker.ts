import { JointConfig } from "../quorum/joint.js";
import { formatIdSet, VoteResult } from "../quorum/quorum.js";
import type { ConfState } from "../raftpb/types.js";
import { type Progress, ProgressMap } from "./progress.js";

const sortIds = (ids: Iterable<number>): number[] => Array.from(ids).sort((a, b) => a - b);

/**
 * The membership a {@link ProgressTracker} works with (etcd's `tracker.Config`): who votes, who
 * learns, and what happens when a joint configuration is left.
 */
export class TrackerConfig {
  /** The voters; joint while a configuration change is under way (Raft thesis §4.3). */
  voters: JointConfig;
  /**
   * True if the configuration is joint and the leader is to leave it on its own as soon as it can;
   * if false, a joint configuration lasts until the application leaves it.
   * Invariant: false unless joint.
   */
  autoLeave: boolean;
  /**
   * The learners of the current configuration.
   * Invariant: disjoint from both halves of `voters`, so that a peer's role never depends on which
   * half is asked.
   */
  learners: Set<number>;
  /**
   * Peers to become learners once the joint configuration is left. Demoting voter 3 of (1 2 3)
   * cannot make 3 a learner on entering the joint configuration (1 2)&&(1 2 3), since 3 still votes
   * in the outgoing half; it waits here until the outgoing half is dropped. A learner added that is
   * not an outgoing voter goes straight to `learners`, to start catching up at once.
   * Invariant: a subset of `voters.outgoing`; empty unless joint.
   */
  learnersNext: Set<number>;

  constructor(
    voters: JointConfig = new JointConfig(),
    learners: Set<number> = new Set(),
    learnersNext: Set<number> = new Set(),
    autoLeave = false,
  ) {
    this.voters = voters;
    this.learners = learners;
    this.learnersNext = learnersNext;
    this.autoLeave = autoLeave;
  }

  /**
   * A config that shares no memory with this one. (etcd's Clone drops AutoLeave, which nothing
   * there relies on; this one keeps it.)
   */
  clone(): TrackerConfig {
    return new TrackerConfig(
      this.voters.clone(),
      new Set(this.learners),
      new Set(this.learnersNext),
      this.autoLeave,
    );
  }

  /** etcd's format: `voters=(1 2)&&(1) learners=(3) learners_next=(4) autoleave` (ids in hex). */
  toString(): string {
    let s = `voters=${this.voters.toString()}`;
    if (this.learners.size > 0) s += ` learners=${formatIdSet(this.learners)}`;
    if (this.learnersNext.size > 0) s += ` learners_next=${formatIdSet(this.learnersNext)}`;
    if (this.autoLeave) s += " autoleave";
    return s;
  }
}

/** The outcome of counting votes: granted and rejected counts (informational) and the result. */
export interface VoteTally {
  granted: number;
  rejected: number;
  result: VoteResult;
}

/**
 * What the leader knows of the group: the active configuration, each peer's Progress (match index,
 * replication state), and the votes of the current election. The committed index follows from the
 * voters' match indexes.
 */
export class ProgressTracker {
  /** The active configuration; replaced as a whole when a configuration change is applied. */
  config: TrackerConfig;
  /**
   * The Progress of every peer in the configuration (voters of both halves and learners).
   * Invariant: its keys are exactly the ids of `config`.
   */
  progress: ProgressMap;
  /** The votes of the current election: id → granted. Only the first vote of each peer counts. */
  votes: Map<number, boolean>;
  /** The Inflights count limit given to every new Progress. */
  readonly maxInflight: number;
  /** The Inflights byte limit given to every new Progress (0: none). */
  readonly maxInflightBytes: number;
  /** Looks up a voter's match index in whatever `progress` holds at the time of the call. */
  readonly #matchIndexer = (id: number): number | undefined => this.progress.get(id)?.match;

  /** An empty tracker: no voters, no progress; new peers' Inflights get the limits given. */
  constructor(maxInflight: number, maxInflightBytes: number) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
    this.config = new TrackerConfig();
    this.progress = new ProgressMap();
    this.votes = new Map();
  }

  /** The active configuration as a ConfState (every list sorted). */
  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.slice(),
      learners: sortIds(this.config.learners),
      votersOutgoing: this.config.voters.outgoing.slice(),
      learnersNext: sortIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /** True if (and only if) there is exactly one voter and the configuration is not joint. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  /** The highest log index the voters have acknowledged by quorum (both halves, when joint). */
  committed(): number {
    return this.config.voters.committedIndex(this.#matchIndexer);
  }

  /**
   * Calls `f` for every tracked peer in ascending id order (etcd's `Visit`): use it wherever the
   * order can show in output. Peers `f` removes before they are reached are skipped.
   */
  visit(f: (id: number, pr: Progress) => void): void {
    const progress = this.progress;
    const ids = progress.sortedIds();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const pr = progress.get(id);
      if (pr !== undefined) f(id, pr);
    }
  }

  /**
   * True if a quorum of voters was recently active (heard from since the last CheckQuorum reset),
   * as seen by the leader.
   */
  quorumActive(): boolean {
    const active = new Map<number, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) active.set(id, pr.recentActive);
    });
    return this.config.voters.voteResult(active) === VoteResult.VoteWon;
  }

  /** The voters of both halves, sorted. */
  voterNodes(): number[] {
    return Array.from(this.config.voters.ids());
  }

  /** The learners, sorted. */
  learnerNodes(): number[] {
    return sortIds(this.config.learners);
  }

  /** Starts a new round of vote counting. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records peer `id`'s vote (granted if `v`); later votes of the same peer are ignored. */
  recordVote(id: number, v: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, v);
  }

  /**
   * Counts the votes of the current round: granted and rejected among tracked voters (votes of
   * peers no longer in the configuration are left out of the counts), and the election's result.
   */
  tallyVotes(): VoteTally {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
