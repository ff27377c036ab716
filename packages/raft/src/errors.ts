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

/** A proposal was ignored: no leader known, a leadership transfer is running, or a limit was hit. */
export class ProposalDroppedError extends RaftError {
  override name = "ProposalDroppedError";
  constructor(message = "raft proposal dropped") {
    super("ProposalDropped", message);
  }
}

/** `RawNode.step` was handed a message type that only the core itself may generate. */
export class StepLocalMsgError extends RaftError {
  override name = "StepLocalMsgError";
  constructor() {
    super("StepLocalMsg", "raft: cannot step raft local message");
  }
}

/** A response message came from a node that is not in the configuration. */
export class StepPeerNotFoundError extends RaftError {
  override name = "StepPeerNotFoundError";
  constructor() {
    super("StepPeerNotFound", "raft: cannot step as peer not found");
  }
}

/** Storage: the requested index is below the first available one (compacted away). */
export class CompactedError extends RaftError {
  override name = "CompactedError";
  constructor() {
    super("Compacted", "requested index is unavailable due to compaction");
  }
}

/** Storage: the snapshot given is older than the one already held. */
export class SnapOutOfDateError extends RaftError {
  override name = "SnapOutOfDateError";
  constructor() {
    super("SnapOutOfDate", "requested index is older than the existing snapshot");
  }
}

/** Storage: the requested index is past the last one held. */
export class UnavailableError extends RaftError {
  override name = "UnavailableError";
  constructor() {
    super("Unavailable", "requested entry at index is unavailable");
  }
}

/** Storage: a snapshot is being prepared; the core retries later. */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  override name = "SnapshotTemporarilyUnavailableError";
  constructor() {
    super("SnapshotTemporarilyUnavailable", "snapshot is temporarily unavailable");
  }
}

/**
 * Shared instances for the hot paths (storage lookups in normal operation): compare with
 * `isRaftError(e, code)` or `instanceof`; their stacks say nothing useful.
 */
export const ErrCompacted: CompactedError = new CompactedError();
export const ErrSnapOutOfDate: SnapOutOfDateError = new SnapOutOfDateError();
export const ErrUnavailable: UnavailableError = new UnavailableError();
export const ErrSnapshotTemporarilyUnavailable: SnapshotTemporarilyUnavailableError =
  new SnapshotTemporarilyUnavailableError();
export const ErrProposalDropped: ProposalDroppedError = new ProposalDroppedError();
export const ErrStepLocalMsg: StepLocalMsgError = new StepLocalMsgError();
export const ErrStepPeerNotFound: StepPeerNotFoundError = new StepPeerNotFoundError();
