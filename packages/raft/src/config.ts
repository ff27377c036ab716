/**
 * The parameters of a Raft node (etcd's `raft.Config`) and their validation.
 */
import { NO_LIMIT, None } from "./constants.js";
import { configInvalidError } from "./errors.js";
import { discardLogger, type Logger } from "./logger.js";
import { ReadOnlyOption } from "./read-only.js";
import type { Storage } from "./storage.js";
import { isLocalMsgTarget } from "./util.js";

/** The parameters to start a Raft node. Only `id`, `electionTick`, `heartbeatTick` and `storage` are required. */
export interface Config {
  /** This node's id: not 0 (None) and not one of the local thread ids. */
  id: number;
  /**
   * Ticks a follower waits without hearing from a leader before it campaigns. Must exceed
   * `heartbeatTick`; etcd suggests 10 × heartbeatTick to avoid needless leader changes. The actual
   * timeout is drawn at random in [electionTick, 2 × electionTick − 1] (Raft paper §5.2).
   */
  electionTick: number;
  /** Ticks between a leader's heartbeats. Must be > 0. */
  heartbeatTick: number;
  /**
   * Where the node reads its persisted log, HardState and configuration from. The application
   * appends to it what each Ready hands out; the core only reads.
   */
  storage: Storage;
  /**
   * The last applied index, when restarting: entries up to it are not handed out again. Leaving it
   * at 0 on a restart re-delivers applied entries (the application must then tolerate replays).
   */
  applied?: number;
  /**
   * Write to storage through MsgStorageAppend/MsgStorageApply messages (to LocalAppendThread /
   * LocalApplyThread) instead of the Ready/advance calls: writes can then be pipelined. In this
   * mode `RawNode.advance` must not be called.
   */
  asyncStorageWrites?: boolean;
  /**
   * Byte limit of the entries in one MsgApp (their encoded size): smaller values make probing and
   * lost messages cheaper, larger ones raise replication throughput. 0 (the default, as in etcd)
   * sends at most one entry per message; `NO_LIMIT` lifts the limit.
   */
  maxSizePerMsg?: number;
  /**
   * Byte limit of committed entries being applied at once (across Readys, and across unacknowledged
   * MsgStorageApply messages in async mode). Defaults to `maxSizePerMsg`; if that is 0 too, one entry
   * at a time (etcd panics on its first commit in that case).
   */
  maxCommittedSizePerReady?: number;
  /**
   * Byte limit (payload bytes) of the uncommitted tail of a leader's log; proposals beyond it are
   * dropped with a "ProposalDropped" RaftError. 0 (the default) means no limit.
   */
  maxUncommittedEntriesSize?: number;
  /** Most MsgApp messages in flight to one follower during optimistic replication. Must be > 0. */
  maxInflightMsgs: number;
  /**
   * Most payload bytes in flight to one follower (bounds the bandwidth-delay product). 0 (the
   * default) means no limit; otherwise it must be ≥ `maxSizePerMsg`.
   */
  maxInflightBytes?: number;
  /**
   * The leader steps down when it has not heard from a quorum in an election timeout, and nodes
   * that heard from a leader recently ignore vote requests (the leader lease, Raft thesis §6.2).
   */
  checkQuorum?: boolean;
  /** Run a pre-election first, so a partitioned node cannot disrupt the cluster (Raft thesis §9.6). */
  preVote?: boolean;
  /**
   * How ReadIndex requests are answered: `ReadOnlySafe` / `"safe"` (default) confirms leadership
   * with a heartbeat round; `ReadOnlyLeaseBased` / `"lease-based"` trusts the lease and requires
   * `checkQuorum`.
   */
  readOnlyOption?: ReadOnlyOption | "safe" | "lease-based";
  /** Where the core's log lines go; silent when unset. */
  logger?: Logger;
  /**
   * Followers drop proposals instead of forwarding them to the leader (for applications where the
   * leader must build the proposal's data itself).
   */
  disableProposalForwarding?: boolean;
  /**
   * Skip the propose-time checks of conf changes against the active configuration (one pending
   * change; enter/leave joint only when not/already joint). Only safe if the application serializes
   * and validates conf changes itself: an invalid change that gets applied makes the core panic.
   */
  disableConfChangeValidation?: boolean;
  /** A leader removed from the configuration (or demoted to learner) steps down. */
  stepDownOnRemoval?: boolean;
  /**
   * The source of randomness for election timeouts: returns numbers in [0, 1). Defaults to
   * `newRandom(id)`, a PRNG seeded from the node id, so runs are reproducible.
   */
  random?: () => number;
}

