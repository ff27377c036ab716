/**
 * Stable storage as the core sees it (etcd's storage.go): the {@link Storage} interface the
 * application implements over its durable log, and {@link MemoryStorage}, the in-memory
 * implementation the core's tests and `@tsraft/node` use (the node keeps it in step with its WAL).
 */
import { NO_LIMIT } from "./constants.js";
import { errCompacted, errSnapOutOfDate, errUnavailable } from "./errors.js";
import { discardLogger, type Logger, panic } from "./logger.js";
import { entrySize } from "./raftpb/size.js";
import {
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type HardState,
  newHardState,
  newSnapshot,
  type Snapshot,
} from "./raftpb/types.js";

/** What {@link Storage.initialState} returns: the persisted HardState and the latest ConfState. */
export interface InitialState {
  /** The last persisted HardState; all zeros (see `isEmptyHardState`) if none was persisted yet. */
  readonly hardState: HardState;
  /** The configuration as of the latest snapshot; empty (not absent) if none was persisted yet. */
  readonly confState: ConfState;
}

/**
 * The stable log and state the core reads from. The application implements it over whatever it
 * persists to (etcd's WAL; `MemoryStorage` in tests and in `@tsraft/node`), and appends to it
 * itself, after each Ready, before calling `advance`.
 *
 * Failures: the expected ones are the shared errors thrown as documented below (the core catches
 * them and compares codes). Any other exception is fatal for the Raft instance: it propagates out
 * of the core, which must not be used again; cleanup and recovery are the application's job.
 *
 * Data returned is never mutated by the core, and must not be mutated afterwards by the storage:
 * the core may hand the same entries and snapshot back to the application through Ready.
 */
export interface Storage {
  /** The saved HardState and ConfState, read once when the Raft instance starts. */
  initialState(): InitialState;

  /**
   * The consecutive entries with indexes in [lo, hi), starting at lo. `maxSize` limits the total
   * {@link entrySize} of the entries returned, but at least one entry is returned if any is
   * requested (see {@link limitSize}).
   *
   * The returned array belongs to the caller, which may push to it (return a fresh array, never
   * a view of internal state); the Entry objects in it are shared and must stay unmodified.
   *
   * Throws a "Compacted" RaftError if entry lo has been compacted, a "Unavailable" RaftError if an entry in [lo, hi)
   * is not available.
   */
  entries(lo: number, hi: number, maxSize: number): Entry[];

  /**
   * The term of entry i, which must be in [firstIndex()-1, lastIndex()]. The term of the entry
   * just before firstIndex is retained for matching purposes (the Log Matching check of the append
   * that follows it, paper §5.3) even though the entry itself is compacted away.
   *
   * Throws a "Compacted" RaftError below that range, a "Unavailable" RaftError above it.
   */
  term(i: number): number;

  /** The index of the last entry in the log (the snapshot's index if the log is empty). */
  lastIndex(): number;

  /**
   * The index of the first entry possibly available through {@link Storage.entries}: older entries
   * have been folded into the latest snapshot. If the storage holds only the snapshot, this is
   * lastIndex()+1 and no entry is available.
   */
  firstIndex(): number;

  /**
   * The most recent snapshot. Throws a "SnapshotTemporarilyUnavailable" RaftError if it is being prepared:
   * the core then retries later (it sends no MsgSnap until one is available).
   */
  snapshot(): Snapshot;
}

/**
 * Index one past the end of the longest run `ents[lo..end)` whose total {@link entrySize} does not
 * exceed `maxSize`, except that a non-empty range always keeps its first entry even if that entry
 * alone exceeds the limit (so a reader always makes progress). Returns `hi` without summing sizes
 * when `maxSize` is {@link NO_LIMIT}.
 */
export function limitSizeEnd(ents: readonly Entry[], lo: number, hi: number, maxSize: number): number {
  if (hi - lo <= 1 || maxSize >= NO_LIMIT) return hi;
  let size = entrySize(ents[lo]!);
  for (let i = lo + 1; i < hi; i++) {
    size += entrySize(ents[i]!);
    if (size > maxSize) return i;
  }
  return hi;
}

/**
 * The longest prefix of `ents` whose total protobuf size does not exceed `maxSize`; never empty if
 * `ents` is not (the first entry is kept even if it alone exceeds the limit). Returns a new array.
 * Storage implementations use it to honour the `maxSize` of {@link Storage.entries}.
 */
