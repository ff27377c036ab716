/**
 * The image of an incoming snapshot as the node reads it: an async iterator over the chunks the
 * receiver (snapshot-receiver.ts) pushes as they arrive, which ends once the trailer has verified
 * the image and throws a {@link SnapshotTransferError} once the transfer has failed.
 *
 * Its chunks are tagged (src/snap/digested-chunks.ts) with the digest the receiver checked, so
 * `Snapshotter.saveImage` stores them without hashing them a second time.
 */
import { type DigestedStream, tagDigestedChunk } from "../snap/digested-chunks.js";

/** Why an incoming snapshot transfer failed; `reason` is the `frames_rejected_total` label. */
export class SnapshotTransferError extends Error {
  override readonly name = "SnapshotTransferError";
  constructor(
    /** e.g. "snapshot-truncated", "snapshot-timeout", "snapshot-checksum", "snapshot-aborted". */
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** What an {@link IncomingImage} tells its receiver. */
export interface IncomingImageHooks {
  /** A chunk was taken from the queue (the receiver may resume reading the socket). */
  drained(): void;
  /** The consumer stopped before the end (`return` or `throw` on the iterator): the transfer fails. */
  abandoned(): void;
}

/**
 * A queue of chunks with one consumer. The receiver bounds it (it pauses the socket while
 * {@link bytes} is above its high-water mark), so it holds a few chunks at most.
 *
 * Invariant: once `error` is set the queue is empty and stays empty; `ended` and `error` may both be
 * set (a failure after the trailer), and then `next` rejects unless the consumer already saw the end.
 */
export class IncomingImage implements AsyncIterableIterator<Uint8Array>, DigestedStream {
  private readonly queue: Uint8Array[] = [];
  /** Chunks pushed so far (the next one's tag). */
  private pushed = 0;
  /** Size and SHA-256 of the image, as the trailer checked them; set by `end`. */
  private checked: { size: number; sha256: string } | undefined;
  /** Bytes in `queue`. */
  private queued = 0;
  /** The trailer verified the image: nothing more will be pushed. */
  private ended = false;
  private error: SnapshotTransferError | undefined;
  private waiter:
    | { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (e: Error) => void }
    | undefined;
  /** The consumer has been told the image ended (it read the whole image). */
  private finished = false;
  private stopped = false;

  constructor(private readonly hooks: IncomingImageHooks) {}

  /** Bytes received and not yet taken by the consumer. */
  get bytes(): number {
    return this.queued;
  }

  /** Size, SHA-256 and chunk count of the image, once `end` has been called (DigestedStream). */
  digest(): { size: number; sha256: string; chunks: number } | undefined {
    const d = this.checked;
    return d === undefined ? undefined : { size: d.size, sha256: d.sha256, chunks: this.pushed };
  }

  /** True once the consumer has read the image to its end (its last `next` returned `done`). */
  get consumed(): boolean {
    return this.finished;
  }

  /**
   * Hands a chunk to the consumer (at once if it is waiting). Ignored after a failure. The caller
   * hashes it into the digest it gives `end`, and neither it nor anyone else writes to it after.
   */
  push(chunk: Uint8Array): void {
    if (this.error !== undefined || this.ended) return;
    tagDigestedChunk(chunk, this, this.pushed++);
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve({ value: chunk, done: false });
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
  }

  /**
   * The image is complete and verified against `digest` (size and SHA-256 of every chunk pushed,
   * SHA-256 in lower-case hex): the consumer's `next` returns `done` after the queued chunks.
   */
  end(digest: { size: number; sha256: string }): void {
    if (this.error !== undefined) return;
    this.ended = true;
    this.checked = digest;
    if (this.waiter !== undefined && this.queue.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      this.finished = true;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** The transfer failed: drops what is queued; the consumer's pending and later `next` calls reject. */
  fail(err: SnapshotTransferError): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.queue.length = 0;
    this.queued = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.stopped || this.finished) return Promise.resolve({ value: undefined, done: true });
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      this.queued -= chunk.length;
      this.hooks.drained();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.ended) {
      this.finished = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== undefined) {
      return Promise.reject(new TypeError("snapshot image: next() called while a next() is pending"));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The consumer stops early (`break` in a for-await): the transfer fails. */
  return(): Promise<IteratorResult<Uint8Array>> {
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** As {@link return}. */
  throw(): Promise<IteratorResult<Uint8Array>> {
    this.stop();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private stop(): void {
    if (this.stopped || this.finished) return;
    this.stopped = true;
    if (this.error === undefined) this.hooks.abandoned();
  }
}
