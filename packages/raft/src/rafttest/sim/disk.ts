/**
 * A simulated node's disk: the durable part of its storage. Writes land here when they complete
 * (or partly, when a crash tears the write in progress); everything else a node holds is lost in a
 * crash. The core reads its log from {@link Disk.storage}, as etcd's server has its MemoryStorage
 * follow its WAL.
 */
import type { ConfState, Entry, HardState, Snapshot } from "../../raftpb/types.js";
import { isEmptyHardState, isEmptySnap } from "../../raftpb/util.js";
import { MemoryStorage } from "../../storage.js";
import { LogRecord } from "./log-record.js";

/** What a disk reports to: the checker's durable-state check, and the run's counters. */
export interface DiskObserver {
  onDurableWrite(hs: HardState): void;
  onTornWrite(): void;
}

/** The durable state of one node. */
export class Disk {
  /** Log, HardState and snapshot, as written so far. */
  readonly storage = new MemoryStorage();
  /**
   * The simulator's own record of the terms on disk (the checker reads this, not `storage`). It
   * keeps the terms of entries compacted away: they were committed.
   */
  readonly record = new LogRecord();
  /** The term of the HardState on disk. */
  term = 0;
  /** The index of the snapshot on disk. */
  snapIndex = 0;

  constructor(private readonly observer: DiskObserver) {}

  /** Re-reads the term and snapshot index (after the storage was set up directly). */
  reload(): void {
    this.term = this.storage.initialState().hardState.term;
    const m = this.storage.snapshot().metadata;
    this.snapIndex = m.index;
    if (this.record.lastIndex() < m.index) this.record.restore(m.index, m.term);
  }

  /**
   * Completes a write, in the order a WAL holds it: the snapshot (if not empty), the entries, the
   * HardState (if not empty).
   */
  write(snap: Snapshot | undefined, ents: readonly Entry[], hs: HardState | undefined): void {
    if (snap !== undefined && !isEmptySnap(snap)) {
      this.storage.applySnapshot(snap);
      this.snapIndex = snap.metadata.index;
      this.record.restore(snap.metadata.index, snap.metadata.term);
    }
    if (ents.length > 0) {
      this.storage.append(ents);
      const err = this.record.append(ents);
      if (err !== undefined) throw new Error(`the disk refused the write: ${err}`);
    }
    if (hs !== undefined && !isEmptyHardState(hs)) this.setHardState(hs);
  }

  /**
   * Keeps the first `torn` records of a write interrupted by a crash: entries in order, then the
   * HardState. A write carrying a snapshot is all or nothing (on restart the core requires the
   * HardState's commit index to cover the snapshot).
   */
  writeTorn(
    snap: Snapshot | undefined,
    ents: readonly Entry[],
    hs: HardState | undefined,
    torn: number,
  ): void {
    if (snap !== undefined && !isEmptySnap(snap)) {
      if (torn > 0) this.write(snap, ents, hs);
      return;
    }
    const k = Math.min(torn, ents.length);
    if (k > 0) {
      this.storage.append(ents.slice(0, k));
      const err = this.record.append(ents.slice(0, k));
      if (err !== undefined) throw new Error(`the disk refused the write: ${err}`);
      if (k < ents.length) this.observer.onTornWrite();
    }
    if (torn > ents.length && hs !== undefined && !isEmptyHardState(hs)) this.setHardState(hs);
  }

  /** Takes a snapshot at `i` and compacts the log, keeping `keep` entries before it. */
  snapshot(i: number, cs: ConfState, data: Uint8Array, keep: number): void {
    this.storage.createSnapshot(i, cs, data);
    this.snapIndex = i;
    const compactTo = i - keep;
    if (compactTo >= this.storage.firstIndex()) this.storage.compact(compactTo);
  }

  private setHardState(hs: HardState): void {
    this.observer.onDurableWrite(hs);
    this.storage.setHardState(hs);
    this.term = hs.term;
  }
}

/** A write as one line of a transcript: `snapshot 5/2, entries 6..8, hardstate t3 v1 c7`. */
export function describeWrite(
  snap: Snapshot | undefined,
  ents: readonly Entry[],
  hs: HardState | undefined,
): string {
  const parts: string[] = [];
  if (snap !== undefined && !isEmptySnap(snap))
    parts.push(`snapshot ${snap.metadata.index}/${snap.metadata.term}`);
  if (ents.length > 0) parts.push(`entries ${ents[0]!.index}..${ents[ents.length - 1]!.index}`);
  if (hs !== undefined && !isEmptyHardState(hs))
    parts.push(`hardstate t${hs.term} v${hs.vote} c${hs.commit}`);
  return parts.join(", ");
}
