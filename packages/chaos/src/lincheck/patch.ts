/**
 * What the cluster's committed log says about a history: etcd's "patch history" step, which settles
 * most ambiguous writes before the linearizability check, and the durability check that every
 * acknowledged write is in the log.
 *
 * An ambiguous write (its client timed out) either committed or never will once the run is over and
 * the nodes are stopped. Values are unique, so a put's or compare-and-swap's entry is found by its
 * value: absent from the committed log, the operation never took effect and leaves the history;
 * present, it did take effect, and no later than the return of any acknowledged write that sits after
 * it in the log (a log index is committed, hence visible, before any higher one is acknowledged).
 * Fewer ambiguous operations is what keeps the search fast.
 */
import { type KvOperation, OK, UNKNOWN } from "./kv-model.js";
import { UNKNOWN_RETURN } from "./model.js";

/** A write in the cluster's committed log, decoded from an entry. */
export interface CommittedWrite {
  /** The entry's Raft log index. */
  readonly index: number;
  readonly type: "put" | "delete";
  readonly key: string;
  /** The value written (`put`), else null. */
  readonly value: string | null;
  /** The compare-and-swap condition, if any. */
  readonly prev: string | null;
}

/** What {@link patchKvHistory} did. */
export interface PatchResult {
  readonly history: KvOperation[];
  /** Ambiguous operations before patching. */
  readonly ambiguousBefore: number;
  /** Ambiguous writes found absent from the log, and ambiguous reads: removed. */
  readonly removed: number;
  /** Ambiguous writes found in the log: kept, with their outcome and a return time bound placed. */
  readonly placed: number;
  /** Operations still ambiguous afterwards (unknown return time). */
  readonly ambiguousAfter: number;
}

function isUnknown(op: KvOperation): boolean {
  return op.return === UNKNOWN_RETURN || op.output.type === "unknown";
}

/** The value a write operation would leave, for matching it with its log entry. */
function writeValue(op: KvOperation): string | undefined {
  return op.input.type === "put" || op.input.type === "cas" ? op.input.value : undefined;
}

/**
 * Settles the ambiguous operations of `history` from the committed log `log` (every committed write,
 * in index order, read after the run from the nodes that were stopped). Reads without an answer are
 * removed (they changed nothing). Deletes carry no unique value, so they are settled by counting,
 * per key: with no more deletes in the log than were acknowledged, the ambiguous ones never applied
 * (removed); with exactly one more per ambiguous delete, they all applied, each no later than the
 * key's last delete in the log (placed); otherwise they stay ambiguous. Sound only if a request is
 * proposed at most once, which the runner checks by request id.
 */
export function patchKvHistory(history: readonly KvOperation[], log: readonly CommittedWrite[]): PatchResult {
  const indexOfValue = new Map<string, number>();
  const deletesInLog = new Map<string, number>();
  for (const w of log) {
    if (w.type === "put" && w.value !== null && !indexOfValue.has(w.value))
      indexOfValue.set(w.value, w.index);
    if (w.type === "delete") deletesInLog.set(w.key, (deletesInLog.get(w.key) ?? 0) + 1);
  }
  const ackedDeletes = new Map<string, number>();
  const ambiguousDeletes = new Map<string, number>();
  const lastDeleteIndex = new Map<string, number>();
  for (const w of log) if (w.type === "delete") lastDeleteIndex.set(w.key, w.index);
  for (const op of history) {
    if (op.input.type !== "delete") continue;
    const counts = isUnknown(op) ? ambiguousDeletes : op.output.type === "ok" ? ackedDeletes : undefined;
    counts?.set(op.input.key, (counts.get(op.input.key) ?? 0) + 1);
  }

  // For a bound on when an ambiguous write took effect: acknowledged writes by log index, with the
  // earliest return among those at or after each position.
  // A compare-and-swap answered 412 had its entry applied too, so it bounds as well as a success.
  const acked = history
    .filter((op) => !isUnknown(op) && (op.output.type === "ok" || op.output.type === "mismatch"))
    .map((op) => {
      const v = writeValue(op);
      return { index: v === undefined ? undefined : indexOfValue.get(v), ret: op.return };
    })
    .filter((a): a is { index: number; ret: number } => a.index !== undefined)
    .sort((a, b) => a.index - b.index);
  const suffixMin = new Array<number>(acked.length + 1).fill(UNKNOWN_RETURN);
  for (let k = acked.length - 1; k >= 0; k--) suffixMin[k] = Math.min(acked[k]!.ret, suffixMin[k + 1]!);
  const boundAfter = (index: number): number => {
    let lo = 0;
    let hi = acked.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (acked[mid]!.index <= index) lo = mid + 1;
      else hi = mid;
    }
    return suffixMin[lo]!;
  };

  let ambiguousBefore = 0;
  let removed = 0;
  let placed = 0;
  const out: KvOperation[] = [];
  for (const op of history) {
    if (!isUnknown(op)) {
      out.push(op);
      continue;
    }
    ambiguousBefore++;
    const { input } = op;
    if (input.type === "get") {
      removed++;
      continue;
    }
    if (input.type === "delete") {
      const extra = (deletesInLog.get(input.key) ?? 0) - (ackedDeletes.get(input.key) ?? 0);
      if (extra <= 0) removed++;
      else if (extra === ambiguousDeletes.get(input.key)) {
        placed++;
        const ret = Math.max(op.call, boundAfter(lastDeleteIndex.get(input.key)!));
        out.push({ ...op, return: ret, output: OK });
      } else out.push({ ...op, return: UNKNOWN_RETURN, output: UNKNOWN });
      continue;
    }
    const index = indexOfValue.get(input.value);
    if (index === undefined) {
      removed++;
      continue;
    }
    placed++;
    // A put in the log applied; a compare-and-swap's entry applied only if it matched, which the model
    // decides from the state, so its output stays unknown (with the bound it can no longer vanish
    // past the end of the history).
    const ret = Math.max(op.call, boundAfter(index));
    out.push({ ...op, return: ret, output: input.type === "put" ? OK : UNKNOWN });
  }
  const ambiguousAfter = out.filter((op) => op.return === UNKNOWN_RETURN).length;
  return { history: out, ambiguousBefore, removed, placed, ambiguousAfter };
}

