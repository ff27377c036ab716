/**
 * The simulator's own record of a log: the term of every entry it saw a node (or a disk) hold,
 * built from what the core hands out (Ready entries and snapshots) and what the simulated disk
 * wrote — never read back from the core's RaftLog, so that a bug in the log code cannot hide from
 * the checks that use it (see invariants.ts).
 */

/** The entries of one log, by index: a base (a snapshot's index and term) and the terms after it. */
export class LogRecord {
  /** The index and term the record starts after (a snapshot's; 0 for an empty log). */
  baseIndex = 0;
  baseTerm = 0;
  /** terms[k] is the term of entry baseIndex + 1 + k. */
  private terms: number[] = [];

  /** The index of the last entry (the base index if there is none after it). */
  lastIndex(): number {
    return this.baseIndex + this.terms.length;
  }

  /** The term of entry `i`: the base's at the base index, 0 if unknown (before it, or past the end). */
  term(i: number): number {
    if (i === this.baseIndex) return this.baseTerm;
    if (i < this.baseIndex || i > this.lastIndex()) return 0;
    return this.terms[i - this.baseIndex - 1]!;
  }

  /** The term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /**
   * Appends `ents` (consecutive), replacing whatever the record held from the first one's index on.
   * Returns why it cannot (a gap after the last index, or entries at or before the base), or
   * undefined.
   */
  append(ents: readonly { readonly index: number; readonly term: number }[]): string | undefined {
    if (ents.length === 0) return undefined;
    const first = ents[0]!.index;
    if (first <= this.baseIndex) return `entry ${first} is at or before the snapshot at ${this.baseIndex}`;
    if (first > this.lastIndex() + 1)
      return `entry ${first} leaves a gap after the last index ${this.lastIndex()}`;
    this.terms.length = first - this.baseIndex - 1;
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!;
      if (e.index !== first + k) return `entries ${first}.. are not consecutive at ${e.index}`;
      this.terms.push(e.term);
    }
    return undefined;
  }

  /** Keeps the first `n` entries of `ents` only (a torn write): see {@link LogRecord.append}. */
  appendPrefix(
    ents: readonly { readonly index: number; readonly term: number }[],
    n: number,
  ): string | undefined {
    return this.append(ents.slice(0, n));
  }

  /** Replaces everything with a snapshot at (index, term): the log then starts after it. */
  restore(index: number, term: number): void {
    this.baseIndex = index;
    this.baseTerm = term;
    this.terms = [];
  }

  /** A copy that shares nothing with this record. */
  clone(): LogRecord {
    const c = new LogRecord();
    c.baseIndex = this.baseIndex;
    c.baseTerm = this.baseTerm;
    c.terms = this.terms.slice();
    return c;
  }
}
