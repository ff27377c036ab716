/**
 * The vocabulary of the linearizability checker: a recorded operation and the sequential model it is
 * checked against.
 *
 * A history is what clients saw: for each operation, when it was invoked (`call`), what it asked
 * (`input`), when its answer came back (`return`) and what the answer was (`output`). The checker asks
 * whether some total order of the operations (a linearization) both respects real time — an operation
 * that returned before another was called comes first — and, replayed one at a time on the model,
 * produces exactly the outputs observed (Herlihy & Wing, "Linearizability", 1990).
 */

/**
 * The `return` of an operation whose outcome the client never learnt (a timeout, a dropped connection):
 * it may take effect at any time after its call, or never. An operation with this return time can
 * always be placed after every other one, which is how "never" is expressed.
 */
export const UNKNOWN_RETURN = Number.POSITIVE_INFINITY;

/** One operation of a history. Times are any monotonic clock, in any unit, shared by all clients. */
export interface Operation<I, O> {
  /** Which client issued it (for reports; the checker does not assume clients are sequential). */
  readonly clientId: number;
  readonly input: I;
  /** Invocation time. */
  readonly call: number;
  /**
   * Response time; {@link UNKNOWN_RETURN} when the outcome is unknown. Invariant: `return >= call`.
   */
  readonly return: number;
  /** What the client observed; for an unknown outcome, the model's "unknown" output. */
  readonly output: O;
}

/** Returned by {@link Model.step} when an output is impossible in a state. */
export const ILLEGAL: unique symbol = Symbol("illegal");
/** The type of {@link ILLEGAL}. */
export type Illegal = typeof ILLEGAL;

/**
 * A sequential specification. `S` must be immutable: the search keeps old states to backtrack to, and
 * remembers (linearized set, state) pairs it has explored, comparing states with `equal`.
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `input` in `state` assuming the client observed `output`: the next state, or {@link ILLEGAL}
   * if the model could not have produced that output there. An unknown output must be accepted in
   * every state (the operation may have done whatever the model does there).
   */
  step(state: S, input: I, output: O): S | Illegal;
  /** Must agree with `equal`: equal states hash alike. A 32-bit integer. */
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  /**
   * Splits a history into independent parts (P-compositionality: Horn & Kroening, 2015): a history is
   * linearizable iff each part is. For a key-value store, one part per key. Omit for a single part.
   */
  partition?(history: readonly Operation<I, O>[]): Map<string, Operation<I, O>[]>;
  /** Human-readable text of an operation, for failure reports. */
  describeOperation(input: I, output: O): string;
  describeState(state: S): string;
}

/**
 * A history split by `keyOf` (one part per key, in the order keys first appear), for a model's
 * {@link Model.partition}.
 */
export function partitionBy<I, O>(
  history: readonly Operation<I, O>[],
  keyOf: (input: I) => string,
): Map<string, Operation<I, O>[]> {
  const parts = new Map<string, Operation<I, O>[]>();
  for (const op of history) {
    const key = keyOf(op.input);
    let part = parts.get(key);
    if (!part) {
      part = [];
      parts.set(key, part);
    }
    part.push(op);
  }
  return parts;
}
