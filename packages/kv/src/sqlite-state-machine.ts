/**
 * The KV state machine on SQLite (better-sqlite3): the keys and values with their revisions, the
 * history of changes (mvcc-store.ts), the applied index and the store's revision in one database
 * file, `<dir>/kv.sqlite`, in WAL journal mode. It is a durable
 * {@link StateMachine} (packages/raft/src/state-machine.ts): its state lives in this file, `sync()`
 * makes it durable at an index the node may compact its log up to, and an image of it is produced
 * only when a follower needs one.
 *
 * **Applying.** Every batch of committed entries is applied atomically together with the index of
 * the batch's last entry (a savepoint), so the database always holds exactly the entries up to its
 * applied index. Batches accumulate in one open SQLite transaction that is committed every
 * `commitIntervalMs` (100 ms) or `commitEntries` (10,000) entries, and by `sync`, `snapshot`,
 * `restore` and `close` (etcd's backend batches the same way). Commits run with
 * `synchronous=NORMAL`, which in WAL mode does not fsync: a commit appends the transaction's pages
 * to the -wal file (in the OS page cache), and only checkpoints, `sync()` and the first write to a
 * new or restarted WAL (its header; done at open and by the checkpoint worker) sync anything.
 *
 * **Durability: `sync()`.** `sync()` commits, takes the applied index, then fsyncs the database file
 * and the -wal file (and, the first time after opening or restoring, the directory, which makes the
 * -wal file's entry durable) through libuv's thread pool, and resolves with that index. Everything
 * committed before the call is then durable, whatever checkpoints ran meanwhile. In WAL mode the
 * database file changes only through checkpoints; a transaction committed before `sync()` is, when
 * the -wal file is fsynced, either
 * - still in the WAL's frames (the WAL has not restarted from its beginning since): that fsync makes
 *   them durable, header included; or
 * - copied into the database file by a checkpoint, and the WAL restarted since. SQLite restarts the
 *   WAL only after a checkpoint copied all of it (`nBackfill` reached the end), and a checkpoint run
 *   with `synchronous=NORMAL` or FULL fsyncs the database file before it records that (SQLite's
 *   walCheckpoint; "the database file is synchronized after each completed checkpoint" in the
 *   `PRAGMA synchronous` documentation). Our checkpoints run with NORMAL (wal-checkpointer.ts), so
 *   the frame was durable in the database file before it could be overwritten in the WAL; the
 *   fsync of the database file here covers it again at little cost.
 *
 * So after a crash the database holds a state at or after the index the last `sync()` resolved
 * with, and at most what was applied — the exact result of the entries up to its applied index
 * (SQLite's commits are atomic, and WAL mode stays consistent with NORMAL). Nothing acknowledged is
 * lost and nothing is applied twice:
 *
 * 1. A write is acknowledged only once its entry is committed, i.e. fsynced in the Raft WAL of a
 *    quorum; it is applied here only after that, and only from this node's log.
 * 2. The node compacts its log (MemoryStorage and Raft WAL) only up to an index `sync()` resolved
 *    with. At restart it delivers every entry of its log after that point, and this state machine
 *    skips those at or below its applied index: whatever tail the database lost since the last
 *    sync is applied again, in order, exactly once. Committed entries this node's log lacks come
 *    from the leader as to any lagging follower.
 * 3. A follower too far behind gets the leader's image and {@link SqliteStateMachine.restore}s it,
 *    which replaces the file atomically: after a crash the database is the old one (at or after its
 *    last synced index) or the new one (fsynced before the swap, at the image's index), never a mix.
 *
 * **Images.** `snapshot()` commits, then a worker thread pins the state in a read transaction of
 * its own connection (sqlite-snapshot.ts; commits wait the few milliseconds until it has): WAL mode
 * lets this connection go on committing while the worker produces the image from a cursor, chunk by
 * chunk as the consumer takes them (image-worker.ts). The image format is image.ts's (a logical, checksummed record stream),
 * also what a backup holds.
 *
 * **Restore** (sqlite-restore.ts builds the new file; the swap is here, in this order):
 * 1. build the new database from the image at `kv.sqlite.restore` (one transaction, in a worker
 *    thread at a low CPU priority: restore-worker.ts), verify the image's checksum and index, set
 *    the applied index, commit, close, fsync. A bad image throws here; the temp file is removed and nothing
 *    else was touched. A crash leaves the old database and a temp file `open` removes.
 * 2. commit what is applied, let the checkpoint worker copy the live WAL into the live file, then
 *    `wal_checkpoint(TRUNCATE)` the rest on this connection (WAL now 0 bytes, the file synced) and
 *    fsync the -wal file: the live file alone is now the whole old state, durably, and the WAL left
 *    behind is empty, so a stale WAL can never be replayed onto the new file.
 * 3. synchronously (no read can see a closed connection): close the connection, remove -wal/-shm,
 *    rename `kv.sqlite.restore` over `kv.sqlite`, reopen. A crash before the rename leaves the old
 *    file; after it, the new one.
 * 4. fsync the directory: the rename is durable (before that a power loss may bring back the old
 *    file, which is complete on its own).
 *
 * **Checkpoints** run in a worker thread (wal-checkpointer.ts), never on the event loop, unless
 * `walCheckpoints: "inline"` (SQLite's automatic checkpoints in the committing connection). The
 * worker also restarts the WAL, once per `walCheckpointBytes` written, with a small write of its
 * own (a counter in `meta`, outside the state) while `apply` waits for it asynchronously: the only
 * other writer, and only while this connection has no transaction open. So this connection never
 * syncs, checkpoints or truncates anything during normal operation, and the WAL stays bounded.
 *
 * Tests: sqlite-state-machine.test.ts (apply, batched commits, a crash losing only whole batches,
 * sync surviving a reopen), sqlite-image.test.ts (images under writes, restore atomicity across a
 * crash at every step, bounded memory), and test/kv/sqlite-tail.test.ts against a running cluster.
 * Serializable reads on a node restarted after a power loss may see the older state until the
 * replay has caught up, as they may on any lagging follower; linearizable reads wait for it.
 */

import { mkdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { trace, tracing } from "@tsraft/node/trace";
import type { ApplyEntry, StateMachine } from "@tsraft/raft";
import type Database from "better-sqlite3";
import type { Logger } from "pino";
import { decodeIdempotent } from "./idempotency.js";
import { DEFAULT_IMAGE_CHUNK_BYTES } from "./image-format.js";
import { MvccStore } from "./mvcc-store.js";
import {
  CompactedError,
  FutureRevisionError,
  type KeyRange,
  type KeyValue,
  type KvChange,
  type RangePage,
  type RangeRequest,
} from "./mvcc-types.js";
import { DEFAULT_RESTORE_NICE } from "./restore-priority.js";
import { openDatabase, prepare, readMeta, type Statements, startWal } from "./sqlite-database.js";
import { IdempotencyTable } from "./sqlite-idempotency.js";
import {
  buildDatabaseInWorker,
  companionFiles,
  fsyncPath,
  type RestoreStep,
  removeDatabaseFiles,
} from "./sqlite-restore.js";
import { type SqliteImageSnapshot, SqliteSnapshot } from "./sqlite-snapshot.js";
import { type StateHash, StateHasher } from "./state-hash.js";
import { casTxn, readOnlyStore, runTxn, type Txn, type TxnResult } from "./txn.js";
import { decodeKvCommand, type KvCommand } from "./txn-command.js";
import { type CheckpointResult, DEFAULT_WAL_CHECKPOINT_BYTES, WalCheckpointer } from "./wal-checkpointer.js";

export { CompactedError, FutureRevisionError } from "./mvcc-types.js";
/**
 * The database file's name inside the state machine's directory. (Declared here, not beside the
 * schema: this module's types are public, and sqlite-database.ts's would make better-sqlite3's
 * types part of them.)
 */
export const DB_FILE = "kv.sqlite";
export type { RestoreStep } from "./sqlite-restore.js";
export type { SqliteImageSnapshot } from "./sqlite-snapshot.js";

/** What applying one normal entry did; the node hands it to the proposer's `propose()` promise. */
export type ApplyResult =
  /**
   * A put, delete or compaction applied; `revision`: the store's revision after it (mvcc-store.ts).
   * `replayed`: an idempotent retry; this is the first attempt's result (idempotency.ts).
   */
  | { readonly kind: "ok"; readonly revision: number; readonly replayed?: true }
  /** A conditional write whose `prev` did not match; `current` is the value found (undefined: absent). */
  | { readonly kind: "compare-failed"; readonly current: Uint8Array | undefined; readonly replayed?: true }
  /** A transaction (txn.ts) ran. `replayed`: an idempotent retry; this is the first attempt's result. */
  | { readonly kind: "txn"; readonly result: TxnResult; readonly replayed?: true }
  /**
   * A transaction sent with an idempotency key whose result (`bytes`, encoded) would be larger than
   * an idempotency record keeps (txn-result-codec.ts): not applied; it changed nothing.
   */
  | { readonly kind: "txn-too-large"; readonly bytes: number; readonly replayed?: true }
  /** The entry's data was not a command (never proposed by this server); it changed nothing. */
  | { readonly kind: "invalid"; readonly error: string }
  /** Its idempotency key was recorded for another request within the window; it changed nothing. */
  | { readonly kind: "key-reused" };

/** What an apply (or a restore) moved the store to; {@link SqliteStateMachine.onApplied} listeners hear it. */
export interface AppliedState {
  readonly revision: number;
  readonly compactRevision: number;
  /** True after a restore replaced the whole state (the history may have jumped). */
  readonly restored: boolean;
}

/** Options of {@link SqliteStateMachine.open}. */
export interface SqliteStateMachineOptions {
  /** Logs malformed entries, restores, checkpoint trouble and commit failures. Default: none. */
  logger?: Logger;
  /**
   * Longest time applied entries wait in the open transaction before it is committed (default
   * 100 ms, etcd's backend batch interval). 0 commits every applied batch at once.
   */
  commitIntervalMs?: number;
  /** Applied entries after which the open transaction is committed at once (default 10,000, etcd's batch limit). */
  commitEntries?: number;
  /**
   * Called once if a commit outside `apply` (the interval's) fails; every later call of the state
   * machine then throws that error. The server stops its node here (it must not serve reads of
   * state the database no longer holds).
   */
  onFailure?: (err: unknown) => void;
  /**
   * Who checkpoints the WAL: `worker` (default) a worker thread, off the event loop
   * (wal-checkpointer.ts); `inline` SQLite's automatic checkpoints, in the commit that pushes the
   * WAL past 1000 pages, on the event loop (what this state machine did before; kept to measure
   * the difference, and as the fallback when the worker fails).
   */
  walCheckpoints?: "worker" | "inline";
  /**
   * The WAL is checkpointed and restarted when the -wal file outgrows this (default 64 MiB), and
   * shrinks back to it (wal-checkpointer.ts). Applying pauses once per this many bytes written.
   */
  walCheckpointBytes?: number;
  /** Each checkpoint the worker ran (metrics, tests). */
  onCheckpoint?: (r: CheckpointResult) => void;
  /** Size of the image chunks `snapshot().read()` yields (default 512 KiB). */
  imageChunkBytes?: number;
  /** `restore` refuses images with a record (key + value) larger than this (default 64 MiB). */
  maxImageRecordBytes?: number;
  /**
   * `restore` takes its image at most this many bytes/s (default 0: unpaced), so that a follower
   * building a large database leaves the disk and CPU to the quorum's writes.
   */
  restoreBytesPerSec?: number;
  /**
   * The nice value `restore` builds the new database at, in a worker thread of its own (Linux; 0
   * to 19; default {@link DEFAULT_RESTORE_NICE}; restore-priority.ts).
   */
  restoreNice?: number;
  /**
   * Log entries an idempotency key is remembered for (default {@link IDEMPOTENCY_WINDOW}). Must be
   * the same on every member: tests only.
   */
  idempotencyWindow?: number;
  /**
   * Fault injection for tests: called at each step of a restore (see {@link RestoreStep}). A hook
   * that throws fails the restore at that point as an I/O error there would.
   */
  onRestoreStep?: (step: RestoreStep) => void;
}

/** Defaults of {@link SqliteStateMachineOptions}: etcd's backend batch interval and limit. */
const DEFAULT_COMMIT_INTERVAL_MS = 100;
const DEFAULT_COMMIT_ENTRIES = 10_000;

/**
 * The SQLite-backed {@link StateMachine}. Open it with {@link SqliteStateMachine.open}, hand it to
 * the RaftNode, read it with `get` (after `linearizableRead` for a linearizable read) and `close`
 * it after the node stopped.
 */
export class SqliteStateMachine implements StateMachine<ApplyResult> {
  private db: Database.Database;
  private stmts: Statements;
  /** Idempotency records (sqlite-idempotency.ts), on the same connection as `stmts`. */
  private idempotency: IdempotencyTable;
  /**
   * Invariant: equals the `applied_index` row of `meta` as this connection sees it (the open
   * transaction's, once something is applied in it; the committed one may be lower, the durable
   * one lower still).
   */
  private applied: number;
  /** Invariant: equals the `revision` row of `meta`: the last revision a change was applied at. */
  private rev: number;
  /** Invariant: equals the `compact_revision` row of `meta`. */
  private compactRev: number;
  /** The keys, their revisions and the history, on `db`; rebuilt with it. */
  private store: MvccStore;
  private readonly appliedListeners = new Set<(s: AppliedState) => void>();
  private readonly path: string;
  private readonly options: SqliteStateMachineOptions;
  private readonly logger: Logger | undefined;
  private readonly commitIntervalMs: number;
  private readonly commitEntries: number;
  /** Entries applied in the open transaction (0: none is open). */
  private pending = 0;
  /** Commits the open transaction when the interval is over. Invariant: set iff `pending > 0` and an interval is configured. */
  private commitTimer: NodeJS.Timeout | undefined;
  /** The error of a failed commit or fsync: the state machine refuses every call after it. */
  private failure: unknown;
  /** Undefined with inline checkpoints, or after the worker failed (then inline too). */
  private checkpointer: WalCheckpointer | undefined;
  private inlineCheckpoints: boolean;
  /** Images not released yet; a restore or close ends them. */
  private readonly snapshots = new Set<SqliteSnapshot>();
  /**
   * Snapshots whose worker has not pinned the state yet (sqlite-snapshot.ts): until it has, the
   * committed state must stay the one at the snapshot's index, so commits wait (`commitHeld`).
   */
  private pinning = 0;
  /** Settles once every snapshot begun so far has pinned its state or failed to. */
  private pinsSettled: Promise<void> = Promise.resolve();
  private commitHeld = false;
  /** Settles when the fsyncs of every `sync()` begun so far are done (a restore waits for them). */
  private syncing: Promise<void> = Promise.resolve();
  /** True once the directory was fsynced since the database (and its -wal file) was opened. */
  private dirDurable = false;
  private restoring = false;
  private closed = false;

  private constructor(dir: string, options: SqliteStateMachineOptions) {
    this.path = join(dir, DB_FILE);
    this.options = options;
    this.logger = options.logger;
    this.commitIntervalMs = options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
    this.commitEntries = options.commitEntries ?? DEFAULT_COMMIT_ENTRIES;
    this.inlineCheckpoints = options.walCheckpoints === "inline";
    // A restore that crashed before its rename left its temp database: the live one is intact.
    for (const p of [this.tempPath, ...companionFiles(this.tempPath)]) rmSync(p, { force: true });
    this.db = this.openConnection();
    this.stmts = prepare(this.db);
    this.store = new MvccStore(this.db);
    this.idempotency = new IdempotencyTable(this.db, options.idempotencyWindow);
    ({
      appliedIndex: this.applied,
      revision: this.rev,
      compactRevision: this.compactRev,
    } = readMeta(this.db));
    startWal(this.db, this.path);
  }

  /** Opens (creating if needed) the state machine in `dir`. Throws if the file is not ours. */
  static open(dir: string, options: SqliteStateMachineOptions = {}): SqliteStateMachine {
    mkdirSync(dir, { recursive: true });
    return new SqliteStateMachine(dir, options);
  }

  /** The applied index as this state machine sees it (at open: the database's committed one). */
  appliedIndex(): number {
    return this.applied;
  }

  /** The store's revision: the last one a change was applied at (mvcc-store.ts); images carry it. */
  revision(): number {
    return this.rev;
  }

  /** History at or below this revision is gone: reads at a revision and watches start after it. */
  compactRevision(): number {
    return this.compactRev;
  }

  /**
   * Calls `listener` after every applied batch that moved the applied index, and after a restore,
   * with the store's revisions (watches follow the history with it, watch-hub.ts). Returns the
   * function that removes it. A listener must not throw, and must not read the store from inside
   * the call (the batch's transaction is still being set up): defer the work.
   */
  onApplied(listener: (s: AppliedState) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /**
   * Applies a batch atomically (all of it with its applied index, or nothing) in the open
   * transaction, which is committed later (see the module comment). Entries at or below the applied
   * index are skipped (their effects are already in the database), so a replay after a crash cannot
   * apply anything twice. Throws if the batch could not be applied; the node then stops.
   *
   * Returns a promise (instead of the results) when it first waits for the checkpoint worker to
   * finish copying the WAL, about once per `walCheckpointBytes` written: the transaction it then
   * begins restarts the WAL (wal-checkpointer.ts). The event loop runs meanwhile.
   */
  apply(entries: readonly ApplyEntry[]): (ApplyResult | undefined)[] | Promise<(ApplyResult | undefined)[]> {
    this.checkUsable();
    if (this.pending === 0) {
      const wait = this.checkpointer?.beforeBegin(this.snapshots.size > 0);
      if (wait !== undefined) return wait.then(() => this.applyNow(entries));
    }
    return this.applyNow(entries);
  }

  private applyNow(entries: readonly ApplyEntry[]): (ApplyResult | undefined)[] {
    this.checkUsable();
    const results: (ApplyResult | undefined)[] = new Array(entries.length).fill(undefined);
    if (this.pending === 0) this.stmts.begin.run();
    try {
      this.applyTx(entries, results);
    } catch (err) {
      // The savepoint is rolled back; if SQLite rolled the whole transaction back (it may, on I/O
      // errors), what this connection sees is the last commit: read the applied index again.
      this.resync();
      throw err;
    }
    if (this.db.inTransaction) {
      this.pending += entries.length;
      if (this.pending >= this.commitEntries || this.commitIntervalMs === 0) this.commit();
      else this.commitTimer ??= setTimeout(this.onCommitTimer, this.commitIntervalMs);
    }
    this.notifyApplied(false);
    return results;
  }

  /**
   * Commits the open transaction now (a no-op when none is open); no fsync (see {@link sync}).
   * Throws if the commit fails; the state machine then refuses every later call.
   */
  commit(): void {
    this.commitNow(false);
  }

  /** {@link commit}; unless `force`, it waits while a snapshot is pinning (see `pinning`). */
  private commitNow(force: boolean): void {
    this.checkFailure();
    if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (this.pending === 0) return;
    if (this.pinning > 0 && !force) {
      this.commitHeld = true;
      return;
    }
    this.pending = 0;
    if (!this.db.inTransaction) return;
    try {
      if (tracing) trace("sm.commit");
      this.stmts.commit.run();
      if (tracing) trace("sm.commit.done");
    } catch (err) {
      this.fail(err, "committing the state machine failed: refusing further calls");
    }
    // Started at the first commit: a state machine only read from needs no worker.
    if (!this.inlineCheckpoints && !this.closed && !this.restoring)
      this.checkpointer ??= this.startCheckpointer();
    this.checkpointer?.committed();
  }

  /**
   * Makes everything applied so far durable and resolves with the applied index it covers (the
   * index at the call): commits, then fsyncs the database and -wal files (and the directory, the
   * first time after opening or restoring) in the thread pool while the event loop goes on. The
   * node calls it every `snapshotCount` entries and compacts its log up to the index; entries
   * applied meanwhile are not covered. An fsync failure is fatal: the state machine refuses every
   * later call (the kernel may have dropped the pages it could not write).
   */
  async sync(): Promise<number> {
    this.checkUsable();
    if (this.pinning > 0) {
      await this.pinsSettled;
      this.checkUsable();
    }
    this.commit();
    const index = this.applied;
    const done = this.makeDurable();
    this.syncing = Promise.all([this.syncing, done]).then(
      () => {},
      () => {},
    );
    try {
      await done;
    } catch (err) {
      this.fail(err, "fsyncing the state machine failed: refusing further calls");
    }
    return index;
  }

  private async makeDurable(): Promise<void> {
    await fsyncPath(this.path, "file");
    await fsyncPath(`${this.path}-wal`, "file", true);
    if (!this.dirDurable) {
      await fsyncPath(dirname(this.path), "dir");
      this.dirDurable = true;
    }
  }

  /**
   * A consistent image of the state at the applied index (commits first). A worker thread pins the
   * state (a read transaction on a connection of its own) a few tens of milliseconds later; until
   * then commits wait, so what it pins is this index's state while entries keep being applied.
   * `read()` yields the image (image-format.ts) chunk by chunk, produced by the worker, and
   * `release()` ends the read transaction: the WAL cannot shrink while it lasts (see
   * sqlite-snapshot.ts). A restore or `close` ends snapshots still open (their `read` then fails).
   * Returns a promise only when an earlier snapshot is still pinning and entries were applied
   * since: it waits for that pin to commit them.
   */
  snapshot(): SqliteImageSnapshot | Promise<SqliteImageSnapshot> {
    this.checkUsable();
    if (this.pinning > 0 && this.pending > 0) return this.pinsSettled.then(() => this.snapshot());
    this.commit();
    const s = new SqliteSnapshot(
      this.path,
      { index: this.applied, revision: this.rev, compactRevision: this.compactRev },
      this.options.imageChunkBytes ?? DEFAULT_IMAGE_CHUNK_BYTES,
      (x) => this.snapshots.delete(x),
    );
    this.snapshots.add(s);
    this.pinning++;
    const settled = s.pinned.then(
      () => this.pinSettled(),
      () => this.pinSettled(),
    );
    this.pinsSettled = Promise.all([this.pinsSettled, settled]).then(() => {});
    return s;
  }

  /** A snapshot pinned its state (or failed to): a commit that waited for the last one runs now. */
  private pinSettled(): void {
    this.pinning--;
    if (this.pinning > 0 || !this.commitHeld) return;
    this.commitHeld = false;
    if (this.closed || this.restoring || this.failure !== undefined) return;
    try {
      this.commit();
    } catch {
      // commit() recorded the failure and told onFailure; every later call throws it.
    }
  }

  /**
   * Replaces the whole state with the image read from `image` (made by `snapshot()` on any node, at
   * `index`); the applied index becomes `index`. The steps and why a crash at any of them leaves
   * the old database or the new one are in the module comment. Reads (`get`...) keep answering from
   * the old state until the swap.
   *
   * Throws an ImageError (image.ts) if the image is truncated, corrupt or at another index, leaving
   * the state as it was (what was applied but not committed is committed, not lost). An I/O error
   * after the old connection was closed leaves whichever database the files hold open (see
   * `appliedIndex()`), or the state machine failed if neither opens.
   */
  async restore(index: number, image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    this.checkUsable();
    this.restoring = true;
    let swapping = false;
    try {
      const summary = await buildDatabaseInWorker(this.tempPath, index, image, {
        ...(this.options.maxImageRecordBytes === undefined
          ? {}
          : { maxRecordBytes: this.options.maxImageRecordBytes }),
        ...(this.options.restoreBytesPerSec === undefined
          ? {}
          : { bytesPerSec: this.options.restoreBytesPerSec }),
        nice: this.options.restoreNice ?? DEFAULT_RESTORE_NICE,
        onStarted: (nice) => this.logger?.info({ index, nice }, "building the restored database"),
      });
      this.step("built");
      // Make the live file the whole old state, durably, with an empty WAL.
      const readers = [...this.snapshots];
      for (const s of readers) s.abort("the state machine was restored from another image");
      await Promise.all(readers.map((s) => s.closed)); // their read transactions end with their threads
      await this.syncing;
      this.checkOpen();
      this.commitNow(true); // the snapshots are aborted: their pins no longer matter
      await this.checkpointer?.quiesce();
      this.checkOpen();
      const [ckpt] = this.db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
      if (ckpt?.busy !== 0)
        throw new Error("kv restore: another connection holds the WAL: cannot checkpoint it");
      await fsyncPath(`${this.path}-wal`, "file", true);
      this.checkOpen();
      this.step("checkpointed");
      // The swap, synchronous: no read runs between close and reopen.
      swapping = true;
      this.db.close();
      for (const p of companionFiles(this.path)) rmSync(p, { force: true });
      this.step("closed");
      renameSync(this.tempPath, this.path);
      this.step("renamed");
      this.reopen();
      swapping = false;
      this.step("reopened");
      await fsyncPath(dirname(this.path), "dir");
      // The new file's WAL header is written and fsynced in the worker, not by the first commit.
      this.checkpointer?.resume();
      await this.checkpointer?.restartNow();
      this.step("done");
      this.logger?.info(
        { index, keys: summary.records, revision: this.rev, imageBytes: summary.bytes },
        "restored the state machine from an image",
      );
    } catch (err) {
      if (swapping) this.recoverFromSwap(err);
      throw err;
    } finally {
      this.restoring = false;
      if (!this.closed) this.checkpointer?.resume();
      await removeDatabaseFiles(this.tempPath).catch(() => {});
    }
  }

  /** A swap failed after the old connection was closed: open whichever database the files hold. */
  private recoverFromSwap(err: unknown): void {
    try {
      if (this.db.open) this.db.close();
      this.reopen();
      this.logger?.error(
        { err, appliedIndex: this.applied },
        "restore failed during the swap; reopened the database",
      );
    } catch (reopenErr) {
      this.fail(
        reopenErr,
        "restore failed and the database cannot be reopened: refusing further calls",
        false,
      );
    }
  }

  private reopen(): void {
    this.pending = 0;
    this.db = this.openConnection();
    this.stmts = prepare(this.db);
    this.store = new MvccStore(this.db);
    this.idempotency = new IdempotencyTable(this.db, this.options.idempotencyWindow);
    ({
      appliedIndex: this.applied,
      revision: this.rev,
      compactRevision: this.compactRev,
    } = readMeta(this.db));
    this.dirDurable = false;
    this.notifyApplied(true);
  }

  private notifyApplied(restored: boolean): void {
    if (this.appliedListeners.size === 0) return;
    const s: AppliedState = { revision: this.rev, compactRevision: this.compactRev, restored };
    for (const l of this.appliedListeners) l(s);
  }

  private step(step: RestoreStep): void {
    this.options.onRestoreStep?.(step);
  }

  private get tempPath(): string {
    return `${this.path}.restore`;
  }

  private openConnection(): Database.Database {
    return openDatabase(this.path, {
      inlineCheckpoints: this.inlineCheckpoints,
      walLimitBytes: this.options.walCheckpointBytes ?? DEFAULT_WAL_CHECKPOINT_BYTES,
    });
  }

  private startCheckpointer(): WalCheckpointer | undefined {
    try {
      return WalCheckpointer.start(this.path, {
        ...(this.options.walCheckpointBytes !== undefined
          ? { thresholdBytes: this.options.walCheckpointBytes }
          : {}),
        ...(this.options.onCheckpoint !== undefined ? { onCheckpoint: this.options.onCheckpoint } : {}),
        onError: (err, fatal) => this.onCheckpointerError(err, fatal),
      });
    } catch (err) {
      this.onCheckpointerError(err as Error, true);
      return undefined;
    }
  }

  /** A failed worker: SQLite's own checkpoints take over (correct, on the event loop). */
  private onCheckpointerError(err: Error, fatal: boolean): void {
    if (!fatal) {
      this.logger?.warn({ err }, "a WAL checkpoint failed; the next commit retries");
      return;
    }
    this.checkpointer = undefined;
    if (this.closed) return;
    this.inlineCheckpoints = true;
    this.logger?.error({ err }, "the WAL checkpoint worker failed: checkpointing on the event loop");
    if (this.db.open) this.db.pragma("wal_autocheckpoint = 1000");
  }

  private readonly onCommitTimer = (): void => {
    this.commitTimer = undefined;
    if (this.failure !== undefined) return;
    try {
      this.commit();
    } catch (err) {
      this.options.onFailure?.(err);
    }
  };

  private fail(err: unknown, message: string, rethrow = true): void {
    this.failure ??= err;
    this.logger?.error({ err }, message);
    if (rethrow) throw err;
  }

  private checkFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private checkOpen(): void {
    this.checkFailure();
    if (this.closed) throw new Error("kv: the state machine is closed");
  }

  /** For the calls that change or capture the state: not while a restore replaces it. */
  private checkUsable(): void {
    this.checkOpen();
    if (this.restoring) throw new Error("kv: the state machine is being restored");
  }

  /** After a failed apply: the applied index and revision as the connection now sees them. */
  private resync(): void {
    if (!this.db.inTransaction) {
      this.pending = 0;
      if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    ({
      appliedIndex: this.applied,
      revision: this.rev,
      compactRevision: this.compactRev,
    } = readMeta(this.db));
    this.idempotency.reload();
  }

  private readonly applyTx = (entries: readonly ApplyEntry[], results: (ApplyResult | undefined)[]) => {
    const before = { applied: this.applied, rev: this.rev, compactRev: this.compactRev };
    const run = () => {
      let applied = this.applied;
      entries.forEach((e, i) => {
        if (e.index <= applied) return;
        applied = e.index;
        if (e.kind !== "normal") return;
        const idem = decodeIdempotent(e.data);
        if (idem !== undefined) {
          const rev = this.rev;
          results[i] = this.idempotency.apply(
            idem.key,
            idem.command,
            e.index,
            (c) => this.execute(c),
            () => {
              this.rev = rev;
            },
          );
          return;
        }
        let cmd: KvCommand;
        try {
          cmd = decodeKvCommand(e.data);
        } catch (err) {
          const error = (err as Error).message;
          this.logger?.warn({ index: e.index, err: error }, "skipping an entry that is not a KV command");
          results[i] = { kind: "invalid", error };
          return;
        }
        results[i] = this.execute(cmd);
      });
      if (applied === before.applied) return false;
      this.idempotency.expireTo(applied);
      this.stmts.setMeta.run("applied_index", applied);
      if (this.rev !== before.rev) this.stmts.setMeta.run("revision", this.rev);
      if (this.compactRev !== before.compactRev) this.stmts.setMeta.run("compact_revision", this.compactRev);
      this.applied = applied;
      return true;
    };
    // A savepoint inside the open transaction: the batch and its applied index, or nothing.
    this.stmts.savepoint.run();
    try {
      run();
      this.stmts.release.run();
    } catch (err) {
      ({ applied: this.applied, rev: this.rev, compactRev: this.compactRev } = before);
      if (this.db.inTransaction) {
        this.stmts.rollbackTo.run();
        this.stmts.release.run();
      }
      throw err;
    }
  };

  /** Runs one command in the batch's savepoint; moves `rev` (and `compactRev`) as it changes the store. */
  private execute(cmd: KvCommand): ApplyResult {
    switch (cmd.op) {
      case "put":
      case "delete": {
        if (cmd.prev !== undefined) {
          const write =
            cmd.op === "put" ? { op: cmd.op, key: cmd.key, value: cmd.value } : { op: cmd.op, key: cmd.key };
          const r = this.runTxn(casTxn(write, cmd.prev));
          if (r.succeeded) return { kind: "ok", revision: r.revision };
          const got = r.results[0];
          return { kind: "compare-failed", current: got?.op === "get" ? got.kv?.value : undefined };
        }
        const next = this.rev + 1;
        if (cmd.op === "put") this.store.put(cmd.key, cmd.value, next, 0);
        else if (!this.store.delete(cmd.key, next, 0)) return { kind: "ok", revision: this.rev };
        this.rev = next;
        return { kind: "ok", revision: next };
      }
      case "txn":
        return { kind: "txn", result: this.runTxn(cmd.txn) };
      case "compact": {
        // Beyond the current revision there is nothing more to drop; below the last one, nothing.
        const to = Math.min(cmd.revision, this.rev);
        if (to > this.compactRev) {
          this.store.compact(this.compactRev, to);
          this.compactRev = to;
        }
        return { kind: "ok", revision: this.rev };
      }
    }
  }

  private runTxn(txn: Txn): TxnResult {
    const r = runTxn(this.store, txn, this.rev + 1);
    this.rev = r.revision;
    return r;
  }

  /**
   * The value of `key`, or undefined. Reads what is applied here (committed to SQLite or not):
   * serializable, not linearizable. During a restore: the old state, until the swap.
   */
  get(key: Uint8Array): Uint8Array | undefined {
    this.checkFailure();
    return this.store.getValue(key);
  }

  /** `key` with its revisions (see {@link get} for what it reads). */
  getKeyValue(key: Uint8Array): KeyValue | undefined {
    this.checkFailure();
    return this.store.get(key);
  }

  /**
   * A page of the keys of a range (see {@link get} for what it reads). `req.revision` above the
   * store's revision throws a {@link FutureRevisionError}, below the compact revision a
   * {@link CompactedError}. Reads the whole page synchronously: bounded by `limit` and `maxBytes`.
   */
  range(req: RangeRequest): RangePage {
    this.checkFailure();
    this.checkReadable(req.revision);
    return this.store.range(req, this.rev);
  }

  /** The number of keys in `range` at `revision` (errors as {@link range}). Reads every key it counts. */
  countRange(range: KeyRange, revision: number): number {
    this.checkFailure();
    this.checkReadable(revision);
    return this.store.count(range, revision, this.rev);
  }

  /**
   * The changes of the history from `fromRevision` (included) to `toRevision` (excluded) to keys in
   * `range` (all if undefined), at most `limit`; a {@link CompactedError} if the history no longer
   * starts at `fromRevision` (it must be above the compact revision).
   */
  changes(fromRevision: number, toRevision: number, range: KeyRange | undefined, limit: number): KvChange[] {
    this.checkFailure();
    if (fromRevision <= this.compactRev) throw new CompactedError(fromRevision, this.compactRev);
    return this.store.changes(fromRevision, toRevision, range, limit);
  }

  /**
   * Answers a transaction whose branches only read (txn.ts `isReadOnly`) from the applied state,
   * without a log entry: after a linearizable read barrier it is linearizable.
   */
  readTxn(txn: Txn): TxnResult {
    this.checkFailure();
    return runTxn(readOnlyStore(this.store), txn, this.rev + 1);
  }

  private checkReadable(revision: number): void {
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    if (revision < this.compactRev) throw new CompactedError(revision, this.compactRev);
  }

  /** The number of keys in the store. */
  count(): number {
    this.checkFailure();
    return this.stmts.count.pluck().get() as number;
  }

  /**
   * A digest of the store at its applied index (state-hash.ts says what it covers, in which order):
   * the revision, the compact revision, every key with its revisions, every change of the history,
   * then the idempotency records if there are any. Nodes that applied the same log prefix have the
   * same digest at the same index, whatever path (entries, image, restart) brought them there; tests
   * compare them, and a backup names the digest of its image's state (sqlite-snapshot.ts computes it
   * with the same {@link StateHasher}). Reads everything: meant for tests and operators, not hot paths.
   */
  stateHash(): StateHash {
    this.checkFailure();
    const hasher = new StateHasher(this.rev, this.compactRev);
    this.store.hashInto(hasher, this.compactRev);
    this.idempotency.hashInto(hasher);
    const { keys, changes, hash } = hasher.finish();
    return {
      appliedIndex: this.applied,
      revision: this.rev,
      compactRevision: this.compactRev,
      keys,
      changes,
      hash,
    };
  }

  /**
   * Commits what is applied (unless a commit failed before), ends open snapshots, stops the
   * checkpoint worker and closes the database. The state machine is unusable afterwards. Not
   * durable by itself: the closing connection checkpoints (which syncs) when it is the last one.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    for (const s of [...this.snapshots]) s.abort("the state machine was closed");
    this.checkpointer?.stop();
    this.checkpointer = undefined;
    if (!this.db.open) return;
    try {
      if (this.failure === undefined) this.commitNow(true);
    } finally {
      this.db.close();
    }
  }
}
