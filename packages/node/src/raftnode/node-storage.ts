/**
 * A node's storage (etcd's etcdserver storage): the WAL, the snapshot directory and the
 * MemoryStorage the core reads, opened together and changed together in the order durability
 * needs. At restart it loads the newest snapshot the WAL knows and replays the WAL after it
 * (raftexample's replayWAL, etcd's bootstrapWALFromSnapshot).
 *
 * Snapshots here are small: a `.snap` file holds the index, term, ConfState and the node's
 * metadata (membership, and the digest of an image file if there is one). The state itself stays
 * in a durable state machine; a volatile one's image, and an image received from the leader, sit
 * in a `.image` file beside the `.snap`, written and read as streams.
 */
import { dirname } from "node:path";
import { MemoryStorage } from "@tsraft/raft";
import {
  type Entry,
  type HardState,
  isEmptyHardState,
  newHardState,
  type Snapshot,
} from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { ImageDigest } from "../snap/snapshotter.js";
import { Snapshotter } from "../snap/snapshotter.js";
import type { SnapshotMarker } from "../wal/record.js";
import { WAL, type WalOptions } from "../wal/wal.js";
import { RaftNodeError } from "./errors.js";
import { NodeLogStorage } from "./log-storage.js";
import { toRaftLogger } from "./logger.js";
import type { Member } from "./membership.js";
import {
  decodeSnapshotMetadata,
  decodeWalMetadata,
  encodeSnapshotMetadata,
  encodeWalMetadata,
} from "./metadata.js";
import type { ResolvedNodeOptions } from "./options.js";

/**
 * Where a compaction cuts: an applied index with its term and ConfState (what the WAL's snapshot
 * marker records), and the membership there (what the `.snap` file's metadata adds).
 */
export interface CompactionPoint extends Readonly<SnapshotMarker> {
  readonly members: readonly Member[];
  readonly removed: readonly number[];
}

/** The WAL, the snapshot directory and the MemoryStorage of a node. */
export class NodeStorage {
  /** What the core reads: MemoryStorage, and the WAL's entries behind it a follower needs. */
  readonly log: NodeLogStorage;

  private constructor(
    readonly wal: WAL,
    readonly snapshotter: Snapshotter,
    /** The snapshot, then the entries and HardState, in memory. */
    readonly memory: MemoryStorage,
    /** The snapshot restored from at open (restart only). */
    readonly snapshot: Snapshot | undefined,
    /** The last HardState the WAL held at open (zero on a first start), or {@link rewriteTail}'s. */
    private hs: HardState,
    /** True if the data directory held a WAL with something in it. */
    readonly restarted: boolean,
    private readonly o: ResolvedNodeOptions,
  ) {
    this.log = new NodeLogStorage(memory, wal);
  }

  /** The last HardState the WAL held at open (zero on a first start), or {@link rewriteTail}'s. */
  get hardState(): HardState {
    return this.hs;
  }

  /**
   * Before the node starts: writes `entries` (replacing any at their indexes and after) and
   * `hardState` in one fsynced WAL write, then hands them to MemoryStorage (force-new-cluster.ts).
   */
  async rewriteTail(hardState: HardState, entries: readonly Entry[]): Promise<void> {
    await this.wal.save(hardState, entries, true);
    this.append(hardState, entries);
    this.hs = hardState;
  }

