/**
 * Log compaction (etcd's snapshotIfNeededAndCompactRaftLog) without copying the state: every
 * `snapshotCount` applied entries or `snapshotBytes` of their data, the applied point is captured
 * between two applies; then, in the background while applying goes on, the state is made durable
 * there — a durable state machine's `sync()`, or a volatile one's image streamed into the snapshot
 * directory — and NodeStorage.compact writes the `.snap` file and cuts the log.
 */
import { isDurableStateMachine, type StateMachine } from "@tsraft/raft";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import type { ImageDigest } from "../snap/snapshotter.js";
import { trace, tracing } from "../trace.js";
import type { Applier } from "./applier.js";
import type { Membership } from "./membership.js";
import type { CompactionPoint, NodeStorage } from "./node-storage.js";

/** What the compactor needs, given once. */
export interface CompactorDeps<R> {
  readonly sm: StateMachine<R>;
  readonly applier: Applier<R>;
  readonly membership: Membership;
  readonly disk: NodeStorage;
  readonly snapshotCount: number;
  readonly snapshotBytes: number;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  /** The first entry a compaction at this index must leave in the WAL (followers catching up). */
  readonly keepFrom: (pointIndex: number) => number | undefined;
}

export class Compactor<R> {
  /** The index the log was last compacted (or a snapshot restored) at. */
  snapshotIndex: number;
  /** The applier's `appliedBytes` at that point. */
  private snapshotBytes: number;
  private running = false;

  constructor(
    private readonly d: CompactorDeps<R>,
    snapshotIndex: number,
  ) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotBytes = d.applier.appliedBytes;
  }

  /** More than `snapshotCount` entries or `snapshotBytes` applied since the last compaction, and none running. */
  due(): boolean {
    if (this.running) return false;
    const a = this.d.applier;
    return (
      a.appliedIndex - this.snapshotIndex > this.d.snapshotCount ||
      (a.appliedBytes - this.snapshotBytes > this.d.snapshotBytes && a.appliedIndex > this.snapshotIndex)
    );
  }

  /**
   * If one is due, captures the point (call it between two applies) and returns the background
   * work that finishes the compaction; undefined if none starts. The work never rejects for a
   * compaction a newer snapshot made moot; it does for a failed sync or write (the node stops).
   */
  async start(): Promise<Promise<void> | undefined> {
    const { applier: a, membership, disk, sm } = this.d;
    if (!this.due()) return undefined;
    // After a restart a durable state machine may be ahead while the log replays; and a leader may
    // have applied entries that are not in its MemoryStorage yet. Both pass in a moment.
    if (a.smApplied > a.appliedIndex || a.appliedIndex > disk.memory.lastIndex()) return undefined;
    this.running = true;
    const bytesAtPoint = a.appliedBytes;
    const point: CompactionPoint = {
      ...a.point(),
      members: membership.list(),
      removed: membership.removed(),
    };
    const t0 = performance.now();
    if (tracing) trace("snap", { i: point.index });
    let durable: Promise<ImageDigest | undefined>;
    try {
      if (isDurableStateMachine(sm)) {
        durable = sm.sync().then((index) => {
          if (index < point.index) throw new Error(`the state machine synced ${index}, not ${point.index}`);
          return undefined;
        });
      } else {
        const image = await sm.snapshot();
        durable = disk.snapshotter
          .saveImage(point.term, point.index, image.read())
          .finally(() => image.release());
      }
    } catch (e) {
      this.running = false;
      throw e;
    }
    return this.finish(point, bytesAtPoint, durable, t0);
  }

  /** A snapshot from the leader was restored at `index`: counting starts again from there. */
  restored(index: number): void {
    if (index <= this.snapshotIndex) return;
    this.snapshotIndex = index;
    this.snapshotBytes = this.d.applier.appliedBytes;
  }

  private async finish(
    point: CompactionPoint,
    bytesAtPoint: number,
    durable: Promise<ImageDigest | undefined>,
    t0: number,
  ): Promise<void> {
    try {
      const digest = await durable;
      if (tracing) trace("snap.sm");
      if (!(await this.d.disk.compact(point, digest, this.d.keepFrom(point.index)))) return;
      this.snapshotIndex = point.index;
      this.snapshotBytes = bytesAtPoint;
      const seconds = (performance.now() - t0) / 1000;
      this.d.metrics.compactions.inc();
      this.d.metrics.compactionSeconds.observe(seconds);
      if (tracing) trace("snap.done");
      this.d.log.info({ index: point.index, seconds, image: digest?.size }, "compacted the log");
    } finally {
      this.running = false;
    }
  }
}
