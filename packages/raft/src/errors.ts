/**
 * Expected failures, as etcd reports them: each is a {@link RaftError} with a stable `code` and
 * etcd's message as its text. Broken invariants are not RaftErrors: see `panic` in logger.ts.
 */

export type RaftErrorCode =
  | "ProposalDropped"
  | "StepLocalMsg"
  | "StepPeerNotFound"
  | "Compacted"
  | "SnapOutOfDate"
  | "Unavailable"
  | "SnapshotTemporarilyUnavailable"
  | "ConfChangeInvalid"
  | "ConfigInvalid"
  | "Decode";

export class RaftError extends Error {
  override name = "RaftError";
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** True if `e` is a RaftError (of the given code, if one is given). */
export function isRaftError(e: unknown, code?: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && (code === undefined || e.code === code);
}

// One factory per expected failure, etcd's message as its text. Each call makes a fresh error (its
// stack is the throw's); match them with isRaftError(e, code), never by identity.

/** A proposal was ignored: no leader known, a leadership transfer is running, or a limit was hit. */
export function errProposalDropped(message = "raft proposal dropped"): RaftError {
  return new RaftError("ProposalDropped", message);
}

/** `RawNode.step` was handed a message type that only the core itself may generate. */
export function errStepLocalMsg(): RaftError {
  return new RaftError("StepLocalMsg", "raft: cannot step raft local message");
}

/** A response message came from a node that is not in the configuration. */
export function errStepPeerNotFound(): RaftError {
  return new RaftError("StepPeerNotFound", "raft: cannot step as peer not found");
}

/** Storage: the requested index is below the first available one (compacted away). */
export function errCompacted(): RaftError {
  return new RaftError("Compacted", "requested index is unavailable due to compaction");
}

/** Storage: the snapshot given is older than the one already held. */
export function errSnapOutOfDate(): RaftError {
  return new RaftError("SnapOutOfDate", "requested index is older than the existing snapshot");
}

/** Storage: the requested index is past the last one held. */
export function errUnavailable(): RaftError {
  return new RaftError("Unavailable", "requested entry at index is unavailable");
}

/** Storage: a snapshot is being prepared; the core retries later. */
export function errSnapshotTemporarilyUnavailable(): RaftError {
  return new RaftError("SnapshotTemporarilyUnavailable", "snapshot is temporarily unavailable");
}

/** A conf change that cannot apply to the current configuration (nothing changed). */
export function confChangeError(message: string): RaftError {
  return new RaftError("ConfChangeInvalid", message);
}

/** A Config that failed validation; the message is etcd's. */
export function configInvalidError(message: string): RaftError {
  return new RaftError("ConfigInvalid", message);
}
