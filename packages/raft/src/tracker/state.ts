/**
 * How the leader replicates to one follower (etcd's `tracker.StateType`). Numbered as etcd numbers
 * them, so `ProgressState[s]` is etcd's String(): `"StateProbe"`, `"StateReplicate"`, `"StateSnapshot"`.
 * (Named apart from the node roles of `StateType` in ready.ts, which the root barrel also exports.)
 */
export enum ProgressState {
  /**
   * The follower's last index is unknown: the leader sends at most one MsgApp per heartbeat interval
   * to probe it. Normally one round suffices, as the follower answers with a hint; a follower probed
   * for long is usually offline.
   */
  StateProbe = 0,
  /** The steady state: the follower eagerly receives entries, bounded by its Inflights. */
  StateReplicate = 1,
  /**
   * The follower needs entries the leader no longer has (compacted away); nothing more is sent until
   * a snapshot brings it back.
   */
  StateSnapshot = 2,
}
