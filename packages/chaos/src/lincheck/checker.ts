/**
 * A linearizability checker: the Wing & Gong search (1993) with Lowe's just-in-time linearization and
 * a memo of visited configurations (Lowe, "Testing for linearizability", 2017), over independent
 * partitions of the history (Horn & Kroening's P-compositionality). The same algorithm as Go's
 * porcupine, written for JavaScript's strengths: typed arrays for the entry list and a Zobrist hash
 * of the linearized set, updated in O(1) per step.
 *
 * The search keeps the not-yet-linearized operations in a doubly linked list of call and return
 * entries sorted by time. Walking it from the head, every call met before the first return is an
 * operation that may take effect next (its call precedes every pending operation's return); the first
 * return met belongs to an operation that must have taken effect by then but did not, so the search
 * backtracks. Linearizing an operation unlinks its two entries (dancing links), and undoing it links
 * them back. A configuration — which operations are linearized and the model state they produced —
 * is explored once: any later path reaching the same configuration has the same future.
 */
import { Prng } from "@tsraft/raft";
import { ILLEGAL, type Model, type Operation } from "./model.js";

/** `illegal`: no linearization exists; `unknown`: the time budget ran out first (count it as a failure). */
export type CheckOutcome = "ok" | "illegal" | "unknown";

/** Options of {@link checkOperations}. */
export interface CheckOptions {
  /**
   * Wall-clock budget for the whole check, in milliseconds (default 30 000). When it runs out, the
   * partitions not yet decided report `unknown`, and so does the result unless one is `illegal`.
   */
  readonly timeoutMs?: number;
}

/** The verdict on one partition (one key, for a key-value store). */
export interface PartitionResult<I, O> {
  /** The partition's name (the key), or `"all"` for a model without partitions. */
  readonly name: string;
  readonly outcome: CheckOutcome;
  /** The partition's operations; the indexes below point into this array. */
  readonly operations: readonly Operation<I, O>[];
  /**
   * `ok`: a complete linearization, in order. Otherwise the longest partial linearization the search
   * reached: a prefix that is consistent, after which no pending operation could be placed.
   */
  readonly linearization: readonly number[];
  /** Search steps taken (one per attempted placement or backtrack): a measure of the work. */
  readonly steps: number;
  readonly elapsedMs: number;
}

/** The verdict on a history. */
export interface CheckResult<I, O> {
  /** `illegal` if any partition is; else `unknown` if any ran out of time; else `ok`. */
  readonly outcome: CheckOutcome;
  /** In partition-name order. */
  readonly partitions: readonly PartitionResult<I, O>[];
  readonly elapsedMs: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** How many search steps between two looks at the clock. */
const CLOCK_EVERY = 0x3ff;

/**
 * Checks `history` against `model`. Operations with an unknown outcome carry `return:
 * UNKNOWN_RETURN` and the model's unknown output: they may be placed anywhere after their call, the
 * end included (which means "never took effect"). Deterministic for a given history, except for
 * where a time budget cuts it short.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const start = performance.now();
  const deadline = start + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const parts = model.partition ? model.partition(history) : new Map([["all", [...history]]]);
  const names = [...parts.keys()].sort();
  const partitions: PartitionResult<I, O>[] = [];
  for (const name of names) {
    const operations = parts.get(name) ?? [];
    const t0 = performance.now();
    const r = searchPartition(model, operations, deadline);
    partitions.push({ name, operations, ...r, elapsedMs: performance.now() - t0 });
  }
  let outcome: CheckOutcome = "ok";
  if (partitions.some((p) => p.outcome === "unknown")) outcome = "unknown";
  if (partitions.some((p) => p.outcome === "illegal")) outcome = "illegal";
  return { outcome, partitions, elapsedMs: performance.now() - start };
}

interface SearchResult {
  outcome: CheckOutcome;
  linearization: number[];
  steps: number;
}

/** 32-bit Zobrist keys, one per operation, from a fixed-seed stream (determinism over luck). */
function zobristKeys(n: number): Uint32Array {
  const keys = new Uint32Array(n);
  const rng = new Prng(0x9e3779b9);
  for (let i = 0; i < n; i++) keys[i] = rng.u32();
  return keys;
}

interface Visited<S> {
  readonly bits: Uint32Array;
  readonly state: S;
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The search over one partition. Entry positions are 1..2n in time order; position 0 is the head. */
function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  deadline: number,
): SearchResult {
  const n = ops.length;
  // Entry code 2i is operation i's call, 2i+1 its return. Ties in time put calls first, so that
  // operations touching at an instant count as concurrent (the permissive reading).
  const codes = Array.from({ length: 2 * n }, (_, c) => c);
  const timeOf = (c: number): number => {
    const op = ops[c >> 1]!;
    return c & 1 ? op.return : op.call;
  };
  codes.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);

