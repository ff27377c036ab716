import { type AckedIndexer, formatIdSet, INDEX_UNBOUNDED, VoteResult } from "./quorum.js";

/** Up to this many voters, committedIndex sorts by insertion (no call, no comparator). */
const INSERTION_SORT_MAX = 16;

/**
 * A set of voter ids deciding by simple majority (Raft paper §5.2, §5.3): an index is committed once
 * more than half of the voters have it, an election is won with more than half of the votes.
 *
 * Iteration, {@link MajorityConfig.sortedIds} and every output go in ascending id order, so results
 * never depend on the order in which ids were added.
 *
 * {@link MajorityConfig.committedIndex} runs on the leader for every MsgAppResp, so the config keeps
 * its ids sorted in an array beside the set and a scratch buffer for the acked indexes: in steady
 * state it allocates nothing. The price is that an instance is not re-entrant (an AckedIndexer must
 * not call back into the same config) and must only be changed through its methods.
 */
export class MajorityConfig implements Iterable<number> {
  /** The voters. */
  readonly #ids = new Set<number>();
  /** Invariant: undefined, or the ids of `#ids` in ascending order (reset by every change). */
  #sorted: number[] | undefined = undefined;
  /** Reused by committedIndex; its length is the config's size when last used. */
  #scratch: Float64Array | undefined = undefined;

  /** A config of the given voters (duplicates collapse). */
  constructor(ids: Iterable<number> = []) {
    for (const id of ids) this.#ids.add(id);
  }

  /** The number of voters. */
  get size(): number {
    return this.#ids.size;
  }

  /** True if `id` is a voter. */
  has(id: number): boolean {
    return this.#ids.has(id);
  }

  /** Makes `id` a voter (a no-op if it is one). */
  add(id: number): this {
    if (!this.#ids.has(id)) {
      this.#ids.add(id);
      this.#sorted = undefined;
    }
    return this;
  }

  /** Removes voter `id`; returns whether it was one. */
  delete(id: number): boolean {
    const had = this.#ids.delete(id);
    if (had) this.#sorted = undefined;
    return had;
  }

  /** Removes every voter. */
  clear(): void {
    if (this.#ids.size === 0) return;
    this.#ids.clear();
    this.#sorted = undefined;
  }

  /**
   * The voters in ascending order. The array is shared and cached until the next change: read it,
   * never modify or keep it (use {@link MajorityConfig.slice} for a copy of your own).
   */
  sortedIds(): readonly number[] {
    let s = this.#sorted;
    if (s === undefined) {
      s = Array.from(this.#ids).sort((a, b) => a - b);
      this.#sorted = s;
    }
    return s;
  }

  /** Iterates the voters in ascending order. */
  [Symbol.iterator](): Iterator<number> {
    return this.sortedIds()[Symbol.iterator]();
  }

  /** The voters in ascending order, as a new array (etcd's `Slice`). */
  slice(): number[] {
    return this.sortedIds().slice();
  }

  /** A config with the same voters that shares nothing with this one. */
  clone(): MajorityConfig {
    return new MajorityConfig(this.sortedIds());
  }

  /** `(1 2 3)`: the voters sorted, in hex (node ids print in hex throughout etcd's output). */
  toString(): string {
    return formatIdSet(this.sortedIds());
  }

  /**
   * A table of what each voter has acknowledged, one line per voter in id order, with a bar that
   * grows with the index (equal indexes, equal bars) and `?` for a voter `l` knows nothing about.
   * This is etcd's exact format, which its conformance scripts print.
   */
  describe(l: AckedIndexer): string {
    const ids = this.sortedIds();
    const n = ids.length;
    if (n === 0) return "<empty majority quorum>";
    const rows = ids.map((id) => {
      const idx = l(id);
      return { id, idx: idx ?? 0, known: idx !== undefined, bar: 0 };
    });
    // The i-th smallest index gets a bar of length i; ties share the bar of the first of them.
    const byIndex = rows.slice().sort((a, b) => a.idx - b.idx || a.id - b.id);
    for (let i = 1; i < byIndex.length; i++) {
      const prev = byIndex[i - 1]!;
      const cur = byIndex[i]!;
      cur.bar = prev.idx < cur.idx ? i : prev.bar;
    }
    let out = `${" ".repeat(n)}    idx\n`;
    for (const r of rows) {
      out += r.known ? `${"x".repeat(r.bar)}>${" ".repeat(n - r.bar)}` : `?${" ".repeat(n)}`;
      out += ` ${String(r.idx).padStart(5)}    (id=${r.id.toString(16)})\n`;
    }
    return out;
  }

  /**
   * The highest index acknowledged by a majority of the voters (a voter `l` knows nothing about
   * counts as having acknowledged 0). For an empty config, {@link INDEX_UNBOUNDED}: an empty half
   * of a joint config then constrains nothing.
   */
  committedIndex(l: AckedIndexer): number {
    const ids = this.sortedIds();
    const n = ids.length;
    if (n === 0) return INDEX_UNBOUNDED;
    if (n === 1) return l(ids[0]!) ?? 0;
    let srt = this.#scratch;
    if (srt === undefined || srt.length !== n) {
      srt = new Float64Array(n);
      this.#scratch = srt;
    }
    for (let i = 0; i < n; i++) srt[i] = l(ids[i]!) ?? 0;
    if (n <= INSERTION_SORT_MAX) {
      for (let i = 1; i < n; i++) {
        const v = srt[i]!;
        let j = i - 1;
        while (j >= 0 && srt[j]! > v) {
          srt[j + 1] = srt[j]!;
          j--;
        }
        srt[j + 1] = v;
      }
    } else {
      srt.sort(); // numeric for a typed array
    }
    // Ascending order: the quorum (n/2+1 voters) all have at least the value that many from the end.
    return srt[n - ((n >> 1) + 1)]!;
  }

  /**
   * Tallies `votes` (voter id → granted?) among this config's voters; votes from non-voters are
   * ignored. An empty config wins every vote, so an empty half of a joint config defers to the
   * other half.
   */
  voteResult(votes: ReadonlyMap<number, boolean>): VoteResult {
    const ids = this.sortedIds();
    const n = ids.length;
    if (n === 0) return VoteResult.VoteWon;
    let granted = 0;
    let missing = 0;
    for (let i = 0; i < n; i++) {
      const v = votes.get(ids[i]!);
      if (v === undefined) missing++;
      else if (v) granted++;
    }
    const q = (n >> 1) + 1;
    if (granted >= q) return VoteResult.VoteWon;
    if (granted + missing >= q) return VoteResult.VotePending;
    return VoteResult.VoteLost;
  }
}
