/**
 * What the simulation's checkers report: the properties by name, the violation error, and the view
 * of a node they need.
 */
import type { RawNode } from "../../raw-node.js";
import type { LogRecord } from "./log-record.js";

/** The properties the checker enforces (the `invariant` of an {@link InvariantViolation}). */
export type InvariantName =
  /** At most one leader per term (Raft paper §5.2). */
  | "election-safety"
  /** Two logs holding an entry with the same index and term hold the same entries up to it (§5.3). */
  | "log-matching"
  /** A new leader holds every entry committed in an earlier term (§5.4). */
  | "leader-completeness"
  /** Every node applies the same entry at each index, in order, and only committed ones (§5.4.3). */
  | "state-machine-safety"
  /** A node's commit index never goes back, and no two entries are committed at one index. */
  | "commit-safety"
  /** What a node persisted never goes back: term, vote (within a term) and commit on disk. */
  | "durable-state"
  /** A vote granted is never forgotten, even across a crash (one vote per term, figure 2). */
  | "vote-durability"
  /** An acknowledged append survives a crash, and committed entries are never lost. */
  | "ack-durability"
  /**
   * An entry is committed only once a majority of each half of the committing leader's
   * configuration holds it on disk (Raft paper §5.3, thesis §4.3 for joint configurations).
   */
  | "commit-quorum"
  /** A leader was voted for by a majority of each half of its configuration (paper §5.2, thesis §4.3). */
  | "election-quorum"
  /**
   * Applying a configuration change gives the configuration the change prescribes (the simulator's
   * own model of membership, config-model.ts).
   */
  | "configuration"
  /**
   * A node campaigns only when it may: never with a committed configuration change it has not
   * applied yet (its configuration may already be replaced; etcd's hup).
   */
  | "campaign"
  /**
   * With CheckQuorum, a node that heard from its leader less than an election timeout ago neither
   * moves to a new term for a vote request nor grants it (thesis §4.2.3), unless the request is
   * part of a leadership transfer.
   */
  | "leader-lease"
  /**
   * A leader hands leadership over (MsgTimeoutNow) only to a node that acknowledged its whole log
   * (thesis §3.10): otherwise the entries the target lacks are lost.
   */
  | "leader-transfer"
  /** A ReadIndex answer is at least the commit index when the read was issued (thesis §6.4). */
  | "read-index"
  /** A leader's Progress bookkeeping is consistent and truthful (match < next, match held...). */
  | "progress"
  /**
   * The application's state machine broke its contract (packages/raft/src/state-machine.ts): it
   * threw, reported an applied index other than what it was handed, or returned the wrong results.
   */
  | "state-machine"
  /** The core threw (a RaftPanic: one of etcd's own assertions, or a crash of the code). */
  | "core-panic"
  /** After every fault healed, the cluster did not elect a leader and commit within the bound. */
  | "liveness";

/** A broken property. `step` is the schedule step it was detected at (set by the simulation). */
export class InvariantViolation extends Error {
  override name = "InvariantViolation";
  /**
   * The step (1-based) of the schedule during which it was detected; in the liveness phase, after
   * the schedule, the number of its last step.
   */
  step = 0;

  constructor(
    readonly invariant: InvariantName,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

/**
 * What the checker needs to see of a simulated node: the core's outputs (term, vote, role, commit
 * index, through `rn`) and the simulator's own records of its logs, never the core's log code.
 */
export interface CheckedNode {
  readonly id: number;
  /** The running core, or undefined while the node is down. */
  readonly rn: RawNode | undefined;
  /** The log the core handed out (Ready entries and snapshots), this incarnation. */
  readonly log: LogRecord;
  /** The log on the node's disk (what survives a crash). */
  readonly durableLog: LogRecord;
  /** The index of the last entry the node's state machine applied. */
  readonly appliedIndex: number;
  /** Removed from the cluster and shut down for good (it will never vote again). */
  readonly removed: boolean;
  /** True while a snapshot handed out by the core is not written yet (the node may not campaign). */
  readonly snapshotPending: boolean;
  /** Ticks of the node's own clock so far (all incarnations). */
  readonly ticks: number;
}