/** What {@link checkAcknowledgedWrites} found wrong. Empty lists mean every acknowledged write is there. */
export interface DurabilityReport {
  /** Acknowledged puts and successful compare-and-swaps whose value is not in the committed log. */
  readonly lostWrites: readonly KvOperation[];
  /** Keys with fewer deletes in the log than were acknowledged, with the shortfall. */
  readonly lostDeletes: ReadonlyMap<string, number>;
  /** Values committed more than once (a request applied twice). */
  readonly duplicated: readonly string[];
  /** Values committed that no client ever wrote. */
  readonly phantoms: readonly string[];
  /** Keys with more deletes committed than clients sent (acknowledged or ambiguous), with the excess. */
  readonly phantomDeletes: ReadonlyMap<string, number>;
}

/**
 * Checks, independently of linearizability, that every acknowledged write made it into the committed
 * log exactly once, and that the log holds nothing no client asked for (a write left out of the
 * history because the server said it was never proposed counts as not asked for).
 */
export function checkAcknowledgedWrites(
  history: readonly KvOperation[],
  log: readonly CommittedWrite[],
): DurabilityReport {
  const count = new Map<string, number>();
  const deletesInLog = new Map<string, number>();
  for (const w of log) {
    if (w.type === "put" && w.value !== null) count.set(w.value, (count.get(w.value) ?? 0) + 1);
    if (w.type === "delete") deletesInLog.set(w.key, (deletesInLog.get(w.key) ?? 0) + 1);
  }
  const lostWrites: KvOperation[] = [];
  const asked = new Set<string>();
  const ackedDeletes = new Map<string, number>();
  for (const op of history) {
    const v = writeValue(op);
    if (v !== undefined) asked.add(v);
    if (isUnknown(op) || op.output.type !== "ok") continue;
    if (v !== undefined && !count.has(v)) lostWrites.push(op);
    if (op.input.type === "delete") ackedDeletes.set(op.input.key, (ackedDeletes.get(op.input.key) ?? 0) + 1);
  }
  const lostDeletes = new Map<string, number>();
  for (const [key, n] of ackedDeletes) {
    const short = n - (deletesInLog.get(key) ?? 0);
    if (short > 0) lostDeletes.set(key, short);
  }
  const sentDeletes = new Map<string, number>();
  for (const op of history) {
    const ambiguous = isUnknown(op);
    if (op.input.type === "delete" && (ambiguous || op.output.type === "ok"))
      sentDeletes.set(op.input.key, (sentDeletes.get(op.input.key) ?? 0) + 1);
  }
  const phantomDeletes = new Map<string, number>();
  for (const [key, n] of deletesInLog) {
    const excess = n - (sentDeletes.get(key) ?? 0);
    if (excess > 0) phantomDeletes.set(key, excess);
  }
  const duplicated = [...count].filter(([, n]) => n > 1).map(([v]) => v);
  const phantoms = [...count.keys()].filter((v) => !asked.has(v));
  return { lostWrites, lostDeletes, duplicated, phantoms, phantomDeletes };
}
