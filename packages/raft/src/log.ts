/**
 * The Raft log as the state machine sees it (etcd's log.go): the stable part in {@link Storage},
 * the unstable part in {@link Unstable}, and the commit / apply cursors over both.
 */
import { NO_LIMIT } from "./constants.js";
import { errCompacted, errUnavailable, isRaftError } from "./errors.js";
import { Unstable } from "./log-unstable.js";
import { type Logger, panic } from "./logger.js";
import { entriesSize, entrySize } from "./raftpb/size.js";
import type { Entry, Snapshot } from "./raftpb/types.js";
import { cloneSnapshot, limitSizeEnd, type Storage } from "./storage.js";
import type { EntryID, LogSlice } from "./types.js";

/**
 * What {@link RaftLog}'s term lookup answers for an index below or past its valid range, in place
 * of a term (terms are never negative). Not errors: a follower looks up the term of the first new
 * entry of every MsgApp (past its last index, so out of range), and making a RaftError there (a
 * captured stack: several µs) cut the core bench's 3v-b1-propose to a third of its ops per CPU
 * second. An error is made only where one is thrown.
 */
const TERM_COMPACTED = -1;
const TERM_UNAVAILABLE = -2;

/**
 * A node's log: entries in [firstIndex, lastIndex], the term of firstIndex-1 (for matching), and
 * how far they are committed, handed to the application (applying) and applied.
 *
 * Methods that read entries or terms throw a "Compacted" RaftError / a "Unavailable" RaftError where etcd returns
 * them as errors; broken invariants panic (see `panic` in logger.ts) with etcd's texts.
 *
 * Arrays of entries returned belong to the caller (fresh arrays); the entries in them are shared
 * with the log and must not be mutated.
 */
export class RaftLog {
  /** The stable entries since the last snapshot. */
  storage: Storage;
  /** The entries and snapshot not yet known to be in `storage`. */
  unstable: Unstable;
  /**
   * The highest index known to be stored on a quorum of nodes (paper §5.3, §5.4.2).
   * Invariant: `committed <= lastIndex()`; never decreases except through `restore`.
   */
  committed: number;
  /**
   * The highest index the application was told to apply (incremented when a Ready is accepted);
   * entries up to it may still be in the middle of being applied.
   * Invariant: `applied <= applying <= committed`.
   */
  applying: number;
  /**
   * The highest index the application has applied to its state machine (incremented on advance,
   * or on a MsgStorageApplyResp with asyncStorageWrites).
   * Invariant: `applied <= committed`.
   */
  applied: number;
  logger: Logger;
  /**
   * The limit on the total size of entries handed out by {@link RaftLog.nextCommittedEnts} and not
   * yet acknowledged through {@link RaftLog.appliedTo} (Config.maxCommittedSizePerReady).
   */
  maxApplyingEntsSize: number;
  /** The total size of the entries handed out for applying and not yet acknowledged. */
  applyingEntsSize = 0;
  /** True when handing out entries is paused until enough applying is acknowledged. */
  applyingEntsPaused = false;

  /**
   * A log over `storage`, positioned just after its latest snapshot: committed, applying and
   * applied all start at firstIndex-1, and the unstable part starts after lastIndex. Errors from
   * the storage propagate (the log cannot start without knowing its bounds).
   */
  constructor(storage: Storage, logger: Logger, maxApplyingEntsSize: number = NO_LIMIT) {
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.storage = storage;
    this.unstable = new Unstable(lastIndex + 1, logger);
    this.maxApplyingEntsSize = maxApplyingEntsSize;
    // Start at the time of the last compaction.
    this.committed = firstIndex - 1;
    this.applying = firstIndex - 1;
    this.applied = firstIndex - 1;
    this.logger = logger;
  }

  /** etcd's format, used in log lines (e.g. by {@link RaftLog.restore}). */
  toString(): string {
    return (
      `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${this.unstable.offset}, unstable.offsetInProgress=${this.unstable.offsetInProgress}, ` +
      `len(unstable.Entries)=${this.unstable.entries.length}`
    );
  }