/** A validated Config with every default filled in. */
export interface ValidConfig {
  readonly id: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly storage: Storage;
  readonly applied: number;
  readonly asyncStorageWrites: boolean;
  readonly maxSizePerMsg: number;
  readonly maxCommittedSizePerReady: number;
  readonly maxUncommittedEntriesSize: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  readonly logger: Logger;
  readonly disableProposalForwarding: boolean;
  readonly disableConfChangeValidation: boolean;
  readonly stepDownOnRemoval: boolean;
  readonly random: (() => number) | undefined;
}

/**
 * Checks `c` as etcd does and fills in the defaults (0 limits mean "no limit", maxCommittedSizePerReady
 * follows maxSizePerMsg). Throws a "ConfigInvalid" RaftError with etcd's message.
 */
export function validateConfig(c: Config): ValidConfig {
  const fail = (msg: string): never => {
    throw configInvalidError(msg);
  };
  if (c.id === None) fail("cannot use none as id");
  if (isLocalMsgTarget(c.id)) fail("cannot use local target as id");
  if (!Number.isSafeInteger(c.id) || c.id < 0) fail("id must be a non-negative safe integer");
  if (!(c.heartbeatTick > 0)) fail("heartbeat tick must be greater than 0");
  if (!(c.electionTick > c.heartbeatTick)) fail("election tick must be greater than heartbeat tick");
  if (c.storage == null) fail("storage cannot be nil");

  const maxSizePerMsg = c.maxSizePerMsg ?? 0;
  const maxUncommittedEntriesSize = c.maxUncommittedEntriesSize || NO_LIMIT;
  // maxCommittedSizePerReady defaults to maxSizePerMsg: they were one parameter once. When both are 0,
  // etcd panics at the first commit ("applying entry size (0-0)=0 not positive"); we read 0 as
  // maxSizePerMsg's 0 is read — at most one entry at a time — so a default Config works.
  const maxCommittedSizePerReady = c.maxCommittedSizePerReady || maxSizePerMsg || 1;

  if (!(c.maxInflightMsgs > 0)) fail("max inflight messages must be greater than 0");
  let maxInflightBytes = c.maxInflightBytes ?? 0;
  if (maxInflightBytes === 0) maxInflightBytes = NO_LIMIT;
  else if (maxInflightBytes < maxSizePerMsg) fail("max inflight bytes must be >= max message size");

  const readOnlyOption = normalizeReadOnlyOption(c.readOnlyOption);
  if (readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased && !c.checkQuorum) {
    fail("CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased");
  }

  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied: c.applied ?? 0,
    asyncStorageWrites: c.asyncStorageWrites ?? false,
    maxSizePerMsg,
    maxCommittedSizePerReady,
    maxUncommittedEntriesSize,
    maxInflightMsgs: c.maxInflightMsgs,
    maxInflightBytes,
    checkQuorum: c.checkQuorum ?? false,
    preVote: c.preVote ?? false,
    readOnlyOption,
    logger: c.logger ?? discardLogger,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    disableConfChangeValidation: c.disableConfChangeValidation ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    random: c.random,
  };
}

function normalizeReadOnlyOption(o: Config["readOnlyOption"]): ReadOnlyOption {
  switch (o) {
    case undefined:
    case ReadOnlyOption.ReadOnlySafe:
      return ReadOnlyOption.ReadOnlySafe;
    case ReadOnlyOption.ReadOnlyLeaseBased:
      return ReadOnlyOption.ReadOnlyLeaseBased;
    default:
      throw configInvalidError(`unknown ReadOnlyOption ${String(o)}`);
  }
}