  /** Opens (or creates) the WAL and snapshot directories of `o.dataDir`. */
  static async open(o: ResolvedNodeOptions, log: Logger): Promise<NodeStorage> {
    const raftLog = toRaftLogger(log.child({ component: "storage" }));
    // The directories themselves must survive a crash: a snapshot file in a snap/ whose entry was
    // never synced would vanish while the WAL's marker still names it.
    await o.fs.mkdir(o.dataDir);
    await o.fs.syncDir(dirname(o.dataDir));
    await o.snapFs.mkdir(o.snapDir);
    await o.snapFs.syncDir(o.dataDir);
    const walOpts: WalOptions = { fs: o.fs, logger: raftLog, metrics: o.metrics };
    if (o.walSegmentSize !== undefined) walOpts.segmentSize = o.walSegmentSize;
    if (o.walPreallocate !== undefined) walOpts.preallocate = o.walPreallocate;
    const snapshotter = new Snapshotter(o.snapDir, { fs: o.snapFs, logger: raftLog, metrics: o.metrics });
    const memory = new MemoryStorage(raftLog);
    // Images without a `.snap` are transfers a crash interrupted, or ones Raft never took.
    for (const name of await snapshotter.releaseImages(Number.POSITIVE_INFINITY)) {
      log.info({ file: name }, "removed an unfinished snapshot image");
    }

    if (!(await WAL.exists(o.walDir, o.fs))) {
      const wal = await WAL.create(o.walDir, encodeWalMetadata(o.id, o.clusterId), walOpts);
      log.info({ dir: o.dataDir, join: o.join }, "created a new WAL");
      return new NodeStorage(wal, snapshotter, memory, undefined, newHardState(), false, o);
    }

    const markers = await WAL.readSnapshotMarkers(o.walDir, walOpts);
    const snapshot = await snapshotter.loadNewestAvailable(markers);
    const at = snapshot?.metadata ?? { index: 0, term: 0 };
    const wal = await WAL.open(o.walDir, { index: at.index, term: at.term }, walOpts);
    try {
      const r = await wal.readAll();
      const meta = decodeWalMetadata(r.metadata);
      if (meta === undefined || meta.id !== o.id || meta.clusterId !== o.clusterId) {
        throw new RaftNodeError(
          "DataDirMismatch",
          `raftnode: the WAL in ${o.walDir} belongs to ${
            meta === undefined ? "an unknown node" : `node ${meta.id} of cluster ${meta.clusterId}`
          }, not node ${o.id} of cluster ${o.clusterId}`,
        );
      }
      if (snapshot !== undefined) memory.applySnapshot(snapshot);
      memory.setHardState(r.hardState);
      memory.append(r.entries);
      log.info(
        {
          snapshotIndex: at.index,
          term: r.hardState.term,
          commit: r.hardState.commit,
          lastIndex: memory.lastIndex(),
          repaired: r.repairedFrom,
        },
        "restored from WAL and snapshot",
      );
      // A WAL with nothing in it (a first start that failed after creating it, e.g. on a taken port)
      // is a first start: nothing was ever promised, so the node may still bootstrap.
      const empty = snapshot === undefined && r.entries.length === 0 && isEmptyHardState(r.hardState);
      return new NodeStorage(wal, snapshotter, memory, snapshot, r.hardState, !empty, o);
    } catch (e) {
      await wal.close().catch(() => {});
      throw e;
    }
  }

  /**
   * The state machine image of `snap`, read from its image file and verified as it is read (or,
   * for snapshots of earlier releases, from the snapshot itself). Throws at once if the snapshot
   * has none: the state machine said it was durable at that index, and is not.
   */
  openImage(snap: Snapshot): AsyncIterable<Uint8Array> {
    const { index, term } = snap.metadata;
    const meta = decodeSnapshotMetadata(snap.data);
    if (meta.image !== undefined) return this.snapshotter.readImage(term, index, meta.image);
    const inline = meta.inlineImage;
    if (inline !== undefined) {
      return (async function* () {
        yield inline;
      })();
    }
    throw new Error(
      `raftnode: the state machine is behind the snapshot at index ${index}, which has no image ` +
        "(a durable state machine lost state it reported durable: was its data removed?)",
    );
  }

  /**
   * Stores an image received from the leader for the snapshot at (term, index), durably, and
   * returns `msgSnapshot` with the image's digest added to its metadata (what the core must be
   * stepped with, so that the `.snap` file records it).
   */
  async receiveImage(msgSnapshot: Snapshot, chunks: AsyncIterable<Uint8Array>): Promise<Snapshot> {
    const { index, term } = msgSnapshot.metadata;
    const meta = decodeSnapshotMetadata(msgSnapshot.data);
    const image = await this.snapshotter.saveImage(term, index, chunks);
    return {
      metadata: msgSnapshot.metadata,
      data: encodeSnapshotMetadata({ members: meta.members, removed: meta.removed, image }),
    };
  }

