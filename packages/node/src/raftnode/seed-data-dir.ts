/**
 * A new member's data directory for a state machine that already holds a state (etcdutl's snapshot
 * restore): the state machine's own storage is at `index` (the caller put it there, e.g. from a
 * backup); this writes the node's part, so that `RaftNode.start` restarts from it as from a
 * compaction at `index` instead of bootstrapping an empty log.
 *
 * Written: a WAL whose metadata names this node and the new cluster, a `.snap` file at (`index`,
 * `term`) whose ConfState makes every member a voter and whose metadata holds their peer URLs (no
 * image: the state machine is durable at that index by itself), its WAL marker, and a HardState
 * committing `index`. Every member of the new cluster gets the same, so they agree on the log up to
 * `index` and elect a leader among themselves. Each file is fsynced before the next step.
 */
import type { ConfState, Snapshot } from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import { type FileSystem, nodeFileSystem } from "../file-system.js";
import { Snapshotter } from "../snap/snapshotter.js";
import { WAL } from "../wal/wal.js";
import { RaftNodeError } from "./errors.js";
import { toRaftLogger } from "./logger.js";
import { encodeSnapshotMetadata, encodeWalMetadata } from "./metadata.js";

/** What {@link seedDataDir} writes. */
export interface SeedDataDirOptions {
  /** The data directory (its `wal/` and `snap/` must not exist yet). */
  readonly dataDir: string;
  readonly id: number;
  /** The new cluster's id: every member's WAL names it, peers refuse any other. */
  readonly clusterId: number;
  /** Every member of the new cluster (voters): id → peer URL; must include `id`. */
  readonly members: ReadonlyMap<number, string>;
  /** The index the state machine's storage is at (its image was taken there). */
  readonly index: number;
  /** The term of the snapshot and of the HardState (default 1, as etcdutl writes). */
  readonly term?: number;
  readonly fs?: FileSystem;
  readonly logger?: Logger;
}

/**
 * Writes the node's part of a restored member's data directory (see the file comment). The caller
 * holds the directory's lock (DataDirLock) and has already placed the state machine's storage.
 * Throws InvalidArgument if the directory already holds a WAL or `members` lacks `id`.
 */
export async function seedDataDir(o: SeedDataDirOptions): Promise<void> {
  const fs = o.fs ?? nodeFileSystem;
  const walDir = `${o.dataDir}/wal`;
  const snapDir = `${o.dataDir}/snap`;
  const term = o.term ?? 1;
  if (!o.members.has(o.id)) {
    throw new RaftNodeError(
      "InvalidArgument",
      `raftnode: member ${o.id} is not among the new cluster's members`,
    );
  }
  if (!Number.isSafeInteger(o.index) || o.index < 1) {
    throw new RaftNodeError("InvalidArgument", `raftnode: cannot seed a data dir at index ${o.index}`);
  }
  if (await WAL.exists(walDir, fs)) {
    throw new RaftNodeError(
      "InvalidArgument",
      `raftnode: ${o.dataDir} already holds a WAL; use an empty data dir`,
    );
  }
  const logger = o.logger === undefined ? undefined : toRaftLogger(o.logger);
  await fs.mkdir(o.dataDir);
  await fs.mkdir(snapDir);
  await fs.syncDir(o.dataDir);
  const ids = [...o.members.keys()].sort((a, b) => a - b);
  const confState: ConfState = {
    voters: ids,
    learners: [],
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
  const snapshot: Snapshot = {
    metadata: { index: o.index, term, confState },
    data: encodeSnapshotMetadata({
      members: ids.map((id) => ({ id, url: o.members.get(id)!, learner: false })),
      removed: [],
    }),
  };
  // The `.snap` first, then the WAL that names it (a marker never names a missing file).
  await new Snapshotter(snapDir, { fs, ...(logger === undefined ? {} : { logger }) }).save(snapshot);
  const wal = await WAL.create(walDir, encodeWalMetadata(o.id, o.clusterId), {
    fs,
    ...(logger === undefined ? {} : { logger }),
  });
  try {
    await wal.saveSnapshot({ index: o.index, term, confState });
    await wal.save({ term, vote: 0, commit: o.index }, [], true);
  } finally {
    await wal.close();
  }
}