  /**
   * Appends the slice `a` from a leader if the log contains its `prev` entry (the Log Matching
   * check, paper §5.3): conflicting entries after `prev` are replaced, the commit index advances to
   * min(`committed`, last new index). Returns the index of the slice's last entry, or undefined if
   * `prev` did not match and nothing was done (compare with undefined: 0 is a valid answer).
   */
  maybeAppend(a: LogSlice, committed: number): number | undefined {
    if (!this.matchTerm(a.prev)) return undefined;
    const lastnewi = a.prev.index + a.entries.length;
    const ci = this.findConflict(a.entries);
    if (ci !== 0) {
      if (ci <= this.committed) {
        panic(this.logger, `entry ${ci} conflict with committed entry [committed(${this.committed})]`);
      }
      const offset = a.prev.index + 1;
      if (ci - offset > a.entries.length) {
        panic(this.logger, `index, ${ci - offset}, is out of range [${a.entries.length}]`);
      }
      this.append(ci === offset ? a.entries : a.entries.slice(ci - offset));
    }
    this.commitTo(Math.min(committed, lastnewi));
    return lastnewi;
  }

  /**
   * Appends `ents` (consecutive) to the unstable log, truncating whatever was at and after
   * `ents[0].index`. Returns the new last index. Panics if that would truncate committed entries.
   */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const first = ents[0]!.index;
    // etcd computes first-1 in uint64: index 0 wraps around and never trips the check.
    if (first > 0 && first - 1 < this.committed) {
      panic(this.logger, `after(${first - 1}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` (consecutive indexes) that conflicts with the log (same
   * index, other term) or is past its end; 0 if the log already holds all of `ents`.
   */
  findConflict(ents: readonly Entry[]): number {
    for (let i = 0; i < ents.length; i++) {
      // matchTerm(pbEntryID(e)), without an EntryID per entry.
      const { term, index } = ents[i]!;
      if (this.termOrOutOfBounds(index) !== term) {
        if (index <= this.lastIndex()) {
          this.logger.info(
            `found conflict at index ${index} [existing term: ${this.zeroTermOnOutOfBounds(index)}, ` +
              `conflicting term: ${term}]`,
          );
        }
        return index;
      }
    }
    return 0;
  }

  /**
   * A best guess at where this log stops matching another log of which only the entry
   * (`index`, `term`) is known: the largest `guessIndex <= index` whose term is `<= term` or
   * unknown (compacted or not stored). Returns `[guessIndex, term(guessIndex) or 0 if unknown]`.
   *
   * Leader and follower use it to skip a whole term of mismatched entries per rejected append,
   * instead of one entry at a time (paper §5.3, the optimization at the end).
   */
  findConflictByTerm(index: number, term: number): [index: number, term: number] {
    for (; index > 0; index--) {
      const ourTerm = this.termOrOutOfBounds(index);
      // Compacted or unavailable: a possible match we cannot check.
      if (ourTerm < 0) return [index, 0];
      if (ourTerm <= term) return [index, ourTerm];
    }
    return [0, 0];
  }

  /** The unstable entries not already being written to storage (a Ready's `entries`). */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  /** True if {@link RaftLog.nextUnstableEnts} is not empty. */
  hasNextUnstableEnts(): boolean {
    const u = this.unstable;
    return u.entries.length > u.offsetInProgress - u.offset;
  }

  /** True if there are unstable entries, whether or not they are being written already. */
  hasNextOrInProgressUnstableEnts(): boolean {
    return this.unstable.entries.length > 0;
  }

  /**
   * The committed entries to hand to the application next (a Ready's `committedEntries`), at most
   * `maxApplyingEntsSize` bytes outstanding. Entries can be committed before they are durable
   * locally; with `allowUnstable` those are returned too, otherwise only entries known to be in
   * storage. Empty while applying is paused or a snapshot is pending.
   */
  nextCommittedEnts(allowUnstable: boolean): Entry[] {
    if (this.applyingEntsPaused) return []; // the outstanding size limit is reached
    if (this.hasNextOrInProgressSnapshot()) return []; // see hasNextCommittedEnts
    const lo = this.applying + 1;
    const hi = this.maxAppliableIndex(allowUnstable) + 1; // [lo, hi)
    if (lo >= hi) return [];
    // etcd subtracts in uint64: a deficit wraps to a huge budget, so only exactly 0 trips the check.
    const max = this.maxApplyingEntsSize;
    const size = this.applyingEntsSize;
    const maxSize = max >= size ? max - size : NO_LIMIT;
    if (maxSize === 0) {
      panic(this.logger, `applying entry size (${max}-${size})=${maxSize} not positive`);
    }
    try {
      return this.slice(lo, hi, maxSize);
    } catch (e) {
      if (isRaftError(e, "Compacted")) {
        panic(this.logger, `unexpected error when getting unapplied entries (${e.message})`);
      }
      throw e;
    }
  }

  /**
   * True if {@link RaftLog.nextCommittedEnts} would return entries (without reading them). A
   * pending snapshot holds them back: the snapshot must be applied first.
   */
  hasNextCommittedEnts(allowUnstable: boolean): boolean {
    if (this.applyingEntsPaused) return false;
    if (this.hasNextOrInProgressSnapshot()) return false;
    return this.applying + 1 < this.maxAppliableIndex(allowUnstable) + 1;
  }

  /**
   * The highest committed index the application may apply: `committed`, or with `allowUnstable`
   * false, no further than what is known to be in storage.
   */
  maxAppliableIndex(allowUnstable: boolean): number {
    return allowUnstable ? this.committed : Math.min(this.committed, this.unstable.offset - 1);
  }

  /** The unstable snapshot, if one is not already being written to storage (a Ready's `snapshot`). */
  nextUnstableSnapshot(): Snapshot | undefined {
    return this.unstable.nextSnapshot();
  }

  /** True if {@link RaftLog.nextUnstableSnapshot} would return a snapshot. */
  hasNextUnstableSnapshot(): boolean {
    return this.unstable.snapshot !== undefined && !this.unstable.snapshotInProgress;
  }

  /** True if a snapshot is waiting to be written or being written to storage. */
  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /**
   * The latest snapshot: the unstable one (a copy) if any, else storage's (which may throw
   * a "SnapshotTemporarilyUnavailable" RaftError).
   */
  snapshot(): Snapshot {
    const s = this.unstable.snapshot;
    return s !== undefined ? cloneSnapshot(s) : this.storage.snapshot();
  }

  /** The index of the first entry that may be available (after the latest snapshot). */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** The index of the last entry (the latest snapshot's index if there is none after it). */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Advances `committed` to `tocommit` (never decreases it). Panics if that is past the last index. */
  commitTo(tocommit: number): void {
    if (this.committed < tocommit) {
      if (this.lastIndex() < tocommit) {
        panic(
          this.logger,
          `tocommit(${tocommit}) is out of range [lastIndex(${this.lastIndex()})]. ` +
            "Was the raft log corrupted, truncated, or lost?",
        );
      }
      this.committed = tocommit;
    }
  }

  /**
   * Records that the application applied everything up to `i`, releasing `size` bytes of the
   * outstanding applying budget (and unpausing if it drops below the limit).
   */
  appliedTo(i: number, size: number): void {
    if (this.committed < i || i < this.applied) {
      panic(
        this.logger,
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
    this.applying = Math.max(this.applying, i);
    // Defends against bad accounting: never below zero.
    this.applyingEntsSize = this.applyingEntsSize > size ? this.applyingEntsSize - size : 0;
    this.applyingEntsPaused = this.applyingEntsSize >= this.maxApplyingEntsSize;
  }

  /**
   * Records that entries up to `i`, `size` bytes in all, were handed to the application (a Ready
   * was accepted). Pauses further handing out if the outstanding size reaches the limit, or if the
   * entries were cut short by the limit (`i` below what could have been applied): the next one
   * would then exceed it.
   */
  acceptApplying(i: number, size: number, allowUnstable: boolean): void {
    if (this.committed < i) {
      panic(
        this.logger,
        `applying(${i}) is out of range [prevApplying(${this.applying}), committed(${this.committed})]`,
      );
    }
    this.applying = i;
    this.applyingEntsSize += size;
    this.applyingEntsPaused =
      this.applyingEntsSize >= this.maxApplyingEntsSize || i < this.maxAppliableIndex(allowUnstable);
  }

  /** The entries up to `id` are durable in storage (see {@link Unstable.stableTo}). */
  stableTo(id: EntryID): void {
    this.unstable.stableTo(id);
  }

  /** The snapshot at index `i` is durable in storage. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /**
   * The application started persisting the current unstable entries and snapshot: mark them in
   * progress so that the next Ready does not carry them again.
   */
  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  /** The ID of the last entry of the log. */
  lastEntryID(): EntryID {
    const index = this.lastIndex();
    const t = this.termOrOutOfBounds(index);
    if (t < 0) {
      const why = t === TERM_COMPACTED ? errCompacted() : errUnavailable();
      panic(this.logger, `unexpected error when getting the last term at ${index}: ${why.message}`);
    }
    return { term: t, index };
  }

  /**
   * The term of entry `i`, valid in [firstIndex()-1, lastIndex()]. Throws a "Compacted" RaftError below that
   * range and a "Unavailable" RaftError above it; other storage errors propagate.
   */
  term(i: number): number {
    const t = this.termOrOutOfBounds(i);
    if (t === TERM_COMPACTED) throw errCompacted();
    if (t === TERM_UNAVAILABLE) throw errUnavailable();
    return t;
  }

  /**
   * {@link RaftLog.term}, with the two out-of-range cases answered as TERM_COMPACTED and
   * TERM_UNAVAILABLE rather than thrown (no error is made: this runs for every MsgApp).
   */
  private termOrOutOfBounds(i: number): number {
    // The unstable log first, before computing the valid range (which may query storage): a term
    // found there is in range.
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    // The valid range is [firstIndex-1, lastIndex]: the entry at firstIndex-1 is compacted, but its
    // term is kept for matching the append that follows it.
    if (i + 1 < this.firstIndex()) return TERM_COMPACTED;
    if (i > this.lastIndex()) return TERM_UNAVAILABLE;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (isRaftError(e, "Compacted")) return TERM_COMPACTED;
      if (isRaftError(e, "Unavailable")) return TERM_UNAVAILABLE;
      throw e;
    }
  }

  /**
   * The entries from `i` to the end, at most `maxSize` bytes but at least one; empty if `i` is past
   * the last index. Throws a "Compacted" RaftError if `i` is compacted.
   */
  entries(i: number, maxSize: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxSize);
  }

  /** Every entry in the log (from firstIndex). */
  allEntries(): Entry[] {
    for (;;) {
      try {
        return this.entries(this.firstIndex(), NO_LIMIT);
      } catch (e) {
        // A compaction raced with us: try again from the new first index.
        if (!isRaftError(e, "Compacted")) throw e;
      }
    }
  }

  /**
   * True if a log whose last entry is `their` is at least as up-to-date as this one: the later
   * last term wins, and with equal last terms the longer log (paper §5.4.1, the election restriction).
   */
  isUpToDate(their: EntryID): boolean {
    const our = this.lastEntryID();
    return their.term > our.term || (their.term === our.term && their.index >= our.index);
  }

  /** True if the log holds the entry `id` (its index is in range and has that term). */
  matchTerm(id: EntryID): boolean {
    return this.termOrOutOfBounds(id.index) === id.term;
  }

  /**
   * Commits up to `at` if it is in the log and after the commit index. A term of 0 never matches:
   * a leader has campaigned at least at term 1. Returns whether the commit index moved.
   */
  maybeCommit(at: EntryID): boolean {
    if (at.term !== 0 && at.index > this.committed && this.matchTerm(at)) {
      this.commitTo(at.index);
      return true;
    }
    return false;
  }

  /** Resets the log to snapshot `s` (everything up to it is committed), as the unstable snapshot. */
  restore(s: Snapshot): void {
    this.logger.info(
      `log [${this.toString()}] starts to restore snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`,
    );
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /**
   * Visits the entries in [lo, hi) in order, in consecutive pages of at most `pageSize` bytes
   * (more only when a single entry exceeds it), passing each page to `v`; `v` returns false to
   * stop early (etcd's errBreak). The range must exist: a compacted `lo` throws a "Compacted" RaftError,
   * possibly after some pages were visited. Errors thrown by `v` propagate.
   */
  scan(lo: number, hi: number, pageSize: number, v: (ents: Entry[]) => boolean): void {
    while (lo < hi) {
      const ents = this.slice(lo, hi, pageSize);
      const n = ents.length;
      if (n === 0) throw new Error(`got 0 entries in [${lo}, ${hi})`);
      if (!v(ents)) return;
      lo += n;
    }
  }

  /**
   * The entries in [lo, hi), at most `maxSize` bytes but at least one if the range is not empty.
   * Throws a "Compacted" RaftError if `lo` is compacted; panics if the range is inverted or ends past the
   * last index.
   */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    const u = this.unstable;
    if (lo >= u.offset) return u.slice(lo, hi, maxSize);

    const cut = Math.min(hi, u.offset);
    let ents: Entry[];
    try {
      ents = this.storage.entries(lo, cut, maxSize);
    } catch (e) {
      if (isRaftError(e, "Unavailable")) {
        panic(this.logger, `entries[${lo}:${cut}) is unavailable from storage`);
      }
      throw e; // a "Compacted" RaftError, or a storage failure
    }
    if (hi <= u.offset) return ents;

    // Fast path: the limit is reached if storage returned fewer entries than asked for (the next
    // one would exceed it) or if their total size reaches it.
    if (ents.length < cut - lo) return ents;
    let size = 0;
    if (maxSize < NO_LIMIT) {
      size = entriesSize(ents);
      if (size >= maxSize) return ents;
    }
    const end = limitSizeEnd(u.entries, 0, hi - u.offset, maxSize - size);
    // limitSizeEnd keeps one entry even if it alone exceeds the budget: here that entry would push
    // the total over maxSize, so leave it out.
    if (end === 1 && size + entrySize(u.entries[0]!) > maxSize) return ents;
    // The caller owns `ents` (Storage contract): extend it in place.
    for (let k = 0; k < end; k++) ents.push(u.entries[k]!);
    return ents;
  }

  /**
   * Checks `firstIndex() <= lo <= hi <= lastIndex()+1`: throws a "Compacted" RaftError if lo is below the
   * first index, panics on an inverted range or one ending past the last index.
   */
  mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) panic(this.logger, `invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw errCompacted();
    const last = this.lastIndex();
    if (hi > last + 1) panic(this.logger, `slice[${lo},${hi}) out of bound [${fi},${last}]`);
  }

  /**
   * The term of entry `i`, or 0 if it is compacted or not in the log (for log lines and checks
   * where "unknown" and "no term" are the same). etcd's takes term()'s (term, error) pair; this
   * takes the index.
   */
  zeroTermOnOutOfBounds(i: number): number {
    const t = this.termOrOutOfBounds(i);
    return Math.max(t, 0);
  }
}

/** A log over `storage` without a limit on the entries handed out for applying (etcd's newLog). */
export function newLog(storage: Storage, logger: Logger): RaftLog {
  return new RaftLog(storage, logger, NO_LIMIT);
}

/**
 * A log over `storage` that hands out at most `maxApplyingEntsSize` bytes of committed entries not
 * yet acknowledged as applied (etcd's newLogWithSize).
 */
export function newLogWithSize(storage: Storage, logger: Logger, maxApplyingEntsSize: number): RaftLog {
  return new RaftLog(storage, logger, maxApplyingEntsSize);
}
