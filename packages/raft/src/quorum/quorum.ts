/**
 * The vocabulary shared by majority and joint quorums: how a quorum learns what each voter has
 * acknowledged, and what a vote comes to.
 */

/**
 * Looks up the log index a voter has acknowledged (for the leader: the `match` of its Progress),
 * or `undefined` if nothing is known about that voter yet. "Unknown" and "acknowledged 0" are
 * different things to {@link MajorityConfig.describe}, though both count as 0 for commitment.
 *
 * Called once per voter by `committedIndex`; it must not call back into the same config.
 */
export type AckedIndexer = (voterId: number) => number | undefined;

/**
 * What {@link MajorityConfig.committedIndex} answers for a config with no voters (etcd's
 * `math.MaxUint64`): "no constraint", so that a joint config with an empty half behaves like its
 * other half. It prints as `∞` (see {@link formatIndex}).
 */
export const INDEX_UNBOUNDED: number = Number.MAX_SAFE_INTEGER;

/** Formats a log index as etcd's `quorum.Index` does: {@link INDEX_UNBOUNDED} is `∞`. */
export function formatIndex(i: number): string {
  return i === INDEX_UNBOUNDED ? "∞" : String(i);
}

/**
 * The outcome of a vote. Numbered as etcd numbers them, so `VoteResult[r]` is etcd's String()
 * (`"VotePending"`, `"VoteLost"`, `"VoteWon"`).
 */
export enum VoteResult {
  /** Neither "yes" nor "no" has reached a quorum yet: the outcome depends on votes still out. */
  VotePending = 1,
  /** A quorum has voted "no" (or can no longer vote "yes"). */
  VoteLost = 2,
  /** A quorum has voted "yes". */
  VoteWon = 3,
}

/** Formats a set of node ids as etcd does: sorted, in hex, space-separated, in parentheses. */
export function formatIdSet(ids: Iterable<number>): string {
  const sorted = Array.from(ids).sort((a, b) => a - b);
  let s = "(";
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0) s += " ";
    s += (sorted[i] as number).toString(16);
  }
  return `${s})`;
}
