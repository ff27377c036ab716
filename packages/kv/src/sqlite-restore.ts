/**
 * Building a KV database from an image (image.ts) into a file of its own, and the file-system
 * steps around it. {@link SqliteStateMachine.restore} builds the new database next to the live one
 * with {@link buildDatabaseInWorker} (off the event loop, at a lower CPU priority) and then swaps it
 * in; the module comment of
 * sqlite-state-machine.ts walks through why a crash at any step leaves one database or the other.
 */
import { open, rm } from "node:fs/promises";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { ImageDecoder } from "./image-decoder.js";
import { IMAGE_FORMAT_VERSION, ImageError, type ImageRecord, type ImageSummary } from "./image-format.js";
import { CHANGES_PER_REVISION } from "./mvcc-types.js";
import { checkRows } from "./restore-check.js";
import type { FromRestoreWorker, RestoreWorkerData, ToRestoreWorker } from "./restore-worker.js";
import { createLegacySchema, createSchema, migrateSchema } from "./sqlite-database.js";
import { idempotencyInserter } from "./sqlite-idempotency.js";
import { workerModuleUrl } from "./worker-url.js";

/** Longest stretch of inserting between two turns of the event loop while building. */
export const RESTORE_SLICE_MS = 4;
/** Records inserted between two looks at the clock. */
const RECORDS_PER_CLOCK_CHECK = 4;

/**
 * The points of a restore, in order, at which {@link SqliteStateMachineOptions.onRestoreStep} is
 * called (for fault-injection tests):
 * - `built`: the new database is complete, closed and fsynced at `<db>.restore`; the live database
 *   is untouched so far;
 * - `checkpointed`: the live WAL is copied into the live file and truncated to 0 bytes (durably);
 * - `closed`: the live connection is closed and its -wal/-shm files are gone;
 * - `renamed`: `<db>.restore` is renamed over the live file (not yet durable);
 * - `reopened`: the state machine's connection is open on the new file;
 * - `done`: the directory is fsynced: the rename is durable.
 */
export type RestoreStep = "built" | "checkpointed" | "closed" | "renamed" | "reopened" | "done";

/** The files a database at `path` may have besides itself. */
export function companionFiles(path: string): string[] {
  return [`${path}-wal`, `${path}-shm`, `${path}-journal`];
}

/** Removes `path` and its companion files, if present. */
export async function removeDatabaseFiles(path: string): Promise<void> {
  for (const p of [path, ...companionFiles(path)]) await rm(p, { force: true });
}

/**
 * fsync (fdatasync for files) through the thread pool, so the event loop keeps running. A missing
 * file is skipped when `missingOk` (a WAL file removed by a checkpoint-on-close has nothing to sync).
 */
