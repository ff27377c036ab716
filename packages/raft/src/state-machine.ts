/**
 * The application's replicated state machine, as every driver of the core sees it: `RaftNode` in
 * `@tsraft/node` (which re-exports these types) and the simulator in `@tsraft/raft/rafttest`. One
 * implementation runs in both, so the state machine a user deploys is the one they property-test.
 *
 * The core itself never calls a state machine; this module only fixes the contract (hence no I/O
 * here). Two kinds of implementation fit it:
 *
 * - **Durable** (tsraft-kv's SQLite, etcd's bbolt backend): the state lives in storage of its own
 *   and `sync()` makes it durable at the applied index. A driver compacts its log up to that index
 *   without copying the state; it asks for an image only when a follower needs one.
 * - **Volatile** (in memory; no `sync`): the driver makes the state durable by streaming
 *   `snapshot()` into a snapshot file now and then (hashicorp/raft's FSMSnapshot.Persist). After a
 *   restart such a state machine starts empty (`appliedIndex()` is 0); the driver restores it from
 *   the newest snapshot file and then applies the log after it.
 *
 * Every method may return a value or a promise. A driver calls them one at a time, in log order: it
 * never calls one before the previous one settled.
 */

/** A value, or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What a committed entry is to the state machine. `normal`: an application proposal (`data` is
 * exactly what was proposed); `empty`: a new leader's no-op (or a driver's own, e.g. the
 * simulator's liveness probe; `data` is empty); `conf-change`: a membership change the driver has
 * already applied to Raft (`data` is the encoded ConfChange or ConfChangeV2; most state machines
 * only note that its index was applied).
 */
export type ApplyEntryKind = "normal" | "empty" | "conf-change";

/** One committed log entry, as the state machine sees it. */
export interface ApplyEntry {
  readonly index: number;
  readonly term: number;
  readonly kind: ApplyEntryKind;
  readonly data: Uint8Array;
}

/**
 * A point-in-time image of a state machine, taken by {@link StateMachine.snapshot} (hashicorp/raft's
 * FSMSnapshot). It must not change when later entries are applied: copy the state, hold a read
 * transaction, or share immutable data.
 */
export interface StateMachineSnapshot {
  /** The applied index the image is consistent at: the state after applying entries 1..index. */
  readonly index: number;
  /**
   * The image, chunk by chunk, read at most once. A driver pulls chunks only as fast as it can
   * write or send them, so an implementation that produces them lazily (a cursor, a file read)
   * never holds the whole image in memory. Any chunk size works; 64 KiB to 1 MiB suits the disk
   * and the network. Throwing fails the transfer or the save; the state machine is unaffected.
   */
  read(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /**
   * Releases what holds the image (a read transaction, a temp file). Called exactly once: after
   * `read` was consumed to the end, failed, was abandoned, or was never called.
   */
  release(): void;
}

/**
 * The application's state machine. Implementations must be deterministic: the same entries from the
 * same state give the same state and the same results, on every node.
 *
 * `R` is what applying one `normal` entry returns; the driver resolves the proposer's `propose()`
 * with it (on the node that proposed the entry).
 */
export interface StateMachine<R = unknown> {
  /**
   * The index of the last entry applied (0 for a fresh state machine). After a restart: the index of
   * the state it recovered: 0 for a volatile one, the index its storage holds for a durable one
   * (which may be below what it had applied before the crash: the driver applies the rest again).
   */
  appliedIndex(): number;
  /**
   * Applies committed entries, in log order, each exactly once: the driver never passes an entry at
   * or below `appliedIndex()`. Returns one result per entry, in the same order (`undefined` for
   * entries that are not `normal`). Throwing means the state machine is broken: the driver stops.
   * A durable implementation need not make the batch durable here (see {@link sync}).
   */
  apply(entries: readonly ApplyEntry[]): MaybePromise<readonly (R | undefined)[]>;
  /**
   * Durable state machines only. Makes the state at the current applied index durable and resolves
   * with that index (which, at the time of the call, is `appliedIndex()`). The driver calls it every
   * `snapshotCount` applied entries, between two `apply` calls, and then compacts its log up to the
   * index it resolves with; it keeps applying meanwhile, so the slow part (an fsync) should run off
   * the event loop. Leave it out for a volatile state machine.
   */
  sync?(): Promise<number>;
  /**
   * A consistent image of the state at the current applied index, for a follower that needs it (and,
   * for volatile state machines, for the snapshot file). Called between two `apply` calls: capture
   * the state before returning (or before the returned promise's first `await` yields to an
   * `apply`); the image is read later, while entries keep being applied.
   */
  snapshot(): MaybePromise<StateMachineSnapshot>;
  /**
   * Replaces the whole state with an image made by `snapshot()` (on this node or another), read from
   * `image`; the applied index becomes `index`. Throws if the image is not a valid one, leaving the
   * state as it was. A durable implementation must replace its storage atomically — a crash during
   * `restore` leaves the old state or the new one, never a mix — and durably: once `restore`
   * resolves, a restart finds the new state (the driver then deletes its copy of the image).
   */
  restore(index: number, image: AsyncIterable<Uint8Array>): MaybePromise<void>;
}

/** True if `sm` keeps its own durable state (implements {@link StateMachine.sync}). */
export function isDurableStateMachine<R>(
  sm: StateMachine<R>,
): sm is StateMachine<R> & { sync(): Promise<number> } {
  return typeof sm.sync === "function";
}
