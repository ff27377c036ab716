/**
 * `tsraft-kv restore FILE --cluster URLS --id N --data-dir DIR` (etcdutl snapshot restore): builds
 * member N's data directory of a NEW cluster from a backup (backup-command.ts). Run it once per
 * member with the same FILE and --cluster, then start each member with the command it prints: the
 * members elect a leader and serve the backup's data, from its index on.
 *
 * The file is verified to its end first (complete, its SHA-256 checksum, record order and count): a
 * bad or truncated file is refused with the reason and nothing is created. DIR must be empty or
 * absent. The new cluster's id is `--cluster-id`, or by default derived from the backup's checksum
 * and the member URLs: the same for every member restored from that file into that cluster, and
 * not the source cluster's (a member of the old cluster cannot talk to the new one). What is
 * written: `DIR/kv` (the SQLite store at the backup's index) and the node's WAL and snapshot
 * (`seedDataDir` of @tsraft/node: every listed member a voter, the log starting after that index).
 * A failure removes what was written.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DataDirLock, seedDataDir } from "@tsraft/node";
import { parseFlags, runJsonCommand } from "./command-line.js";
import { parseCluster } from "./config.js";
import { readImageFile, verifyImageFile } from "./image-file.js";
import { DEFAULT_MAX_IMAGE_RECORD_BYTES } from "./image-format.js";
import { OperatorError } from "./operator-error.js";
import { buildDatabaseFromImage, fsyncPath } from "./sqlite-restore.js";
import { DB_FILE } from "./sqlite-state-machine.js";

export const RESTORE_HELP = `tsraft-kv restore: build a member's data directory of a new cluster from a backup.

Usage:
  tsraft-kv restore ./kv.backup --cluster ws://h1:12379,ws://h2:22379,ws://h3:32379 \\
                    --id 1 --data-dir ./data/node-1 [--cluster-id N]

  FILE               a file written by tsraft-kv backup
  --cluster URLS     the new cluster's members, as for tsraft-kv --cluster
  --id N             the member whose data directory this is
  --data-dir DIR     an empty or absent directory
  --cluster-id N     the new cluster's id (default: derived from the backup and --cluster)
Run it for every member with the same FILE and --cluster, then start each with the printed command.
`;

/** What a restore wrote. */
export interface RestoreResult {
  readonly dataDir: string;
  readonly id: number;
  readonly clusterId: number;
  readonly index: number;
  readonly revision: number;
  readonly sha256: string;
  /** The command that starts this member. */
  readonly start: string;
}

/** Options of {@link restoreBackup}. */
export interface RestoreOptions {
  readonly file: string;
  readonly cluster: ReadonlyMap<number, string>;
  /** The --cluster text, as given (for the printed start command). */
  readonly clusterText: string;
  readonly id: number;
  readonly dataDir: string;
  readonly clusterId?: number | undefined;
}

/** Runs the command with `argv` (after `restore`); returns the exit code. */
export function runRestore(argv: readonly string[]): Promise<number> {
  return runJsonCommand("restore", RESTORE_HELP, () => parseRestoreArgs(argv), restoreBackup);
}

function parseRestoreArgs(argv: readonly string[]): RestoreOptions | "help" {
  const str = { type: "string" } as const;
  const { values: v, positionals } = parseFlags(argv, {
    cluster: str,
    id: str,
    "data-dir": str,
    "cluster-id": str,
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return "help";
  if (positionals.length !== 1) throw new Error("give exactly one backup FILE");
  if (v.cluster === undefined) throw new Error("--cluster URLS is required");
  if (v.id === undefined || !/^[0-9]+$/.test(v.id)) throw new Error("--id N is required");
  if (v["data-dir"] === undefined) throw new Error("--data-dir DIR is required");
  const cluster = parseCluster(v.cluster);
  const id = Number(v.id);
  if (!cluster.has(id)) throw new Error(`--id ${id} is not in --cluster`);
  const cid = v["cluster-id"];
  if (cid !== undefined && (!/^[0-9]+$/.test(cid) || !Number.isSafeInteger(Number(cid)) || Number(cid) < 1)) {
    throw new Error("--cluster-id must be a positive integer");
  }
  return {
    file: positionals[0]!,
    cluster,
    clusterText: v.cluster,
    id,
    dataDir: v["data-dir"],
    clusterId: cid === undefined ? undefined : Number(cid),
  };
}

/**
 * The default id of a cluster restored from the backup whose image checksum is `sha256` into
 * `cluster`: 48 bits of a hash of both (nonzero).
 */
export function restoredClusterId(sha256: string, cluster: ReadonlyMap<number, string>): number {
  const h = createHash("sha256").update(`tsraft-kv restore\n${sha256}\n`);
  for (const id of [...cluster.keys()].sort((a, b) => a - b)) h.update(`${id}=${cluster.get(id)}\n`);
  return h.digest().readUIntBE(0, 6) || 1;
}

/** Builds the member's data directory (see the file comment). */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  if (!existsSync(o.file)) throw new OperatorError(`${o.file} does not exist`);
  const existed = existsSync(o.dataDir);
  if (existed && readdirSync(o.dataDir).length > 0) {
    throw new OperatorError(`${o.dataDir} is not empty; restore into an empty or new directory`);
  }
  const summary = await verifyImageFile(o.file).catch((err: Error) => {
    throw new OperatorError(`${o.file} is not a valid backup: ${err.message}`);
  });
  const index = summary.header.appliedIndex;
  const clusterId = o.clusterId ?? restoredClusterId(summary.checksum, o.cluster);
  mkdirSync(o.dataDir, { recursive: true });
  let lock: DataDirLock | undefined;
  try {
    lock = DataDirLock.acquire(o.dataDir);
    const kvDir = join(o.dataDir, "kv");
    mkdirSync(kvDir);
    await buildDatabaseFromImage(join(kvDir, DB_FILE), index, readImageFile(o.file), {
      maxRecordBytes: DEFAULT_MAX_IMAGE_RECORD_BYTES,
    });
    await fsyncPath(kvDir, "dir");
    await seedDataDir({ dataDir: o.dataDir, id: o.id, clusterId, members: o.cluster, index });
    await fsyncPath(o.dataDir, "dir");
  } catch (err) {
    lock?.release();
    lock = undefined;
    // Nothing was there before: remove everything this run wrote.
    if (existed)
      for (const f of readdirSync(o.dataDir)) rmSync(join(o.dataDir, f), { recursive: true, force: true });
    else rmSync(o.dataDir, { recursive: true, force: true });
    throw err;
  } finally {
    lock?.release();
  }
  return {
    dataDir: o.dataDir,
    id: o.id,
    clusterId,
    index,
    revision: summary.header.revision,
    sha256: summary.checksum,
    start: `tsraft-kv --id ${o.id} --cluster ${o.clusterText} --cluster-id ${clusterId} --data-dir ${o.dataDir}`,
  };
}
