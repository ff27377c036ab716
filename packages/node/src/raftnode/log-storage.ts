/**
 * The Storage the core reads: MemoryStorage, plus — while a follower catches up after a snapshot —
 * the entries just before MemoryStorage's first index that are still in the WAL, read back from
 * disk. A snapshot of gigabytes takes minutes to send and restore; the entries written meanwhile are
 * what the follower needs next. Kept in memory they would grow without bound (etcd keeps them all:
 * it skips compaction while a snapshot is in flight); dropped, the follower would need another
 * snapshot, then another (a cycle the growth bench showed: 8 snapshots, 16 GB sent, never caught
 * up). Here they stay on disk, in the WAL segments compaction does not release yet.
 */
import { errCompacted, type InitialState, type MemoryStorage, type Storage } from "@tsraft/raft";
import { type Entry, entrySize, type Snapshot } from "@tsraft/raft/raftpb";
import type { WAL } from "../wal/wal.js";

export class NodeLogStorage implements Storage {
  /**
   * Entries [walFirst, memory.firstIndex()) are served from the WAL. Invariant: undefined, or
   * within the WAL's saved range (and its term of walFirst - 1 too) and below memory.firstIndex().
   */
  private walFirst: number | undefined;

  constructor(
    readonly memory: MemoryStorage,
    private readonly wal: WAL,
  ) {}

  /**
   * Serve entries from `from` on (from the WAL where MemoryStorage no longer has them), as far as
   * the WAL still holds them; undefined stops. Returns the first index now served.
   */
  keepFrom(from: number | undefined): number {
    this.walFirst = undefined;
    const memFirst = this.memory.firstIndex();
    const saved = this.wal.savedEntries();
    if (from === undefined || from >= memFirst || saved === undefined) return memFirst;
    // The term of the entry before the first one served must be known too (Log Matching).
    const first = Math.max(from, saved.first + 1);
    if (first < memFirst && saved.last >= memFirst - 1) this.walFirst = first;
    return this.firstIndex();
  }

  initialState(): InitialState {
    return this.memory.initialState();
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const memFirst = this.memory.firstIndex();
    if (lo >= memFirst || this.walFirst === undefined) return this.memory.entries(lo, hi, maxSize);
    if (lo < this.walFirst) throw errCompacted();
    const fromWal = this.wal.readEntries(lo, Math.min(hi, memFirst), maxSize);
    const next = lo + fromWal.length;
    if (next < memFirst || next >= hi) return fromWal;
    let size = 0;
    for (const e of fromWal) size += entrySize(e);
    if (size >= maxSize) return fromWal;
    return [...fromWal, ...this.memory.entries(next, hi, maxSize - size)];
  }

  term(i: number): number {
    const memFirst = this.memory.firstIndex();
    if (this.walFirst === undefined || i >= memFirst - 1) return this.memory.term(i);
    if (i < this.walFirst - 1) throw errCompacted();
    const t = this.wal.savedTerm(i);
    if (t === undefined) throw errCompacted();
    return t;
  }

  lastIndex(): number {
    return this.memory.lastIndex();
  }

  firstIndex(): number {
    const memFirst = this.memory.firstIndex();
    return this.walFirst !== undefined && this.walFirst < memFirst ? this.walFirst : memFirst;
  }

  snapshot(): Snapshot {
    return this.memory.snapshot();
  }
}
