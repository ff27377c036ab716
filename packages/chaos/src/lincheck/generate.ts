/**
 * Test material for the checker: histories of a simulated linearizable key-value store with concurrent
 * clients, and mutations of them that break linearizability the way real bugs do (a stale read, a lost
 * write, a duplicated apply, writes applied out of order). A checker must pass the first and flag
 * every one of the second.
 */
import { Rng } from "../random.js";
import {
  type KvInput,
  type KvOperation,
  type KvOutput,
  type KvState,
  MISMATCH,
  OK,
  UNKNOWN,
} from "./kv-model.js";
import { UNKNOWN_RETURN } from "./model.js";

/** Options of {@link generateKvHistory}. */
export interface GenerateOptions {
  readonly seed: number;
  readonly operations: number;
  readonly keys: number;
  readonly clients: number;
  /** Fraction of operations whose client never learns the outcome (default 0). */
  readonly ambiguous?: number;
  /** Fraction of slow operations (latency 20–100 instead of 0.5–8.5), widening concurrency (default 0.02). */
  readonly slow?: number;
}

/** A generated history and how the simulated store actually ran it. */
export interface GeneratedHistory {
  /** In invocation order. Values written are unique (`v<index>`). */
  readonly history: readonly KvOperation[];
  /** For each operation, when the store applied it; `NaN` for an ambiguous one that never took effect. */
  readonly points: readonly number[];
}

/**
 * Simulates `clients` closed-loop clients against a store that applies each operation atomically at a
 * random instant between its call and its return: the result is linearizable by construction (the
 * order of those instants is a witness). Ambiguous operations take effect (or not, with equal odds)
 * up to three latencies after their call, possibly after the client's next operation.
 */
export function generateKvHistory(options: GenerateOptions): GeneratedHistory {
  const rng = new Rng(options.seed);
  const clientTime = new Array<number>(options.clients).fill(0);
  const written = new Map<string, string[]>();
  const inputs: KvInput[] = [];
  const meta: { clientId: number; call: number; ret: number; point: number }[] = [];
  const slow = options.slow ?? 0.02;

  for (let j = 0; j < options.operations; j++) {
    let c = 0;
    for (let k = 1; k < options.clients; k++) if (clientTime[k]! < clientTime[c]!) c = k;
    const call = clientTime[c]! + rng.float() * 2;
    const latency = rng.chance(slow) ? 20 + rng.float() * 80 : 0.5 + rng.float() * 8;
    const key = `k${rng.int(0, options.keys - 1)}`;
    const value = `v${j}`;
    const kind = rng.float();
    let input: KvInput;
    if (kind < 0.4) input = { type: "get", key };
    else if (kind < 0.7) input = { type: "put", key, value };
    else if (kind < 0.85) {
      const seen = written.get(key) ?? [];
      const prev = seen.length === 0 || rng.chance(0.2) ? `v${rng.int(0, j)}` : seen[seen.length - 1]!;
      input = { type: "cas", key, prev, value };
    } else input = { type: "delete", key };
    if (input.type === "put" || input.type === "cas") {
      const seen = written.get(key) ?? [];
      seen.push(value);
      written.set(key, seen);
    }

    if (rng.chance(options.ambiguous ?? 0)) {
      const effective = input.type !== "get" && rng.chance(0.5);
      const point = effective ? call + rng.float() * latency * 3 : Number.NaN;
      meta.push({ clientId: c, call, ret: UNKNOWN_RETURN, point });
      clientTime[c] = call + latency;
    } else {
      meta.push({ clientId: c, call, ret: call + latency, point: call + rng.float() * latency });
      clientTime[c] = call + latency;
    }
    inputs.push(input);
  }

  // Run the store: apply the effective operations in point order and record what each returned.
  const outputs: KvOutput[] = new Array(inputs.length).fill(UNKNOWN);
  const order = meta
    .map((_, i) => i)
    .filter((i) => !Number.isNaN(meta[i]!.point))
    .sort((a, b) => meta[a]!.point - meta[b]!.point || a - b);
  const state = new Map<string, KvState>();
  for (const i of order) {
    const input = inputs[i]!;
    const cur = state.get(input.key) ?? null;
    let out: KvOutput;
    switch (input.type) {
      case "get":
        out = { type: "value", value: cur };
        break;
      case "put":
        state.set(input.key, input.value);
        out = OK;
        break;
      case "delete":
        state.set(input.key, null);
        out = OK;
        break;
      case "cas":
        if (cur === input.prev) {
          state.set(input.key, input.value);
          out = OK;
        } else out = MISMATCH;
        break;
    }
    if (meta[i]!.ret !== UNKNOWN_RETURN) outputs[i] = out;
  }
  const history = inputs.map((input, i) => ({
    clientId: meta[i]!.clientId,
    input,
    call: meta[i]!.call,
    return: meta[i]!.ret,
    output: outputs[i]!,
  }));
  return { history, points: meta.map((m) => m.point) };
}

