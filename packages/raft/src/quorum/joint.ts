import { MajorityConfig } from "./majority.js";
import { type AckedIndexer, VoteResult } from "./quorum.js";

/**
 * Two majority configs that must both agree: joint consensus, C_{old,new} of the Raft thesis §4.3.
 * `incoming` (etcd's `Voters[0]`) is the configuration being moved to and the only one outside a
 * joint state; `outgoing` (etcd's `Voters[1]`) is the one being left, empty unless joint.
 *
 * An empty half decides nothing: it commits everything and wins every vote, so a non-joint config
 * behaves exactly like its incoming majority.
 */
export class JointConfig {
  /** The configuration being moved to (the whole configuration when not joint). */
  incoming: MajorityConfig;
  /** Invariant: empty unless the configuration is joint. */
  outgoing: MajorityConfig;

  constructor(
    incoming: MajorityConfig = new MajorityConfig(),
    outgoing: MajorityConfig = new MajorityConfig(),
  ) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  /** True while in a joint state, i.e. the outgoing half is non-empty. */
  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** True if `id` is a voter in either half. */
  has(id: number): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  /** A new set of the voters of both halves, in ascending order (etcd's `IDs`). */
  ids(): Set<number> {
    const all = [...this.incoming.sortedIds(), ...this.outgoing.sortedIds()].sort((a, b) => a - b);
    return new Set(all);
  }

  /** A config that shares nothing with this one. */
  clone(): JointConfig {
    return new JointConfig(this.incoming.clone(), this.outgoing.clone());
  }

  /** `(1 2 3)`, or `(1 2 3)&&(1 2)` when joint (etcd's format). */
  toString(): string {
    return this.outgoing.size > 0
      ? `${this.incoming.toString()}&&${this.outgoing.toString()}`
      : this.incoming.toString();
  }

  /** {@link MajorityConfig.describe} over the union of both halves' voters. */
  describe(l: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(l);
  }

  /** The highest index committed in both halves: the smaller of the two majorities' answers. */
  committedIndex(l: AckedIndexer): number {
    const i0 = this.incoming.committedIndex(l);
    if (this.outgoing.size === 0) return i0;
    return Math.min(i0, this.outgoing.committedIndex(l));
  }

  /** Won if both halves won, lost if either lost, otherwise pending. */
  voteResult(votes: ReadonlyMap<number, boolean>): VoteResult {
    const r0 = this.incoming.voteResult(votes);
    const r1 = this.outgoing.voteResult(votes);
    if (r0 === r1) return r0;
    if (r0 === VoteResult.VoteLost || r1 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }
}
