/**
 * The contract between a {@link RaftNode} and the application's replicated state machine.
 *
 * The node hands every committed entry to `apply`, in log order, exactly once per state: after a
 * restart it asks `appliedIndex()` and skips what the state machine already has, so the state
 * machine must make each batch's effects and its applied index durable together (one transaction).
 */

/** One committed log entry, as the state machine sees it. */
export interface ApplyEntry {
  readonly index: number;
  readonly term: number;
  /**
   * `normal`: an application proposal (`data` is exactly what was passed to `propose`);
   * `empty`: a new leader's no-op entry; `conf-change`: a membership change, already applied to
   * Raft by the node (the state machine only records that its index was applied).
   */
  readonly kind: "normal" | "empty" | "conf-change";
  readonly data: Uint8Array;
}

/** The application's state machine. Implementations must be deterministic: same entries, same state. */
export interface StateMachine {
  /** The index of the last entry whose effects are durable here (0 for a fresh state machine). */
  appliedIndex(): number | Promise<number>;
  /**
   * Applies `entries` in order and advances the applied index to the last one's, atomically and
   * durably. Returns one result per entry (`undefined` for non-`normal` ones); the node resolves
   * the matching `propose()` promise with it on the node that proposed the entry.
   */
  apply(entries: readonly ApplyEntry[]): readonly unknown[] | Promise<readonly unknown[]>;
  /** A snapshot of the whole state at the current applied index. */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /** Replaces the whole state with `data`, a snapshot taken at `index`; the applied index becomes `index`. */
  restore(data: Uint8Array, index: number): void | Promise<void>;
}