export function limitSize(ents: readonly Entry[], maxSize: number): Entry[] {
  return ents.slice(0, limitSizeEnd(ents, 0, ents.length, maxSize));
}

/** A copy of `cs` sharing nothing mutable with it. */
export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: cs.voters.slice(),
    learners: cs.learners.slice(),
    votersOutgoing: cs.votersOutgoing.slice(),
    learnersNext: cs.learnersNext.slice(),
    autoLeave: cs.autoLeave,
  };
}

/**
 * A copy of `s` (etcd's proto.Clone), except that `data` is shared: snapshot payloads may be
 * large, and byte arrays handed to or from the core are never written to.
 */
export function cloneSnapshot(s: Snapshot): Snapshot {
  const m = s.metadata;
  return { data: s.data, metadata: { confState: cloneConfState(m.confState), index: m.index, term: m.term } };
}

/** How often each {@link Storage} method of a {@link MemoryStorage} was called (for benchmarks). */
export interface StorageCallStats {
  initialState: number;
  firstIndex: number;
  lastIndex: number;
  entries: number;
  term: number;
  snapshot: number;
}

/** The placeholder at the head of MemoryStorage's array: only its index and term mean anything. */
function dummyEntry(index: number, term: number): Entry {
  return { term, index, type: EntryType.EntryNormal, data: EMPTY_BYTES };
}

/**
 * A {@link Storage} backed by an in-memory array. The application appends each Ready's entries with
 * {@link MemoryStorage.append} (and its snapshot with {@link MemoryStorage.applySnapshot}), and
 * releases memory with {@link MemoryStorage.createSnapshot} and {@link MemoryStorage.compact}.
 *
 * Unlike etcd's it has no mutex: JavaScript runs the core and the application on one thread.
 * Appends cost O(entries appended), amortized; reads copy only the range asked for.
 */
export class MemoryStorage implements Storage {
  /** Counts of Storage calls, for benchmarks that report storage work per operation. */
  readonly callStats: StorageCallStats = {
    initialState: 0,
    firstIndex: 0,
    lastIndex: 0,
    entries: 0,
    term: 0,
    snapshot: 0,
  };
  private readonly logger: Logger;
  private hardState: HardState = newHardState();
  private snap: Snapshot = newSnapshot();
  /**
   * `ents[i]` has log index `ents[0].index + i`. `ents[0]` is a dummy standing for the last
   * compacted entry (or the snapshot): only its index and term are kept.
   * Invariant: `ents.length >= 1`, and `ents[0].index` is the snapshot's or the last compaction's index.
   */
  private ents: Entry[] = [dummyEntry(0, 0)];

  /**
   * An empty storage: no snapshot, no HardState, and a log holding only the dummy entry at index
   * 0, term 0. `logger` receives the lines of the panics raised on misuse (default: none).
   */
  constructor(logger: Logger = discardLogger) {
    this.logger = logger;
  }

