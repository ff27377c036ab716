/** {@link RaftNode.status}'s shape: Raft's state and, on a leader, every member's progress. */
import { ProgressState, StateType, type Status } from "@tsraft/raft";
import type { Member } from "./membership.js";

/** A peer's replication progress, as the leader tracks it. */
export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  /** "StateProbe" | "StateReplicate" | "StateSnapshot". */
  readonly state: string;
  readonly learner: boolean;
  readonly recentActive: boolean;
  /** Appends to it are paused (too many in flight, or probing). */
  readonly paused: boolean;
}

/** {@link RaftNode.status}: JSON-friendly (ids are numbers; keys of `progress` are decimal ids). */
export interface RaftNodeStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  /** The index applied to the state machine on this node. */
  readonly applied: number;
  readonly lead: number;
  /** "StateFollower" | "StateCandidate" | "StateLeader" | "StatePreCandidate". */
  readonly state: string;
  readonly leadTransferee: number;
  /** The index of the last snapshot this node took (compaction) or restored. */
  readonly snapshotIndex: number;
  /** On the leader only: every member's progress. */
  readonly progress?: Readonly<Record<string, PeerProgress>>;
  readonly members: Member[];
}

/** Builds the status from the core's, the applied index, the last snapshot and the members. */
export function nodeStatus(
  s: Status,
  applied: number,
  snapshotIndex: number,
  members: Member[],
): RaftNodeStatus {
  const base = {
    id: s.id,
    term: s.term,
    vote: s.vote,
    commit: s.commit,
    applied,
    lead: s.lead,
    state: StateType[s.raftState],
    leadTransferee: s.leadTransferee,
    snapshotIndex,
    members,
  };
  if (s.raftState !== StateType.StateLeader) return base;
  const progress: Record<string, PeerProgress> = {};
  for (const [id, pr] of s.progress) {
    progress[String(id)] = {
      match: pr.match,
      next: pr.next,
      state: ProgressState[pr.state],
      learner: pr.isLearner,
      recentActive: pr.recentActive,
      paused: pr.isPaused(),
    };
  }
  return { ...base, progress };
}
