/**
 * What the simulation's checkers report: the properties by name, the violation error, and the view
 * of a node they need.
 */
import type { RawNode } from "../../raw-node.js";
import type { MemoryStorage } from "../../storage.js";

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

/** What the checker needs to see of a simulated node. */
export interface CheckedNode {
  readonly id: number;
  /** The running core, or undefined while the node is down. */
  readonly rn: RawNode | undefined;
  /** The node's durable storage (what survives a crash). */
  readonly durable: MemoryStorage;
  /** The index of the last entry the node's state machine applied. */
  readonly appliedIndex: number;
  /** Removed from the cluster and shut down for good (it will never vote again). */
  readonly removed: boolean;
}
