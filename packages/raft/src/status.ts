/**
 * A snapshot of a node's state for monitoring and debugging (etcd's Status and BasicStatus), and
 * etcd's JSON rendering of it.
 */
import type { Raft } from "./raft.js";
import { StateType } from "./ready.js";
import { type Progress, ProgressState as PrState, type TrackerConfig } from "./tracker/index.js";
import { hex } from "./util.js";

/**
 * The cheap part of a node's status: identity, HardState (term, vote, commit), SoftState (lead,
 * raftState), the applied index and any leadership transfer in progress. etcd embeds HardState and
 * SoftState; here their fields are flattened into the object.
 */
export interface BasicStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  readonly lead: number;
  readonly raftState: StateType;
  readonly applied: number;
  readonly leadTransferee: number;
}

/**
 * The full status: BasicStatus plus a copy of the active configuration and, on a leader, a copy
 * of every peer's replication progress (keyed by id, in id order). Copies: mutating them changes
 * nothing in the node.
 */
export interface Status extends BasicStatus {
  readonly config: TrackerConfig;
  /** Empty unless this node is the leader. */
  readonly progress: ReadonlyMap<number, Progress>;
}

/** The BasicStatus of `r` (cheap: no copies of the configuration or progress). */
export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    term: r.term,
    vote: r.vote,
    commit: r.raftLog.committed,
    lead: r.lead,
    raftState: r.state,
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

/** The full Status of `r`, with copies of its configuration and (on a leader) its progress. */
export function getStatus(r: Raft): Status {
  const progress = new Map<number, Progress>();
  if (r.state === StateType.StateLeader) {
    r.trk.visit((id, pr) => {
      progress.set(id, pr.clone());
    });
  }
  return { ...getBasicStatus(r), config: r.trk.config.clone(), progress };
}

/**
 * etcd's JSON form of a Status (`Status.MarshalJSON`): ids in hex strings, states by name, the
 * progress of each peer as match/next/state. Peers are in id order (etcd's order is random).
 */
export function statusToJSON(s: Status): string {
  let j =
    `{"id":"${hex(s.id)}","term":${s.term},"vote":"${hex(s.vote)}","commit":${s.commit},` +
    `"lead":"${hex(s.lead)}","raftState":"${StateType[s.raftState]}","applied":${s.applied},"progress":{`;
  const parts: string[] = [];
  for (const [id, pr] of s.progress) {
    parts.push(`"${hex(id)}":{"match":${pr.match},"next":${pr.next},"state":"${PrState[pr.state]}"}`);
  }
  j += `${parts.join(",")}},"leadtransferee":"${hex(s.leadTransferee)}"}`;
  return j;
}
