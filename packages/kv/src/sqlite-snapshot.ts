/**
 * A point-in-time image of the KV database, produced by a worker thread (image-worker.ts) from a
 * read transaction of its own connection.
 *
 * In WAL mode a read transaction sees the database as of the commit it started after, however long
 * it lasts, while the state machine's connection keeps committing: so pinning the state costs one
 * connection and one `BEGIN` + read, not a copy. The worker pins it as it starts (a few tens of
 * milliseconds after `snapshot()`; the state machine holds its commits until then, so what the
 * worker pins is the state at the snapshot's index), then produces the image as the consumer asks
 * for chunks, at most {@link CHUNKS_IN_FLIGHT} ahead: reading SQLite, encoding and hashing never
 * run on the event loop, which only passes each chunk on (moved, not copied).
 *
 * The price of a long-open reader is paid in the WAL: checkpoints cannot copy into the database
 * file any frame committed after the reader started (the reader still needs the older pages), and
 * the WAL cannot restart from its beginning while the reader uses it, so it grows by everything
 * written during the transfer, and is checkpointed and shrunk back after `release` (see
 * wal-checkpointer.ts). Release promptly.
 */
import { Worker } from "node:worker_threads";
import type { StateMachineSnapshot } from "@tsraft/raft";
import { DEFAULT_IMAGE_CHUNK_BYTES } from "./image-format.js";
import type { FromImageWorker, ImageWorkerData, ToImageWorker } from "./image-worker.js";
import type { StateDigest, StateHash } from "./state-hash.js";
import { workerModuleUrl } from "./worker-url.js";

/** Chunks the worker may produce ahead of the consumer: bounds the memory of a snapshot read. */
export const CHUNKS_IN_FLIGHT = 4;

/** What {@link SqliteStateMachine.snapshot} returns: its image is always produced asynchronously. */
export interface SqliteImageSnapshot extends StateMachineSnapshot {
  /** The image (image.ts), chunk by chunk, read at most once. */
  read(): AsyncIterable<Uint8Array>;
}

/** A snapshot as {@link SqliteStateMachine.snapshot} returns it, plus what the state machine needs. */
export class SqliteSnapshot implements SqliteImageSnapshot {
  readonly index: number;
  /** The store's revision and compact revision in the image (the state machine's at `index`). */
  readonly revision: number;
  readonly compactRevision: number;
  /** Settles once the worker pinned the state (rejects if it could not); never rejects unhandled. */
  readonly pinned: Promise<void>;
  /**
   * Resolves once the worker thread is gone, and with it the read transaction: after the image's
   * end, or after `release`/`abort` (which stop the thread asynchronously).
   */
  readonly closed: Promise<void>;
  private worker: Worker | undefined;
  /** Messages not taken by `read` yet, and who waits for the next one. */
  private readonly inbox: FromImageWorker[] = [];
  private wake: (() => void) | undefined;
  private started = false;
  private hashing = false;
  /** The worker sent the image's end (it then exits on its own). */
  private finished = false;
  /** Why the snapshot can no longer be read, once released or aborted. */
  private ended: string | undefined;
  private hashed: StateDigest | undefined;

  /**
   * Starts the worker that pins the state of the database at `path`, which the caller has committed
   * at `state` (and must not commit again before `pinned` settles). `pinned` rejects if the database
   * holds another state (something applied without committing).
   */
  constructor(
    path: string,
    state: { readonly index: number; readonly revision: number; readonly compactRevision: number },
    chunkBytes: number = DEFAULT_IMAGE_CHUNK_BYTES,
    private readonly onRelease: (s: SqliteSnapshot) => void = () => {},
  ) {
    const { index } = state;
    this.index = index;
    this.revision = state.revision;
    this.compactRevision = state.compactRevision;
    const data: ImageWorkerData = { path, ...state, chunkBytes };
    const worker = new Worker(WORKER_URL, { workerData: data, resourceLimits: WORKER_LIMITS });
    this.worker = worker;
    worker.on("message", (m: FromImageWorker) => this.deliver(m));
    worker.on("error", (err) => this.deliver({ type: "error", message: err.message }));
    this.closed = new Promise((resolve) =>
      worker.on("exit", (code) => {
        if (this.ended === undefined && !this.finished)
          this.deliver({ type: "error", message: `the image worker exited (${code})` });
        resolve();
      }),
    );
    this.pinned = this.next().then((m) => {
      if (m.type !== "pinned")
        throw new Error(`kv snapshot at index ${index}: ${m.type === "error" ? m.message : "not pinned"}`);
    });
    this.pinned.catch(() => {}); // read() reports it
  }

