/**
 * WAL checkpoints in a worker thread, so that the event loop never runs one, and the WAL kept
 * bounded all the same.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that pushes the WAL past 1000 pages: on the
 * committing connection, which for the state machine is the event loop. A checkpoint copies the
 * WAL's pages into the database file and fsyncs the WAL before and the database after (with
 * `synchronous=NORMAL`), so under a sustained load of large values that commit blocks the loop for
 * tens to hundreds of milliseconds (figures: the commit that introduced this file). The state
 * machine's connection therefore runs with `wal_autocheckpoint=0`, and a worker thread runs PASSIVE
 * checkpoints on a connection of its own (opened per checkpoint, so that between checkpoints the
 * state machine's connection is the only one). PASSIVE never waits for and never blocks the writer
 * or readers: commits go on while it copies.
 *
 * Copying is not enough to bound the WAL: the file only shrinks when a writer *restarts* it from the
 * beginning, which SQLite does in the first commit of a write transaction that began while every
 * frame was already copied (its read mark is then 0) and no reader uses the WAL; that commit also
 * writes and fsyncs a new WAL header and truncates the file to `journal_size_limit`. The state
 * machine begins its next transaction a few milliseconds after each commit, long before a
 * checkpoint of that commit can finish, so left alone it would never restart the WAL (measured: 50
 * MiB of WAL after 8 s of 16 KiB writes with a 4 MiB threshold, and growing); and when it does
 * restart it, the header's fsync runs on the event loop. Hence the policy here, driven by the
 * state machine:
 *
 * 1. after a commit, if the -wal file is larger than the threshold, copy in the background
 *    ({@link committed}): most of the WAL is copied while applying goes on;
 * 2. once a copy has copied everything it saw, quickly (else another background copy takes what
 *    was committed meanwhile: the rounds shrink geometrically), the next time the state machine is
 *    about to begin a transaction it
 *    waits (asynchronously: the event loop runs, only applying pauses) for a final round in the
 *    worker ({@link beforeBegin}): a checkpoint of the frames committed since (a commit or two),
 *    then, since everything is copied and the state machine has no transaction open, a tiny write
 *    transaction of the worker's own (a `wal_restarts` counter in `meta`, outside the KV state)
 *    whose commit restarts the WAL, fsyncs its header and truncates the file back to the
 *    threshold. The state machine's connection then never syncs or truncates anything itself.
 *
 * So the WAL stays near the threshold, and applying pauses once per threshold's worth of writes
 * for a small copy and three fsyncs in the worker. Not while an image is being read
 * (sqlite-snapshot.ts): a reader's older snapshot keeps every frame committed after it from being
 * copied and the WAL from restarting, so the file grows by what is written until the reader is
 * released; then background rounds copy it all, and a short final round restarts it. (Before, a
 * copy during the read primed the final round, which then copied the whole grown WAL while applying
 * waited: a 7 s stall of every write after a 4 GB image was sent, in the growth bench.) If the final round cannot copy
 * everything (another process reads the database), the state machine does not wait again until the
 * WAL grew by another threshold's worth.
 *
 * If the worker cannot start or dies, the state machine turns SQLite's automatic checkpoints back
 * on (correct, but on the event loop again) and logs why.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Default WAL size past which the WAL is checkpointed and restarted (and the size it shrinks back to). */
export const DEFAULT_WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;

/**
 * A background copy longer than this leaves too much committed meanwhile for the final round
 * (which applying waits for): another background copy goes first.
 */
const QUICK_COPY_MS = 200;

/** What one checkpoint did, as `PRAGMA wal_checkpoint` reports it, plus its duration. */
export interface CheckpointResult {
  /** 1 if the checkpoint could not run at all (another checkpoint held the lock). */
  readonly busy: number;
  /** Frames in the WAL. */
  readonly log: number;
  /** Frames copied into the database file so far (fewer than `log` while a reader pins older frames). */
  readonly checkpointed: number;
  /** A `final` checkpoint that copied everything and restarted the WAL. */
  readonly restarted: boolean;
  readonly ms: number;
  /** `final`: the one before a WAL restart (applying waited for it); `background`; `quiesce` (before a restore). */
  readonly kind: "background" | "final" | "quiesce";
}

/** Options of {@link WalCheckpointer.start}. */
export interface WalCheckpointerOptions {
  /** Checkpoint and restart once the -wal file is larger than this (default {@link DEFAULT_WAL_CHECKPOINT_BYTES}). */
  thresholdBytes?: number;
  /** Every checkpoint the worker ran (for metrics and tests). */
  onCheckpoint?: (r: CheckpointResult) => void;
  /** The worker failed: a checkpoint threw (`fatal` false) or the worker stopped (true; unusable after). */
  onError: (err: Error, fatal: boolean) => void;
}

