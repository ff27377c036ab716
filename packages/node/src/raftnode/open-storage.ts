/**
 * Opening a node's data directory: a new WAL for a first start, or, at restart, the newest snapshot
 * the WAL knows plus the WAL replayed from it, loaded into a MemoryStorage (raftexample's
 * replayWAL, etcd's bootstrapWALFromSnapshot).
 */
import { MemoryStorage } from "@tsraft/raft";
import { type HardState, isEmptyHardState, newHardState, type Snapshot } from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import { Snapshotter } from "../snap/snapshotter.js";
import { WAL, type WalOptions } from "../wal/wal.js";
import { decodeWalMetadata, encodeWalMetadata } from "./envelope.js";
import { toRaftLogger } from "./logger.js";
import type { ResolvedNodeOptions } from "./options.js";

/** A node's storage, ready to run. */
export interface OpenedStorage {
  readonly wal: WAL;
  readonly snapshotter: Snapshotter;
  /** What the core reads: the snapshot, then the WAL's entries and HardState. */
  readonly storage: MemoryStorage;
  /** The snapshot restored from (restart only). */
  readonly snapshot: Snapshot | undefined;
  /** The last HardState the WAL holds (zero on a first start). */
  readonly hardState: HardState;
  /** True if the data directory held a WAL with something in it. */
  readonly restarted: boolean;
}

/** Opens (or creates) the WAL and snapshot directories of `o.dataDir`. */
export async function openStorage(o: ResolvedNodeOptions, log: Logger): Promise<OpenedStorage> {
  const fs = o.fs;
  const raftLog = toRaftLogger(log.child({ component: "storage" }));
  await fs.mkdir(o.dataDir);
  await fs.mkdir(o.snapDir);
  if (o.realFs) await removeStaleTransfers(o, log);
  const walOpts: WalOptions = { fs, logger: raftLog, metrics: o.metrics };
  if (o.walSegmentSize !== undefined) walOpts.segmentSize = o.walSegmentSize;
  if (o.walPreallocate !== undefined) walOpts.preallocate = o.walPreallocate;
  const snapshotter = new Snapshotter(o.snapDir, { fs, logger: raftLog, metrics: o.metrics });
  const storage = new MemoryStorage(raftLog);

  if (!(await WAL.exists(o.walDir, fs))) {
    const wal = await WAL.create(o.walDir, encodeWalMetadata(o.id, o.clusterId), walOpts);
    log.info({ dir: o.dataDir, join: o.join }, "created a new WAL");
    return { wal, snapshotter, storage, snapshot: undefined, hardState: newHardState(), restarted: false };
  }

  const markers = await WAL.readSnapshotMarkers(o.walDir, walOpts);
  const snapshot = await snapshotter.loadNewestAvailable(markers);
  const at = snapshot?.metadata ?? { index: 0, term: 0 };
  const wal = await WAL.open(o.walDir, { index: at.index, term: at.term }, walOpts);
  try {
    const r = await wal.readAll();
    const meta = decodeWalMetadata(r.metadata);
    if (meta === undefined || meta.id !== o.id || meta.clusterId !== o.clusterId) {
      throw new Error(
        `raftnode: the WAL in ${o.walDir} belongs to ${
          meta === undefined ? "an unknown node" : `node ${meta.id.toString(16)} of cluster ${meta.clusterId}`
        }, not node ${o.id.toString(16)} of cluster ${o.clusterId}`,
      );
    }
    if (snapshot !== undefined) storage.applySnapshot(snapshot);
    storage.setHardState(r.hardState);
    storage.append(r.entries);
    log.info(
      {
        snapshotIndex: at.index,
        term: r.hardState.term,
        commit: r.hardState.commit,
        lastIndex: storage.lastIndex(),
        repaired: r.repairedFrom,
      },
      "restored from WAL and snapshot",
    );
    // A WAL with nothing in it (a first start that failed after creating it, e.g. on a taken port)
    // is a first start: nothing was ever promised, so the node may still bootstrap.
    const empty = snapshot === undefined && r.entries.length === 0 && isEmptyHardState(r.hardState);
    return { wal, snapshotter, storage, snapshot, hardState: r.hardState, restarted: !empty };
  } catch (e) {
    await wal.close().catch(() => {});
    throw e;
  }
}

/** Deletes snapshot transfers a crash left half-received in the snapshot directory. */
async function removeStaleTransfers(o: ResolvedNodeOptions, log: Logger): Promise<void> {
  for (const name of await o.fs.readdir(o.snapDir)) {
    if (name.startsWith("tsraft-snap-") && name.endsWith(".part")) {
      await o.fs.unlink(`${o.snapDir}/${name}`);
      log.info({ file: name }, "removed an unfinished snapshot transfer");
    }
  }
}
