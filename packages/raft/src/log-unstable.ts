/**
 * The unstable part of the Raft log (etcd's log_unstable.go): entries and a snapshot the core has
 * accepted but the application has not yet made durable.
 */
import { type Logger, panic } from "./logger.js";
import type { Entry, Snapshot } from "./raftpb/types.js";
import { cloneSnapshot, limitSizeEnd } from "./storage.js";
import type { EntryID } from "./types.js";

/**
 * Log entries and a snapshot not yet written to {@link Storage}. It plays two roles: it holds new
 * entries and an incoming snapshot until they are handed out in a Ready for persistence, and it
 * keeps holding them while that write is in flight, so that RaftLog sees the whole log until the
 * write is known to be reflected in Storage. Then `stableTo`/`stableSnapTo` drop them.
 *
 * `offset` may be below the last index in Storage: the next write must then truncate the stored
 * log before persisting `entries` (a new leader overwrote an uncommitted suffix).
 *
 * Fields are public for RaftLog and tests; everyone else goes through RaftLog.
 */
export class Unstable {
  /** The incoming snapshot, if any. Invariant: if set, `snapshot.metadata.index < offset`. */
  snapshot: Snapshot | undefined = undefined;
  /**
   * The entries not yet written to storage. `entries[i]` has index `offset + i`. Owned by this
   * object (never handed out: every accessor returns a copy), so it is edited in place.
   */
  entries: Entry[] = [];
  /** The index of `entries[0]`, or of the next entry to come if `entries` is empty. */
  offset: number;
  /** True while the snapshot is being written to storage. */
  snapshotInProgress = false;
  /**
   * `entries` up to (excluding) this index are being written to storage. Exclusive like `offset`.
   * Invariant: `offset <= offsetInProgress <= offset + entries.length`.
   */
  offsetInProgress: number;
  logger: Logger;

  /** An empty unstable log whose first entry will have index `offset`. */
  constructor(offset: number, logger: Logger) {
    this.offset = offset;
    this.offsetInProgress = offset;
    this.logger = logger;
  }

  /** The index of the first entry possibly in the log, if there is a snapshot (its index + 1). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  /** The last index, if there is at least one unstable entry or a snapshot. */
  maybeLastIndex(): number | undefined {
    const n = this.entries.length;
    if (n !== 0) return this.offset + n - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  /** The term of the entry at index `i`, if this unstable log (entries or snapshot) knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const s = this.snapshot;
      return s !== undefined && s.metadata.index === i ? s.metadata.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /**
   * The entries not already being written to storage (a copy; empty if none). Entries added after
   * the next {@link Unstable.acceptInProgress} show up here again until accepted in turn.
   */
  nextEntries(): Entry[] {
    const inProgress = this.offsetInProgress - this.offset;
    if (this.entries.length === inProgress) return [];
    return this.entries.slice(inProgress);
  }

  /** A copy of the snapshot, if there is one and it is not already being written to storage. */
  nextSnapshot(): Snapshot | undefined {
    if (this.snapshot === undefined || this.snapshotInProgress) return undefined;
    return cloneSnapshot(this.snapshot);
  }

  /**
   * Marks all current entries and the snapshot, if any, as being written to storage: they are no
   * longer returned by `nextEntries`/`nextSnapshot`. Called when a Ready carrying them is accepted.
   */
  acceptInProgress(): void {
    const n = this.entries.length;
    // +1: offsetInProgress is exclusive, like offset.
    if (n > 0) this.offsetInProgress = this.entries[n - 1]!.index + 1;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * Marks the entries up to and including `id` as durable in storage, dropping them from here.
   * Ignored (with an info line) if `id` is not an unstable entry, or if that entry's term differs:
   * the unstable log was overwritten between the start and the end of the write.
   *
   * The caller must know that no in-flight append can still overwrite those entries in storage
   * (see etcd's newStorageAppendRespMsg).
   */
  stableTo(id: EntryID): void {
    const gt = this.maybeTerm(id.index);
    if (gt === undefined) {
      this.logger.info(`entry at index ${id.index} missing from unstable log; ignoring`);
      return;
    }
    if (id.index < this.offset) {
      // The index matched the unstable snapshot, not an unstable entry.
      this.logger.info(`entry at index ${id.index} matched unstable snapshot; ignoring`);
      return;
    }
    if (gt !== id.term) {
      this.logger.info(
        `entry at (index,term)=(${id.index},${id.term}) mismatched with ` +
          `entry at (${id.index},${gt}) in unstable log; ignoring`,
      );
      return;
    }
    const num = id.index + 1 - this.offset;
    // Usually every entry became stable: drop the array (as shrinkEntriesArray would) rather than
    // splice it, which would build an array of the removed entries.
    if (num === this.entries.length) this.entries = [];
    else this.entries.splice(0, num);
    this.offset = id.index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  /**
   * Drops the backing array once it is empty, so that a burst of entries that has been persisted
   * is not kept reachable through the array's spare capacity.
   */
  shrinkEntriesArray(): void {
    if (this.entries.length === 0) this.entries = [];
  }

  /** Marks the snapshot at index `i` as durable in storage, dropping it from here. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with snapshot `s` (a copy is kept): the log restarts after it. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = cloneSnapshot(s);
    this.snapshotInProgress = false;
  }

  /**
   * Appends `ents` (non-empty, consecutive), first truncating any unstable entries at or after
   * `ents[0].index`. Entries before `offset` cannot be truncated here; if `ents` starts at or before
   * `offset`, they replace the unstable entries entirely (storage truncates its own part when they
   * are written).
   */
  truncateAndAppend(ents: readonly Entry[]): void {
    const fromIndex = ents[0]!.index;
    if (fromIndex === this.offset + this.entries.length) {
      // The next index after our entries: a plain append.
      for (const e of ents) this.entries.push(e);
    } else if (fromIndex <= this.offset) {
      this.logger.info(`replace the unstable entries from index ${fromIndex}`);
      // The log is truncated before our part of it: start over at fromIndex.
      this.entries = ents.slice();
      this.offset = fromIndex;
      this.offsetInProgress = this.offset;
    } else {
      this.logger.info(`truncate the unstable entries before index ${fromIndex}`);
      // Keep [offset, fromIndex), then append.
      this.mustCheckOutOfBounds(this.offset, fromIndex);
      this.entries.length = fromIndex - this.offset;
      for (const e of ents) this.entries.push(e);
      // Only the in-progress entries before fromIndex are still in progress.
      this.offsetInProgress = Math.min(this.offsetInProgress, fromIndex);
    }
  }

  /**
   * The entries with indexes in [lo, hi), at most `maxSize` bytes of them but at least one (see
   * `limitSize`), as a new array. The whole range must be in this unstable log, or this panics.
   */
  slice(lo: number, hi: number, maxSize?: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    const from = lo - this.offset;
    const to = hi - this.offset;
    return this.entries.slice(
      from,
      maxSize === undefined ? to : limitSizeEnd(this.entries, from, to, maxSize),
    );
  }

  /** Panics unless `offset <= lo <= hi <= offset + entries.length`. */
  mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) panic(this.logger, `invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    if (lo < this.offset || hi > upper) {
      panic(this.logger, `unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
  }
}