  initialState(): InitialState {
    this.callStats.initialState++;
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  /** Saves the HardState (a copy of `st`): call it with each Ready's hardState, before appending. */
  setHardState(st: HardState): void {
    this.hardState = { term: st.term, vote: st.vote, commit: st.commit };
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    this.callStats.entries++;
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw errCompacted();
    if (hi > this.lastIndexInternal() + 1) {
      panic(this.logger, `entries' hi(${hi}) is out of bound lastindex(${this.lastIndexInternal()})`);
    }
    // Only the dummy entry: nothing is available.
    if (this.ents.length === 1) throw errUnavailable();
    if (lo > hi) panic(this.logger, `invalid entries range [${lo}, ${hi})`);
    const from = lo - offset;
    return this.ents.slice(from, limitSizeEnd(this.ents, from, hi - offset, maxSize));
  }

  term(i: number): number {
    this.callStats.term++;
    const offset = this.ents[0]!.index;
    if (i < offset) throw errCompacted();
    if (i - offset >= this.ents.length) throw errUnavailable();
    return this.ents[i - offset]!.term;
  }

  lastIndex(): number {
    this.callStats.lastIndex++;
    return this.lastIndexInternal();
  }

  firstIndex(): number {
    this.callStats.firstIndex++;
    return this.firstIndexInternal();
  }

  snapshot(): Snapshot {
    this.callStats.snapshot++;
    return cloneSnapshot(this.snap);
  }

  private lastIndexInternal(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  private firstIndexInternal(): number {
    return this.ents[0]!.index + 1;
  }

  /**
   * Replaces the whole content with `snap`: the log becomes empty after the snapshot's index.
   * Throws a "SnapOutOfDate" RaftError if the storage already holds a snapshot at or after that index. A
   * snapshot at index 0 (bootstrapping a ConfState only, as etcd does) is always accepted.
   */
  applySnapshot(snap: Snapshot): void {
    const msIndex = this.snap.metadata.index;
    const snapIndex = snap.metadata.index;
    if (msIndex !== 0 && msIndex >= snapIndex) throw errSnapOutOfDate();
    this.snap = cloneSnapshot(snap);
    this.ents = [dummyEntry(snapIndex, snap.metadata.term)];
  }

  /**
   * Records a snapshot of the application state as of entry `i` (which must be applied), with
   * payload `data`, and returns it; it is what {@link MemoryStorage.snapshot} serves from now on.
   * Pass the ConfState in effect at `i` if configuration changes were applied since the last
   * snapshot (`undefined` keeps the previous one). Call {@link MemoryStorage.compact} afterwards
   * to drop the entries it covers.
   *
   * Throws a "SnapOutOfDate" RaftError if `i` is not after the current snapshot; panics if `i` is past the
   * last index.
   */
  createSnapshot(i: number, cs: ConfState | undefined, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) throw errSnapOutOfDate();
    const offset = this.ents[0]!.index;
    if (i > this.lastIndexInternal()) {
      panic(this.logger, `snapshot ${i} is out of bound lastindex(${this.lastIndexInternal()})`);
    }
    // etcd indexes its array blindly here (a runtime panic); say what went wrong instead.
    if (i < offset) panic(this.logger, `snapshot ${i} is out of bound compacted index(${offset})`);
    const m = this.snap.metadata;
    this.snap = {
      data,
      metadata: {
        confState: cs === undefined ? m.confState : cloneConfState(cs),
        index: i,
        term: this.ents[i - offset]!.term,
      },
    };
    return cloneSnapshot(this.snap);
  }

  /**
   * Discards the entries before `compactIndex`; entry `compactIndex` becomes the dummy that keeps
   * its term. The application must not compact past what it has applied (raftLog.applied).
   * Throws a "Compacted" RaftError if `compactIndex` is already compacted; panics if it is past the last index.
   */
  compact(compactIndex: number): void {
    const offset = this.ents[0]!.index;
    if (compactIndex <= offset) throw errCompacted();
    if (compactIndex > this.lastIndexInternal()) {
      panic(this.logger, `compact ${compactIndex} is out of bound lastindex(${this.lastIndexInternal()})`);
    }
    const i = compactIndex - offset;
    const kept = this.ents[i]!;
    // Entries are shared with callers of entries(), but the array is not: trim it in place
    // (copyWithin moves the tail down without allocating).
    this.ents.copyWithin(0, i);
    this.ents.length -= i;
    this.ents[0] = dummyEntry(kept.index, kept.term);
  }

  /**
   * Appends `entries` (consecutive, as a Ready hands them out) to the log. Entries at or before the
   * compaction point are ignored; an entry at an index already held replaces it and everything
   * after it (a new leader overwrote an uncommitted suffix, paper §5.3). Panics if the entries
   * would leave a gap after the last index.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndexInternal();
    let start = 0;
    let firstNew = entries[0]!.index;
    const last = firstNew + entries.length - 1;
    // Nothing new: everything given is compacted already.
    if (last < first) return;
    // Skip the part that is compacted already.
    if (first > firstNew) {
      start = first - firstNew;
      firstNew = first;
    }
    const offset = firstNew - this.ents[0]!.index;
    if (offset > this.ents.length) {
      panic(this.logger, `missing log entry [last: ${this.lastIndexInternal()}, append at: ${firstNew}]`);
    }
    // Truncate a conflicting suffix (nothing to do for a plain append at the end).
    if (this.ents.length > offset) this.ents.length = offset;
    for (let k = start; k < entries.length; k++) this.ents.push(entries[k]!);
  }
}