  const size = 2 * n + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const opAt = new Int32Array(size);
  const isCall = new Uint8Array(size);
  const matchOf = new Int32Array(size); // call position -> its return's position
  const posOf = new Int32Array(2 * n);
  for (let p = 1; p < size; p++) {
    const c = codes[p - 1]!;
    posOf[c] = p;
    opAt[p] = c >> 1;
    isCall[p] = c & 1 ? 0 : 1;
  }
  for (let i = 0; i < n; i++) matchOf[posOf[2 * i]!] = posOf[2 * i + 1]!;
  for (let p = 0; p < size; p++) {
    next[p] = p + 1 < size ? p + 1 : -1;
    prev[p] = p - 1;
  }

  const unlink = (p: number): void => {
    next[prev[p]!] = next[p]!;
    if (next[p] !== -1) prev[next[p]!] = prev[p]!;
  };
  const relink = (p: number): void => {
    next[prev[p]!] = p;
    if (next[p] !== -1) prev[next[p]!] = p;
  };

  const words = Math.max(1, Math.ceil(n / 32));
  const bits = new Uint32Array(words);
  const zobrist = zobristKeys(n);
  let setHash = 0;
  const visited = new Map<number, Visited<S>[]>();

  // The stack of linearized calls (positions) and the state before each.
  const stack = new Int32Array(n);
  const before: S[] = new Array(n);
  let depth = 0;
  let best: number[] = [];
  const recordBest = (): void => {
    if (depth > best.length) best = Array.from(stack.subarray(0, depth), (p) => opAt[p]!);
  };

  let state = model.init();
  let steps = 0;
  let e = next[0]!;
  while (next[0] !== -1) {
    if ((++steps & CLOCK_EVERY) === 0 && performance.now() > deadline) {
      recordBest();
      return { outcome: "unknown", linearization: best, steps };
    }
    if (isCall[e]) {
      const i = opAt[e]!;
      const op = ops[i]!;
      const after = model.step(state, op.input, op.output);
      if (after !== ILLEGAL) {
        const w = i >>> 5;
        const bit = 1 << (i & 31);
        bits[w]! |= bit;
        setHash ^= zobrist[i]!;
        const key = (setHash ^ Math.imul(model.hash(after), 0x9e3779b1)) | 0;
        let bucket = visited.get(key);
        let seen = false;
        if (bucket) {
          for (const v of bucket) {
            if (sameBits(v.bits, bits) && model.equal(v.state, after)) {
              seen = true;
              break;
            }
          }
        } else {
          bucket = [];
          visited.set(key, bucket);
        }
        if (!seen) {
          bucket.push({ bits: bits.slice(), state: after });
          stack[depth] = e;
          before[depth] = state;
          depth++;
          state = after;
          unlink(e);
          unlink(matchOf[e]!);
          e = next[0]!;
          continue;
        }
        bits[w]! &= ~bit;
        setHash ^= zobrist[i]!;
      }
      e = next[e]!;
    } else {
      // A return: its operation had to take effect before anything still in the list, and could not.
      if (depth === 0) return { outcome: "illegal", linearization: best, steps };
      recordBest();
      depth--;
      e = stack[depth]!;
      state = before[depth]!;
      const i = opAt[e]!;
      bits[i >>> 5]! &= ~(1 << (i & 31));
      setHash ^= zobrist[i]!;
      relink(matchOf[e]!);
      relink(e);
      e = next[e]!;
    }
  }
  return { outcome: "ok", linearization: Array.from(stack.subarray(0, depth), (p) => opAt[p]!), steps };
}
