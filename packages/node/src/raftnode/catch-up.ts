/**
 * Followers a leader sent a snapshot, until they have caught up. A snapshot of gigabytes takes
 * minutes; what the leader writes meanwhile is what the follower needs next. Compaction must not
 * release those entries from the WAL (log-storage.ts serves them from there), or the follower needs
 * another snapshot, and another (the growth bench showed that cycle: 8 snapshots, never caught up).
 */
import { StateType, type Status } from "@tsraft/raft";

/**
 * A follower found inactive at this many compactions in a row is let go. One look is not enough: a
 * leader whose apply loop paused for a few seconds (a long SQLite checkpoint after a transfer) sees
 * every follower inactive at its next compaction, and a restoring follower may miss an election
 * timeout's worth of heartbeats; letting go then costs a whole new image. A follower that is gone
 * holds at most this many compactions' worth of WAL segments on the leader's disk.
 */
export const INACTIVE_COMPACTIONS = 3;

export class CatchUps {
  /** By follower: the first index it needs next (its image's index + 1); -1 until the image is taken. */
  private readonly next = new Map<number, number>();
  /** By follower: how many compactions in a row found it inactive. */
  private readonly silent = new Map<number, number>();

  /** The core wants a snapshot sent to `peer`. */
  sending(peer: number): void {
    this.next.set(peer, -1);
    this.silent.delete(peer);
  }

  /** The image for `peer` was taken: the follower needs the entries after `index` next. */
  imageTaken(peer: number, index: number): void {
    if (this.next.has(peer)) this.next.set(peer, index + 1);
  }

  /** The transfer to `peer` failed: the core will send another when it can. */
  failed(peer: number): void {
    this.next.delete(peer);
    this.silent.delete(peer);
  }

  /**
   * The first entry a compaction at `pointIndex` must leave in the WAL (undefined: none), as the
   * leader's `status` shows its followers. A follower is followed until it has caught up past the
   * point, gone silent ({@link INACTIVE_COMPACTIONS} compactions in a row not recently active: it
   * will get a new snapshot when it is back), or this node no longer leads; what it needs shrinks as
   * it advances.
   */
  keepFrom(status: Status, pointIndex: number): number | undefined {
    if (this.next.size === 0) return undefined;
    if (status.raftState !== StateType.StateLeader) {
      this.next.clear();
      this.silent.clear();
      return undefined;
    }
    let from: number | undefined;
    for (const [id, next] of this.next) {
      const pr = status.progress.get(id);
      const silent = pr?.recentActive === false ? (this.silent.get(id) ?? 0) + 1 : 0;
      this.silent.set(id, silent);
      if (pr === undefined || (next >= 0 && (pr.match >= pointIndex || silent >= INACTIVE_COMPACTIONS))) {
        this.next.delete(id);
        this.silent.delete(id);
        continue;
      }
      if (next < 0) continue; // its image is not taken yet: it will need what follows that
      const need = Math.max(next, pr.match + 1);
      if (from === undefined || need < from) from = need;
    }
    return from;
  }
}
