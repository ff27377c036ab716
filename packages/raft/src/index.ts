/**
 * @tsraft/raft: etcd's Raft consensus algorithm as a pure, deterministic state machine.
 *
 * Start with {@link RawNode}: feed it ticks, proposals and peers' messages; take its {@link Ready},
 * persist, send, apply, then `advance()`. See the package README for the loop. The names below come
 * in the order a user of RawNode meets them; the building blocks (etcd's tracker, quorum and
 * confchange packages) come last. Messages and entries are in `@tsraft/raft/raftpb`.
 */

// The node, and what it takes and gives.
export { RawNode, SnapshotStatus } from "./raw-node.js";
export type { Config } from "./config.js";
export { type Ready, type ReadState, type SoftState, StateType } from "./ready.js";
export { ReadOnlyOption } from "./read-only.js";
export type { Peer } from "./bootstrap.js";

// Storage: MemoryStorage, or your own Storage (which throws errCompacted() / errUnavailable()).
export { type InitialState, MemoryStorage, type Storage, type StorageCallStats } from "./storage.js";

// Errors: one type, matched by code. A broken invariant is not an error but a RaftPanic.
export {
  RaftError,
  isRaftError,
  type RaftErrorCode,
  errCompacted,
  errUnavailable,
  errSnapOutOfDate,
  errSnapshotTemporarilyUnavailable,
  errProposalDropped,
  errStepLocalMsg,
  errStepPeerNotFound,
  confChangeError,
  configInvalidError,
} from "./errors.js";
export { discardLogger, type Logger, panic, RaftPanic } from "./logger.js";

// Status, and constants.
export { type BasicStatus, type Status, statusToJSON } from "./status.js";
export { LocalAppendThread, LocalApplyThread, NO_LIMIT, None } from "./constants.js";

// The application's state machine, as RaftNode and the simulator drive it.
export {
  type ApplyEntry,
  type ApplyEntryKind,
  isDurableStateMachine,
  type MaybePromise,
  type StateMachine,
  type StateMachineSnapshot,
} from "./state-machine.js";

// Helpers of the Ready loop and of tests.
export { mustSync, ProgressType, setRandomizedElectionTimeout } from "./raw-node.js";
export { isLocalMsg, isLocalMsgTarget, isResponseMsg, voteRespMsgType } from "./util.js";
export { mixSeed, newRandom, Prng } from "./prng.js";

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

// The building blocks, for tools and tests (etcd's tracker, quorum and confchange packages).
export { Inflights, Progress, ProgressState, ProgressTracker, TrackerConfig } from "./tracker/index.js";
export { JointConfig, MajorityConfig, VoteResult } from "./quorum/index.js";
