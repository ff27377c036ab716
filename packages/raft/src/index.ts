/**
 * @tsraft/raft: etcd's Raft consensus algorithm as a pure, deterministic state machine.
 *
 * Start with {@link RawNode}: feed it ticks, proposals and peers' messages; take its {@link Ready},
 * persist, send, apply, then `advance()`. See the package README for the loop.
 */

// The node API.
export type { Peer } from "./bootstrap.js";
// The building blocks, for tools and tests (etcd's tracker, quorum and confchange packages).
export { ConfChangeError } from "./confchange/index.js";
export { type Config, ConfigInvalidError } from "./config.js";
// Errors and logging.
export { LocalAppendThread, LocalApplyThread, NO_LIMIT, None } from "./constants.js";
// etcd's Describe* texts.
export {
  defaultEntryFormatter,
  describeConfChange,
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
  describeTarget,
  type EntryFormatter,
} from "./describe.js";
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
export { JointConfig, MajorityConfig, VoteResult } from "./quorum/index.js";
export { mustSync, ProgressType, RawNode, SnapshotStatus, setRandomizedElectionTimeout } from "./raw-node.js";
export { ReadOnlyOption } from "./read-only.js";
export { type ReadState, type Ready, type SoftState, StateType } from "./ready.js";
export { type BasicStatus, type Status, statusToJSON } from "./status.js";
// The application's state machine, as RaftNode and the simulator drive it.
export {
  type ApplyEntry,
  type ApplyEntryKind,
  isDurableStateMachine,
  type MaybePromise,
  type StateMachine,
  type StateMachineSnapshot,
} from "./state-machine.js";
// Storage.
export { type InitialState, MemoryStorage, type Storage, type StorageCallStats } from "./storage.js";
export { Inflights, Progress, ProgressState, ProgressTracker, TrackerConfig } from "./tracker/index.js";
// Message classification (etcd's IsLocalMsg and friends).
export { isLocalMsg, isLocalMsgTarget, isResponseMsg, newRandom, voteRespMsgType } from "./util.js";