/** The bugs {@link mutateKvHistory} can plant. */
export type MutationKind = "stale-read" | "lost-write" | "duplicated-apply" | "reordered-writes";

/** Every {@link MutationKind}. */
export const MUTATION_KINDS: readonly MutationKind[] = [
  "stale-read",
  "lost-write",
  "duplicated-apply",
  "reordered-writes",
];

/** A mutated history, with what was changed. */
export interface Mutation {
  readonly kind: MutationKind;
  readonly history: KvOperation[];
  /** Which operations changed, in words. */
  readonly description: string;
  /** Indexes of the operations whose output was changed. */
  readonly changed: readonly number[];
}

/** The value a definite, successful write left (put or compare-and-swap), or undefined. */
function writtenValue(op: KvOperation): string | undefined {
  if (op.return === UNKNOWN_RETURN || op.output.type !== "ok") return undefined;
  return op.input.type === "put" || op.input.type === "cas" ? op.input.value : undefined;
}

/** True when `op` may change its key: any write except a compare-and-swap known to have failed. */
function mayWrite(op: KvOperation): boolean {
  if (op.input.type === "get") return false;
  return !(op.input.type === "cas" && op.output.type === "mismatch");
}

function readsValue(op: KvOperation, value: string | null): boolean {
  return (
    op.input.type === "get" &&
    op.return !== UNKNOWN_RETURN &&
    op.output.type === "value" &&
    op.output.value === value
  );
}

/** Indexes 0..n-1 starting at a random offset (so each seed plants the bug somewhere else). */
function rotated(n: number, rng: Rng): number[] {
  const start = n === 0 ? 0 : rng.int(0, n - 1);
  return Array.from({ length: n }, (_, k) => (start + k) % n);
}

/**
 * Plants a bug of `kind` in a generated history. Each site is chosen so that the result is provably
 * not linearizable (an argument from real-time order and unique values, written at each case), so a
 * checker that passes it is wrong. Returns undefined if the history has no suitable site.
 */