export async function fsyncPath(path: string, kind: "file" | "dir", missingOk = false): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if (missingOk && (err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  try {
    if (kind === "dir") await fh.sync();
    else await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** While a database is built, what SQLite wrote is fdatasynced every this many image bytes. */
const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

/** Options of {@link buildDatabaseFromImage}. */
export interface BuildOptions {
  /** Refuse records larger than this (see {@link ImageDecoderOptions}). */
  readonly maxRecordBytes?: number;
  /**
   * Take the image at most this many bytes/s (default 0: as fast as the disk and CPU allow): a
   * follower building gigabytes competes with the quorum's writes for both.
   */
  readonly bytesPerSec?: number;
}

/**
 * Writes the database the image holds to `path` (which must not exist), sets its applied index to
 * `index`, and fsyncs it: afterwards `path` is a complete KV database in WAL mode with no companion
 * files. One transaction, inserted a slice at a time with a turn of the event loop in between, so
 * memory stays at about a chunk of the image plus SQLite's page cache, whatever the image's size.
 * An image of format 3 is the database's own rows; one of format 1 or 2 (an older backup) is built
 * as the database of its release and migrated (sqlite-database.ts `migrateSchema`), which writes
 * its values twice.
 *
 * Throws an {@link ImageError} if the image is invalid (truncated, corrupt, at another index than
 * `index`, or a key's value row or a change's previous row missing), or whatever reading `image` or
 * writing the file threw; the caller removes the file.
 */
export async function buildDatabaseFromImage(
  path: string,
  index: number,
  image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: BuildOptions = {},
): Promise<ImageSummary> {
  const db = new Database(path);
  let summary: ImageSummary;
  try {
    // No journal and no syncs of SQLite's own while building: a failed build is thrown away whole;
    // the file is fdatasynced as it grows (below) and at the end.
    db.pragma("journal_mode = OFF");
    db.pragma("synchronous = OFF");
    const decoder = new ImageDecoder(
      options.maxRecordBytes === undefined ? {} : { maxRecordBytes: options.maxRecordBytes },
    );
    let insert: ((r: ImageRecord) => void) | undefined;
    let sliceStart = performance.now();
    let n = 0;
    let unsynced = 0;
    const rate = options.bytesPerSec ?? 0;
    const started = performance.now();
    let taken = 0;
    for await (const chunk of image) {
      taken += chunk.length;
      // SQLite spills the transaction's pages to the file as its cache fills; fdatasync what it
      // wrote every 64 MiB, so the kernel never holds GiBs of it dirty (a final fsync of those
      // stalls every other fsync on the disk for seconds: the WAL's, the other nodes' on one box).
      unsynced += chunk.length;
      if (unsynced >= SYNC_EVERY_BYTES) {
        await fsyncPath(path, "file");
        unsynced = 0;
      }
      decoder.push(chunk);
      for (let r = decoder.next(); r !== undefined; r = decoder.next()) {
        if (insert === undefined) {
          insert = inserter(db, decoder.formatVersion);
          db.prepare("BEGIN").run();
        }
        insert(r);
        if (++n % RECORDS_PER_CLOCK_CHECK === 0 && performance.now() - sliceStart > RESTORE_SLICE_MS) {
          await nextTurn();
          sliceStart = performance.now();
        }
      }
      if (decoder.header !== undefined && decoder.header.appliedIndex !== index) {
        throw new ImageError(
          "BadHeader",
          12,
          `the image is at index ${decoder.header.appliedIndex}, not at the index ${index} it was restored for`,
        );
      }
      // Paced: wait until the bytes taken so far are due. Otherwise a turn of the event loop.
      const ahead = rate > 0 ? (taken / rate) * 1000 - (performance.now() - started) : 0;
      if (ahead > 1) await sleep(ahead);
      else await nextTurn();
      sliceStart = performance.now();
    }
    summary = decoder.finish();
    if (insert === undefined) {
      insert = inserter(db, summary.formatVersion);
      db.prepare("BEGIN").run();
    }
    const setMeta = db.prepare<[number, string]>("UPDATE meta SET value = ? WHERE name = ?");
    setMeta.run(index, "applied_index");
    setMeta.run(summary.header.revision, "revision");
    setMeta.run(summary.header.compactRevision, "compact_revision");
    if (summary.formatVersion === IMAGE_FORMAT_VERSION) await checkRows(db, summary);
    db.prepare("COMMIT").run();
    migrateSchema(db);
    // The live database's mode, so that opening the file needs no write.
    db.pragma("journal_mode = WAL");
  } finally {
    db.close(); // also removes the (empty) -wal of the switch above
  }
  await fsyncPath(path, "file");
  return summary;
}

/** Chunks handed to the restore worker and not yet taken: bounds the memory of a restore. */
const CHUNKS_IN_FLIGHT = 4;

/** Options of {@link buildDatabaseInWorker}. */
export interface WorkerBuildOptions extends BuildOptions {
  /**
   * The nice value the worker's thread runs at (Linux; 0 to 19, default 0: unchanged;
   * restore-priority.ts). A follower building gigabytes on a machine it shares with other members
   * then takes only the CPU they leave.
   */
  readonly nice?: number;
  /** Hears the nice value the worker runs at (undefined where it cannot be known). */
  readonly onStarted?: (nice: number | undefined) => void;
}

/**
 * {@link buildDatabaseFromImage} in a worker thread (restore-worker.ts): the event loop only reads
 * `image` and hands its chunks over, at most {@link CHUNKS_IN_FLIGHT} ahead of the build. Resolves
 * and throws as that function does (an ImageError for an invalid image); if reading `image` throws,
 * the build is stopped and that error is thrown once the worker has closed the file. The caller
 * removes the file after a failure.
 */
export async function buildDatabaseInWorker(
  path: string,
  index: number,
  image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: WorkerBuildOptions = {},
): Promise<ImageSummary> {
  const { nice = 0, onStarted, ...build } = options;
  const data: RestoreWorkerData = { path, index, options: build, nice };
  const worker = new Worker(RESTORE_WORKER_URL, { workerData: data, resourceLimits: RESTORE_WORKER_LIMITS });
  let inFlight = 0;
  let outcome: Extract<FromRestoreWorker, { type: "done" | "error" }> | undefined;
  let wake: (() => void) | undefined;
  const settle = (o: NonNullable<typeof outcome>): void => {
    outcome ??= o;
    wake?.();
  };
  worker.on("message", (m: FromRestoreWorker) => {
    if (m.type === "taken") inFlight--;
    else if (m.type === "started") onStarted?.(m.nice);
    else if (m.type === "done" || m.type === "error") settle(m);
    wake?.();
  });
  worker.on("error", (err) => settle({ type: "error", message: err.message }));
  worker.on("exit", (code) => settle({ type: "error", message: `the restore worker exited (${code})` }));
  const until = async (ready: () => boolean): Promise<void> => {
    while (!ready()) await new Promise<void>((r) => (wake = r));
    wake = undefined;
  };
  const post = (m: ToRestoreWorker) => worker.postMessage(m); // a chunk is copied (structured clone)
  try {
    try {
      for await (const chunk of image) {
        await until(() => inFlight < CHUNKS_IN_FLIGHT || outcome !== undefined);
        if (outcome !== undefined) break; // the build failed: stop reading
        inFlight++;
        post({ type: "chunk", chunk });
      }
    } catch (err) {
      post({ type: "abort" });
      await until(() => outcome !== undefined); // the worker closed the database
      throw err;
    }
    if (outcome === undefined) post({ type: "end" });
    await until(() => outcome !== undefined);
    const o = outcome!;
    if (o.type === "done") return o.summary;
    if (o.image === undefined) throw new Error(`kv restore: ${o.message}`);
    const e = new ImageError(o.image.code as ImageError["code"], o.image.offset, "");
    e.message = o.message;
    throw e;
  } finally {
    await worker.terminate();
  }
}

/** The restore worker's module. */
const RESTORE_WORKER_URL = workerModuleUrl("restore-worker.js");
/** Its heap holds a few chunks and rows at a time (as the image worker's: sqlite-snapshot.ts). */
const RESTORE_WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };

/**
 * Creates the schema an image of `formatVersion` is built into and returns what inserts its
 * records: this version's rows (format 3), or the tables of the release that wrote it (1, 2).
 */
function inserter(db: Database.Database, formatVersion: number): (r: ImageRecord) => void {
  const insertIdempotency = (): ((key: Uint8Array, value: Uint8Array) => void) => idempotencyInserter(db);
  if (formatVersion === IMAGE_FORMAT_VERSION) {
    createSchema(db);
    const idempotency = insertIdempotency();
    const key = db.prepare<[Uint8Array, number, number, number, number]>(
      "INSERT INTO kv (key, create_rev, mod_rev, version, mod_id) VALUES (?, ?, ?, ?, ?)",
    );
    const row = db.prepare<[number, Uint8Array, Uint8Array | null, number, number, number, number | null]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    return (r) => {
      if (r.kind === "key-row") key.run(r.key, r.createRevision, r.modRevision, r.version, r.valueRow);
      else if (r.kind === "row") {
        row.run(
          r.id,
          r.key,
          r.value ?? null,
          r.createRevision,
          r.version,
          r.prevModRevision,
          r.prevRow ?? null,
        );
      } else if (r.kind === "idempotency") idempotency(r.key, r.value);
      else throw new Error(`kv image: a ${r.kind} record in a version-${formatVersion} image`); // the decoder refuses it
    };
  }
  createLegacySchema(db);
  const idempotency = insertIdempotency();
  const key = db.prepare<[Uint8Array, Uint8Array, number, number, number]>(
    "INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, ?)",
  );
  const change = db.prepare<
    [number, Uint8Array, Uint8Array | null, number, number, number, Uint8Array | null]
  >(
    "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  return (r) => {
    if (r.kind === "key") key.run(r.key, r.value, r.createRevision, r.modRevision, r.version);
    else if (r.kind === "change") {
      change.run(
        r.revision * CHANGES_PER_REVISION + r.sub,
        r.key,
        r.value ?? null,
        r.createRevision,
        r.version,
        r.prevModRevision,
        r.prevValue ?? null,
      );
    } else if (r.kind === "idempotency") idempotency(r.key, r.value);
    else throw new Error(`kv image: a ${r.kind} record in a version-${formatVersion} image`); // the decoder refuses it
  };
}