/**
 * The worker's program, as CommonJS source (a worker started from a string, so that it runs the
 * same whether this module is compiled JavaScript or TypeScript loaded by a test runner). It gets
 * the database path, the threshold and the path of better-sqlite3 in `workerData`; each
 * `{ id, restart }` message asks for one PASSIVE checkpoint (then, with `restart`, the WAL restart
 * described above), answered by `{ id, busy, log, checkpointed, restarted, ms }` or `{ id, error }`.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.betterSqlite3);
parentPort.on("message", ({ id, restart }) => {
  const start = performance.now();
  try {
    const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
    try {
      // The checkpoint's syncs follow its connection's setting: NORMAL syncs the WAL before copying
      // and the database file after, before it records the copy (what makes a restart safe).
      db.pragma("synchronous = NORMAL");
      db.pragma("journal_size_limit = " + workerData.thresholdBytes);
      const r = db.pragma("wal_checkpoint(PASSIVE)")[0];
      let restarted = false;
      if (restart && r.busy === 0 && r.checkpointed === r.log) {
        // Everything is copied and the state machine has no transaction open (it waits for this
        // answer): a write transaction begun now restarts the WAL at its commit, so the WAL header's
        // write and fsync and the truncation to journal_size_limit happen here, not on the event
        // loop. The write itself is a counter outside the KV state.
        try {
          db.exec("BEGIN IMMEDIATE");
          db.prepare("INSERT INTO meta (name, value) VALUES ('wal_restarts', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1").run();
          db.exec("COMMIT");
          restarted = true;
        } catch (err) {
          if (db.inTransaction) db.exec("ROLLBACK");
          if (!err || err.code !== "SQLITE_BUSY") throw err;
        }
      }
      parentPort.postMessage({ id, busy: r.busy, log: r.log, checkpointed: r.checkpointed, restarted, ms: performance.now() - start });
    } finally {
      db.close();
    }
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

type FromWorker =
  | {
      id: number;
      busy: number;
      log: number;
      checkpointed: number;
      restarted: boolean;
      ms: number;
      error?: undefined;
    }
  | { id: number; error: string };

/**
 * The state machine's side of the checkpoint worker: the policy above. Start it once the database
 * file exists; call {@link committed} after every commit and {@link beforeBegin} before beginning a
 * transaction; {@link quiesce} before closing the connection for a file swap and {@link resume}
 * after; {@link stop} at close.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly walPath: string;
  private readonly thresholdBytes: number;
  private stopped = false;
  private suspended = false;
  private nextId = 1;
  private readonly waiting = new Map<number, (r: CheckpointResult | undefined) => void>();
  /** The checkpoint running now, if any. */
  private inFlight: Promise<CheckpointResult | undefined> | undefined;
  /** A background copy finished: the next begin waits for the final checkpoint and restarts. */
  private primed = false;
  /** Do not wait for a restart again before the WAL is this large (raised when one was impossible). */
  private retryAtBytes: number;
  /** Do not start a background copy before the WAL is this large (raised while a reader pins it). */
  private copyAtBytes = 0;
  private readersWereOpen = false;

  private constructor(
    path: string,
    private readonly options: WalCheckpointerOptions,
  ) {
    this.walPath = `${path}-wal`;
    this.thresholdBytes = options.thresholdBytes ?? DEFAULT_WAL_CHECKPOINT_BYTES;
    this.retryAtBytes = this.thresholdBytes;
    const betterSqlite3 = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, betterSqlite3, thresholdBytes: this.thresholdBytes },
      name: "kv-wal-checkpoint",
    });
    this.worker.unref();
    this.worker.on("message", (m: FromWorker) => this.onMessage(m));
    this.worker.on("error", (err) => this.fail(err));
    this.worker.on("exit", (code) =>
      this.fail(new Error(`kv: the WAL checkpoint worker exited (code ${code})`)),
    );
  }

  /** Starts a worker checkpointing the WAL of the database at `path`. */
  static start(path: string, options: WalCheckpointerOptions): WalCheckpointer {
    return new WalCheckpointer(path, options);
  }

  /**
   * After a commit: starts a background copy if the WAL outgrew the threshold. Only a copy that
   * copied every frame it saw, quickly, primes the final round: after a long copy (a WAL grown large
   * while an image was read), what was committed meanwhile is copied by another background round
   * first, so that the final one, which applying waits for, stays short. A copy that a reader
   * stopped short does not prime either, and the next waits until the WAL grew another threshold.
   */
  committed(): void {
    if (this.stopped || this.suspended || this.inFlight !== undefined || this.primed) return;
    const size = this.walSize();
    if (size <= Math.max(this.thresholdBytes, this.copyAtBytes)) return;
    void this.run("background").then((r) => {
      if (r === undefined || r.busy !== 0) return;
      if (r.checkpointed < r.log) {
        this.copyAtBytes = size + this.thresholdBytes;
        return;
      }
      this.copyAtBytes = 0;
      if (r.ms <= QUICK_COPY_MS) this.primed = true;
    });
  }

  /**
   * Before beginning a write transaction: a promise to wait for when a WAL restart is due (the
   * final checkpoint; it never rejects), or undefined to begin at once. `readersOpen`: images are
   * being read, so a restart is impossible anyway.
   */
  beforeBegin(readersOpen: boolean): Promise<void> | undefined {
    // The image's reader is gone: what it pinned is copied now, in the background first.
    if (this.readersWereOpen && !readersOpen) {
      this.copyAtBytes = 0;
      this.primed = false;
    }
    this.readersWereOpen = readersOpen;
    if (this.stopped || this.suspended || this.inFlight !== undefined || !this.primed || readersOpen)
      return undefined;
    const size = this.walSize();
    if (size <= this.thresholdBytes) {
      this.primed = false;
      this.retryAtBytes = this.thresholdBytes;
      return undefined;
    }
    if (size < this.retryAtBytes) return undefined;
    this.primed = false;
    return this.run("final").then((r) => {
      // Not restarted: someone else reads the WAL; do not wait again before it grew some more.
      this.retryAtBytes = r?.restarted ? this.thresholdBytes : size + this.thresholdBytes;
    });
  }

  /**
   * Runs a final round now (checkpoint and WAL restart), whatever the WAL's size. After a restore,
   * so that the first commit on the new file does not write and fsync a WAL header on the event
   * loop. Call only while the state machine has no transaction open; never rejects.
   */
  async restartNow(): Promise<void> {
    if (this.stopped || this.suspended) return;
    while (this.inFlight !== undefined) await this.inFlight;
    this.primed = false;
    await this.run("final");
  }

  /**
   * Copies the whole WAL into the database file (off the event loop) and suspends checkpoints until
   * {@link resume}: afterwards no worker connection is open and a TRUNCATE checkpoint on the state
   * machine's connection has little left to copy.
   */
  async quiesce(): Promise<void> {
    this.suspended = true;
    while (this.inFlight !== undefined) await this.inFlight;
    if (!this.stopped && this.walSize() > 0) await this.run("quiesce");
  }

  /** Checkpoints resume after {@link quiesce}. */
  resume(): void {
    this.suspended = false;
    this.primed = false;
    this.copyAtBytes = 0;
  }

  /** Stops the worker (a checkpoint in progress finishes first, in the worker). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.settleAll();
    void this.worker.terminate();
  }

  private walSize(): number {
    try {
      return statSync(this.walPath).size;
    } catch {
      return 0;
    }
  }

  /** One checkpoint in the worker; resolves with its result, or undefined if it failed. */
  private run(kind: CheckpointResult["kind"]): Promise<CheckpointResult | undefined> {
    const restart = kind === "final";
    const id = this.nextId++;
    const done = new Promise<CheckpointResult | undefined>((resolve) => {
      this.waiting.set(id, (r) => resolve(r === undefined ? undefined : { ...r, kind }));
    });
    this.inFlight = done;
    void done.then((r) => {
      if (this.inFlight === done) this.inFlight = undefined;
      if (r !== undefined) this.options.onCheckpoint?.(r);
    });
    this.worker.postMessage({ id, restart });
    return done;
  }

  private onMessage(m: FromWorker): void {
    const settle = this.waiting.get(m.id);
    this.waiting.delete(m.id);
    if (m.error !== undefined) {
      this.options.onError(new Error(`kv: WAL checkpoint failed: ${m.error}`), false);
      settle?.(undefined);
      return;
    }
    settle?.({
      busy: m.busy,
      log: m.log,
      checkpointed: m.checkpointed,
      restarted: m.restarted,
      ms: m.ms,
      kind: "background",
    });
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.settleAll();
    void this.worker.terminate();
    this.options.onError(err, true);
  }

  /** Nothing waits for a stopped worker. */
  private settleAll(): void {
    for (const settle of this.waiting.values()) settle(undefined);
    this.waiting.clear();
  }
}