  /**
   * Saves an incoming snapshot before the entries and HardState that follow it (etcd, raftexample):
   * the `.snap` file first (fsynced), then its WAL marker, so a marker never names a missing file.
   * The image is on disk already (receiveImage).
   */
  async saveSnapshot(snap: Snapshot): Promise<void> {
    const { index, term, confState } = snap.metadata;
    await this.snapshotter.save(snap);
    await this.wal.saveSnapshot({ index, term, confState });
  }

  /** HardState and entries to the WAL: one write, fsynced when `mustSync`. */
  save(hardState: HardState | undefined, entries: readonly Entry[], mustSync: boolean): Promise<void> {
    return this.wal.save(hardState, entries, mustSync);
  }

  /**
   * After the write: fsync the WAL (etcd-io/etcd#10219: the HardState must be durable before older
   * segments go), hand the snapshot to MemoryStorage, and release the segments it covers.
   */
  async applySnapshot(snap: Snapshot): Promise<void> {
    await this.wal.sync();
    this.log.keepFrom(undefined);
    this.memory.applySnapshot(snap);
    await this.wal.releaseLockTo(snap.metadata.index);
  }

  /** What the core reads next: the HardState and entries just made durable. */
  append(hardState: HardState | undefined, entries: readonly Entry[]): void {
    if (hardState !== undefined && !isEmptyHardState(hardState)) this.memory.setHardState(hardState);
    this.memory.append(entries);
  }

  /**
   * Compacts the log up to `point` (etcd's snapshot + compact): the state is durable there, in the
   * state machine's storage, or in `image` (a volatile state machine's, written first). Writes the
   * `.snap` file and its WAL marker, drops MemoryStorage entries beyond `snapshotCatchUpEntries` /
   * `snapshotCatchUpBytes` behind the point, and releases older snapshots, images and WAL segments
   * — but not the segments holding entries from `keepFrom` on: a follower catching up after a
   * snapshot at `keepFrom - 1` needs them, and gets them from the WAL (log-storage.ts). Returns
   * false, having done nothing, if a newer snapshot got there first or `point` is not in
   * MemoryStorage yet.
   */
  async compact(
    point: CompactionPoint,
    image: ImageDigest | undefined,
    keepFrom: number | undefined,
  ): Promise<boolean> {
    const m = this.memory;
    if (point.index <= m.snapshot().metadata.index || point.index > m.lastIndex()) return false;
    const data = encodeSnapshotMetadata({
      members: point.members,
      removed: point.removed,
      ...(image === undefined ? {} : { image }),
    });
    const snap = m.createSnapshot(point.index, point.confState, data);
    await this.snapshotter.save(snap);
    await this.wal.saveSnapshot({ index: point.index, term: point.term, confState: point.confState });
    const compactIndex = this.catchUpStart(point.index);
    if (compactIndex >= m.firstIndex()) m.compact(compactIndex);
    const served = this.log.keepFrom(keepFrom);
    await this.wal.releaseLockTo(Math.min(point.index, served));
    await this.snapshotter.releaseSnapshots(this.o.maxSnapshotFiles);
    await this.snapshotter.releaseImages(point.index);
    return true;
  }

  /**
   * The first index to keep behind compaction point `index`: at most `snapshotCatchUpEntries`
   * entries and `snapshotCatchUpBytes` bytes of them (etcd keeps entries only; with large entries
   * that would be unbounded memory).
   */
  private catchUpStart(index: number): number {
    const m = this.memory;
    const byCount = Math.max(1, index - this.o.snapshotCatchUpEntries);
    const from = Math.max(byCount, m.firstIndex());
    if (from > index) return index;
    let bytes = 0;
    const kept = m.entries(from, index + 1, Number.MAX_SAFE_INTEGER);
    for (let i = kept.length - 1; i >= 0; i--) {
      bytes += kept[i]!.data.length;
      if (bytes > this.o.snapshotCatchUpBytes) return kept[i]!.index + 1;
    }
    return byCount;
  }

  close(): Promise<void> {
    return this.wal.close();
  }
}