export function mutateKvHistory(gen: GeneratedHistory, kind: MutationKind, rng: Rng): Mutation | undefined {
  const h = gen.history;
  // Effective operations per key, in the order the store applied them.
  const applied = new Map<string, number[]>();
  for (let i = 0; i < h.length; i++) {
    if (Number.isNaN(gen.points[i]!) || h[i]!.input.type === "get") continue;
    const list = applied.get(h[i]!.input.key) ?? [];
    list.push(i);
    applied.set(h[i]!.input.key, list);
  }
  for (const list of applied.values()) list.sort((a, b) => gen.points[a]! - gen.points[b]! || a - b);
  // Only writes that took effect matter below; failed compare-and-swaps change nothing.
  for (const [key, list] of applied)
    applied.set(
      key,
      list.filter((i) => h[i]!.output.type !== "mismatch"),
    );

  const withOutputs = (changes: Map<number, KvOutput>, description: string): Mutation => ({
    kind,
    history: h.map((op, i) => {
      const out = changes.get(i);
      return out ? { ...op, output: out } : op;
    }),
    description,
    changed: [...changes.keys()].sort((a, b) => a - b),
  });
  const readOf = (value: string | null): KvOutput => ({ type: "value", value });

  switch (kind) {
    case "stale-read": {
      // W1 (writes a) returned before W2 (overwrites) was called, W2 returned before G was called:
      // every linearization orders W1 < W2 < G, and only W1 ever writes a, so G cannot read a.
      for (const g of rotated(h.length, rng)) {
        const G = h[g]!;
        if (G.input.type !== "get" || G.return === UNKNOWN_RETURN) continue;
        const writes = applied.get(G.input.key) ?? [];
        for (let k = writes.length - 1; k >= 1; k--) {
          const W2 = h[writes[k]!]!;
          if (W2.return === UNKNOWN_RETURN || W2.return >= G.call) continue;
          const w1 = writes
            .slice(0, k)
            .find((i) => writtenValue(h[i]!) !== undefined && h[i]!.return < W2.call);
          if (w1 === undefined) continue;
          const a = writtenValue(h[w1]!)!;
          return withOutputs(new Map([[g, readOf(a)]]), `op ${g} reads ${a}, overwritten by op ${writes[k]}`);
        }
      }
      return undefined;
    }
    case "lost-write": {
      // P (writes w) is acknowledged, yet every read of w now sees what was there before. G, the first
      // read of w called after P returned, had no write but P overlapping [P.call, G.return]: so P is
      // the last write before G in every linearization, and G cannot read anything but w.
      for (const p of rotated(h.length, rng)) {
        const P = h[p]!;
        if (P.input.type !== "put" || writtenValue(P) === undefined) continue;
        const w = P.input.value;
        const key = P.input.key;
        const list = applied.get(key) ?? [];
        const pos = list.indexOf(p);
        const before = pos > 0 ? (writtenValue(h[list[pos - 1]!]!) ?? null) : null;
        if (
          pos > 0 &&
          h[list[pos - 1]!]!.input.type !== "delete" &&
          writtenValue(h[list[pos - 1]!]!) === undefined
        )
          continue; // the previous write's value is not known for sure
        const reads = h.map((_, i) => i).filter((i) => h[i]!.input.key === key && readsValue(h[i]!, w));
        const after = reads.filter((i) => h[i]!.call > P.return).sort((a, b) => h[a]!.call - h[b]!.call);
        if (after.length === 0) continue;
        const G = h[after[0]!]!;
        const overlaps = h.some(
          (op, i) =>
            i !== p && op.input.key === key && mayWrite(op) && op.call <= G.return && op.return >= P.call,
        );
        if (overlaps) continue;
        return withOutputs(
          new Map(reads.map((i) => [i, readOf(before)])),
          `put ${p} (${w}) lost: ${reads.length} reads now see ${before ?? "absent"}`,
        );
      }
      return undefined;
    }
    case "duplicated-apply":
    case "reordered-writes": {
      // W1 (writes a) returned before W2 (writes b) was called; they are consecutive in the store. A
      // duplicated apply of W1 after W2, or W2 applied before W1, makes reads after W2 see a: every
      // linearization has W1 < W2 < G, and only W1 writes a, so G cannot read a.
      for (const key of [...applied.keys()].sort()) {
        const list = applied.get(key)!;
        for (const k of rotated(list.length, rng)) {
          if (k === 0) continue;
          const w1 = list[k - 1]!;
          const w2 = list[k]!;
          const a = writtenValue(h[w1]!);
          const b = writtenValue(h[w2]!);
          if (a === undefined || b === undefined || h[w1]!.return >= h[w2]!.call) continue;
          const late = h
            .map((_, i) => i)
            .filter((i) => h[i]!.input.key === key && readsValue(h[i]!, b) && h[i]!.call > h[w2]!.return);
          if (late.length === 0) continue;
          const changes = new Map<number, KvOutput>(late.map((i) => [i, readOf(a)]));
          if (kind === "reordered-writes") {
            // W1 not yet applied when acknowledged: reads of a after W1 returned still see the old value.
            const prevPos = k - 2;
            const old = prevPos >= 0 ? (writtenValue(h[list[prevPos]!]!) ?? null) : null;
            for (let i = 0; i < h.length; i++) {
              if (h[i]!.input.key === key && readsValue(h[i]!, a) && h[i]!.call > h[w1]!.return)
                changes.set(i, readOf(old));
            }
          }
          return withOutputs(
            changes,
            `ops ${w1} (${a}) and ${w2} (${b}) on ${key}: ${changes.size} reads changed`,
          );
        }
      }
      return undefined;
    }
  }
}
