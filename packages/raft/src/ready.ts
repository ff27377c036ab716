import type { Entry, HardState, Message, Snapshot } from "./raftpb/types.js";

/** The role of a node. Only `become*` in raft.ts changes it. */
export enum StateType {
  StateFollower = 0,
  StateCandidate = 1,
  StateLeader = 2,
  StatePreCandidate = 3,
}

/**
 * Volatile state that is useful to log or to drive behaviour (who leads, what role we play);
 * it need not be persisted.
 */
export interface SoftState {
  lead: number;
  raftState: StateType;
}

/**
 * The answer to a ReadIndex request: once the application has applied up to `index`, a read made
 * under `requestCtx` is linearizable (Raft thesis §6.4).
 */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/**
 * The work the core hands to its driver: state to persist, entries to append and to apply,
 * messages to send. All of it is read-only for the caller. See RawNode for the order to follow.
 */
export interface Ready {
  /** Set when lead or role changed since the last Ready. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed: persist it before sending `messages`. */
  readonly hardState: HardState | undefined;
  /** ReadIndex answers (see {@link ReadState}). */
  readonly readStates: readonly ReadState[];
  /** Entries to append to stable storage before sending `messages`. */
  readonly entries: readonly Entry[];
  /** A snapshot to persist and apply (undefined if none). */
  readonly snapshot: Snapshot | undefined;
  /** Entries committed and ready to apply to the state machine (persisted already). */
  readonly committedEntries: readonly Entry[];
  /**
   * Messages to send once `entries` and `hardState` are durable (a leader may send its own in parallel
   * with its write: Raft thesis §10.2.1). In asyncStorageWrites mode it also carries
   * MsgStorageAppend/MsgStorageApply for the local append and apply threads.
   */
  readonly messages: readonly Message[];
  /** True if `hardState` and `entries` must be written durably (fsync) before `messages` go out. */
  readonly mustSync: boolean;
}
