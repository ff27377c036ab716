/**
 * Followers a leader sent a snapshot, until they have caught up. A snapshot of gigabytes takes
 * minutes; what the leader writes meanwhile is what the follower needs next. Compaction must not
 * release those entries from the WAL (log-storage.ts serves them from there), or the follower needs
 * another snapshot, and another (the growth bench showed that cycle: 8 snapshots, never caught up).
 */
import { StateType, type Status } from "@tsraft/raft";

export class CatchUps {
  /** By follower: the first index it needs next (its image's index + 1); -1 until the image is taken. */
  private readonly next = new Map<number, number>();

  /** The core wants a snapshot sent to `peer`. */
  sending(peer: number): void {
    this.next.set(peer, -1);
  }

  /** The image for `peer` was taken at `index`. */
  imageTaken(peer: number, index: number): void {
    if (this.next.has(peer)) this.next.set(peer, index + 1);
  }

  /** The transfer to `peer` failed: the core will send another when it can. */
  failed(peer: number): void {
    this.next.delete(peer);
  }

  /**
   * The first entry a compaction at `pointIndex` must leave in the WAL (undefined: none), as the
   * leader's `status` shows its followers. A follower is followed until it has caught up past the
   * point, gone silent (not recently active: it will get a new snapshot when it is back), or this
   * node no longer leads; what it needs shrinks as it advances.
   */
  keepFrom(status: Status, pointIndex: number): number | undefined {
    if (this.next.size === 0) return undefined;
    if (status.raftState !== StateType.StateLeader) {
      this.next.clear();
      return undefined;
    }
    let from: number | undefined;
    for (const [id, next] of this.next) {
      const pr = status.progress.get(id);
      if (pr === undefined || (next >= 0 && (pr.match >= pointIndex || !pr.recentActive))) {
        this.next.delete(id);
        continue;
      }
      if (next < 0) continue; // its image is not taken yet: it will need what follows that
      const need = Math.max(next, pr.match + 1);
      if (from === undefined || need < from) from = need;
    }
    return from;
  }
}
