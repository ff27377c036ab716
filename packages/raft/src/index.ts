/**
 * @tsraft/raft: etcd's Raft consensus algorithm as a pure, deterministic state machine.
 */
export { LocalAppendThread, LocalApplyThread, NO_LIMIT, None } from "./constants.js";
export {
  CompactedError,
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrUnavailable,
  isRaftError,
  ProposalDroppedError,
  RaftError,
  type RaftErrorCode,
  SnapOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  StepLocalMsgError,
  StepPeerNotFoundError,
  UnavailableError,
} from "./errors.js";
export { discardLogger, type Logger, panic, RaftPanic } from "./logger.js";