  /** The image, chunk by chunk (see image-format.ts). Read at most once. */
  read(): AsyncIterable<Uint8Array> {
    if (this.started) throw new Error("kv snapshot: read() called twice");
    this.started = true;
    return this.produce();
  }

  /**
   * Also computes `/debug/hash`'s digest of the state read (for a backup: state-hash.ts), available
   * from {@link stateHash} once the image was read to its end. Call before {@link read}.
   */
  hashState(): void {
    if (this.started) throw new Error("kv snapshot: hashState() after read()");
    this.hashing = true;
  }

  /** The state digest, once an image read with {@link hashState} is complete; else undefined. */
  get stateHash(): StateHash | undefined {
    const h = this.hashed;
    if (h === undefined) return undefined;
    const { index: appliedIndex, revision, compactRevision } = this;
    return { appliedIndex, revision, compactRevision, keys: h.keys, changes: h.changes, hash: h.hash };
  }

  /** Ends the read transaction (stops the worker). Idempotent. */
  release(): void {
    this.end("released");
  }

  /**
   * Ends the snapshot from the state machine's side (a restore replacing the file, or close): a
   * read in progress fails with `reason` at its next chunk.
   */
  abort(reason: string): void {
    this.end(reason);
  }

  private end(reason: string): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate(); // its connection closes with the thread, ending the read transaction
    this.inbox.length = 0; // chunks not read yet are not read after the end
    this.deliver({ type: "error", message: reason });
    this.onRelease(this);
  }

  private deliver(m: FromImageWorker): void {
    if (m.type === "end") this.finished = true;
    this.inbox.push(m);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The worker's next message (an error once the snapshot ended). */
  private async next(): Promise<FromImageWorker> {
    for (;;) {
      const m = this.inbox.shift();
      if (m !== undefined) return m;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  private post(m: ToImageWorker): void {
    this.worker?.postMessage(m);
  }

  private async *produce(): AsyncGenerator<Uint8Array> {
    await this.pinned.catch((err: Error) => {
      throw new Error(
        err.message.replace(/^kv snapshot at index \d+: /, `kv snapshot at index ${this.index}: `),
      );
    });
    this.post({ type: "start", hash: this.hashing });
    this.post({ type: "credit", n: CHUNKS_IN_FLIGHT });
    for (;;) {
      if (this.ended !== undefined && this.inbox.length === 0) break;
      const m = await this.next();
      if (m.type === "chunk") {
        yield m.chunk;
        this.post({ type: "credit", n: 1 });
      } else if (m.type === "end") {
        this.hashed = m.digest;
        return;
      } else if (m.type === "error") {
        throw new Error(`kv snapshot at index ${this.index}: ${m.message}`);
      }
    }
    throw new Error(`kv snapshot at index ${this.index}: ${this.ended}`);
  }
}

/** The worker's module. */
const WORKER_URL = workerModuleUrl("image-worker.js");

/**
 * The worker's heap: it holds a few rows and chunks at a time, so a small young generation keeps
 * its garbage (row values it copied out of SQLite) collected early instead of growing the RSS. The
 * old generation is left unbounded: a value as large as `--max-request-bytes` allows must not make
 * every image fail.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };
