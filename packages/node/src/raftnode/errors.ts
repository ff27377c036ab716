/**
 * What a {@link RaftNode}'s promises reject with. Every error has a stable `code` so that callers
 * (the KV server maps them to HTTP statuses) branch without matching text, and
 * {@link isRaftNodeError} tells them apart from bugs.
 */

/** The codes of {@link RaftNodeError}. */
export type RaftNodeErrorCode =
  /** No leader is known: the request was not accepted (retry later; HTTP 503). */
  | "NoLeader"
  /** The request was dropped by Raft (leadership transfer in progress, uncommitted-size quota...). */
  | "ProposalDropped"
  /** No answer within the timeout. A proposal or conf change **may still apply** (HTTP 504). */
  | "Timeout"
  /**
   * The leader the request was handed to is gone (this node lost it, or it lost leadership) before
   * the request settled. A proposal or conf change **may still apply** (its entry may be in the
   * next leader's log, or on its way there); retry it only if applying it twice is harmless or
   * deduplicated (tsraft-kv's idempotency keys). A read changed nothing: retry it.
   */
  | "LeaderChanged"
  /**
   * This node appended the proposal as leader, lost leadership, and has since applied an entry of
   * a later term without it: it **will never apply** (a later leader's entries took its place).
   * Safe to retry.
   */
  | "Superseded"
  /** The node stopped (or failed, see `cause`) before the request settled. */
  | "Stopped"
  /** The caller's AbortSignal fired; `cause` is the signal's reason. */
  | "Aborted"
  /** Too many requests are pending on this node (the bound is `maxPendingProposals`/`maxPendingReads`). */
  | "TooManyRequests"
  /** The proposal is larger than `maxRequestBytes`. */
  | "RequestTooLarge"
  /** A conf change adds an id that is already a member. */
  | "MemberExists"
  /** A conf change names an id that is not a member. */
  | "MemberNotFound"
  /** A conf change adds an id that was removed before: ids are never reused (etcd's rule). */
  | "MemberRemoved"
  /** A promotion of a member that is not a learner. */
  | "MemberNotLearner"
  /** Leadership transfer to a learner. */
  | "MemberIsLearner"
  /** A conf change adds a member with a peer URL another member has. */
  | "UrlExists"
  /** A malformed argument (id, URL). */
  | "InvalidArgument"
  /** Another process (or RaftNode) holds the data directory's lock (data-dir-lock.ts). */
  | "DataDirInUse"
  /** The data directory holds another node's or another cluster's WAL (a wrong --data-dir or --id). */
  | "DataDirMismatch";

/**
 * The one error type of the node layer: every rejection of a {@link RaftNode} request is one, with a
 * stable `code`. Match it with {@link isRaftNodeError}, never by message or class identity.
 */
export class RaftNodeError extends Error {
  override name = "RaftNodeError";
  constructor(
    readonly code: RaftNodeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True if `e` is a {@link RaftNodeError} (of the given code, if one is given). */
export function isRaftNodeError(e: unknown, code?: RaftNodeErrorCode): e is RaftNodeError {
  return e instanceof RaftNodeError && (code === undefined || e.code === code);
}

/** No leader is known, so the request could not be handed to one. Safe to retry. */
export function noLeaderError(what = "request"): RaftNodeError {
  return new RaftNodeError("NoLeader", `raftnode: ${what} dropped: no leader`);
}

/** Raft dropped the proposal though a leader is known (e.g. a leadership transfer is under way). */
export function droppedError(what = "proposal", cause?: unknown): RaftNodeError {
  return new RaftNodeError("ProposalDropped", `raftnode: ${what} dropped by raft`, { cause });
}

/** The request timed out. A proposal or conf change may still be applied later. */
export function timeoutError(what: string, ms: number): RaftNodeError {
  return new RaftNodeError("Timeout", `raftnode: ${what} timed out after ${ms} ms (it may still be applied)`);
}

/** The request's leader is gone; a proposal may still apply (see the code's comment). */
export function leaderChangedError(what = "request"): RaftNodeError {
  return new RaftNodeError(
    "LeaderChanged",
    `raftnode: ${what} ended: its leader is gone (it may still be applied)`,
  );
}

/** A proposal this node appended as leader was overtaken by a later term's entries: never applied. */
export function supersededError(what = "proposal"): RaftNodeError {
  return new RaftNodeError(
    "Superseded",
    `raftnode: ${what} not applied: leadership was lost and a later leader's entries took its place`,
  );
}

/** The node stopped before the request settled; `cause` is why, when it was not a plain `stop()`. */
export function stoppedError(cause?: unknown): RaftNodeError {
  const why = cause === undefined ? "" : `: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new RaftNodeError("Stopped", `raftnode: stopped${why}`, cause === undefined ? undefined : { cause });
}

/** The caller aborted the wait; `cause` is the AbortSignal's reason. */
export function abortedError(reason: unknown): RaftNodeError {
  return new RaftNodeError("Aborted", "raftnode: request aborted", { cause: reason });
}
