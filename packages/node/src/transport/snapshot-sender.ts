/**
 * Streams one MsgSnap and its state machine image to a peer on a connection of its own (etcd's
 * snapshotSender), so a large image neither blocks nor is blocked by the stream of small messages:
 *
 *   Hello → HelloAck, SnapHeader(MsgSnap), SnapChunk × n, SnapTrailer(size, SHA-256) → SnapAck
 *
 * The image is pulled from the state machine's iterator only while the socket has less than
 * {@link SEND_WINDOW_CHUNKS} chunks buffered, so a slow network or a slow receiver holds back the
 * producer and memory stays at a few chunks whatever the image's size. Pieces are re-cut into frames
 * of `snapshotChunkBytes` (bigger pieces split, small ones packed together), built in place in a
 * few reused buffers. It resolves once the receiver acknowledges (it has verified and stored the
 * image), and rejects on a refusal, a close, the producer throwing, or no progress for
 * `snapshotTimeoutMs`.
 */
import { createHash } from "node:crypto";
import type { Message } from "@tsraft/raft/raftpb";
import { type ClientOptions, type RawData, WebSocket } from "ws";
import type { SnapshotImageSource } from "../raftnode/options.js";
import {
  ConnKind,
  decodeHello,
  encodeHello,
  encodeSnapHeader,
  encodeSnapTrailer,
  FrameKind,
  RAFT_PATH,
} from "./frame.js";
import { checkHelloAck, localHello, toBuffer } from "./handshake.js";
import type { ResolvedOptions } from "./options.js";

/** Chunks the socket may hold (ws's buffer and the kernel's send queue) before the producer waits. */
export const SEND_WINDOW_CHUNKS = 2;

/** A snapshot send in flight; `abort` fails it (the transport is stopping). */
export interface SnapshotSend {
  /** Settles exactly once: resolves on the receiver's acknowledgement, rejects on any failure. */
  readonly done: Promise<void>;
  abort(reason: string): void;
}

/** Everything one send needs from the transport. */
export interface SnapshotSendParams {
  readonly o: ResolvedOptions;
  readonly digest: Buffer;
  readonly clientOptions: ClientOptions;
  /** Registers the socket with the transport (closed by `stop`, errors counted). */
  readonly track: (ws: WebSocket) => void;
  readonly to: number;
  readonly url: string;
  /** A MsgSnap; its `snapshot.data` (the node's metadata) travels in the header. */
  readonly m: Message;
  readonly image: SnapshotImageSource;
}

type Step = IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
interface AnyIterator {
  next(): Step;
  return?(): unknown;
}

/** Returned by the producer wait when the transfer failed meanwhile. */
const ABORTED = Symbol("aborted");

/**
 * Starts sending `p.m` and `p.image` to `p.to` at `p.url`. The caller reports the outcome to raft
 * (`finish` when `done` resolves, `failure` when it rejects). The image is released exactly once:
 * as soon as its iteration ended (before the acknowledgement), or when the transfer fails. Pieces
 * are copied into frames at once, so a producer may reuse its buffer once asked for the next piece.
 * Throws (having read and released nothing) if the URL is malformed or the header (the MsgSnap
 * with its metadata) does not fit in maxPayload.
 */
export function sendSnapshot(p: SnapshotSendParams): SnapshotSend {
  const { o, to, m, image } = p;
  const header = encodeSnapHeader(m);
  if (header.length > o.maxPayload) {
    throw new RangeError(`snapshot header of ${header.length} bytes exceeds maxPayload (${o.maxPayload})`);
  }
  const ws = new WebSocket(p.url + RAFT_PATH, p.clientOptions);
  p.track(ws);
  const chunkBytes = o.snapshotChunkBytes;
  const window = SEND_WINDOW_CHUNKS * chunkBytes;

  let settled = false;
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  let idle: NodeJS.Timeout | undefined;
  /** Wakes the pump waiting for a write to complete (or for the failure). */
  let wakeWriter: (() => void) | undefined;
  /** Wakes the pump waiting for the producer, with ABORTED. */
  let wakeProducer: ((v: typeof ABORTED) => void) | undefined;

  // The image: read once, released once.
  let it: AnyIterator | undefined;
  /** The iterator ended or threw: there is nothing to `return`. */
  let iterationOver = false;
  let released = false;
  const releaseImage = (abandon: boolean): void => {
    if (released) return;
    released = true;
    if (abandon && it !== undefined && !iterationOver) {
      iterationOver = true;
      try {
        Promise.resolve(it.return?.()).catch(() => {});
      } catch {
        // a producer whose return() throws has nothing more to clean up
      }
    }
    try {
      image.release();
    } catch (err) {
      o.log.error({ peer: to, err }, "snapshot image release() threw");
    }
  };

  const fail = (reason: string): void => {
    if (settled) return;
    settled = true;
    clearTimeout(idle);
    releaseImage(true);
    ws.terminate();
    wakeWriter?.();
    wakeProducer?.(ABORTED);
    rejectDone(new Error(reason));
  };
  // Any sign of life from the connection (a handshake frame, a write completing) pushes the deadline.
  const progress = (): void => {
    clearTimeout(idle);
    if (!settled) {
      idle = setTimeout(() => fail(`no progress for ${o.snapshotTimeoutMs} ms`), o.snapshotTimeoutMs);
    }
  };
  progress();

  ws.on("close", (code, reason) => fail(`connection closed (${code} ${reason.toString()})`));
  ws.on("open", () => {
    progress();
    ws.send(encodeHello(FrameKind.Hello, localHello(o, to, ConnKind.Snapshot)));
  });

  let handshaken = false;
  let trailerSent = false;
  ws.on("message", (raw: RawData, isBinary: boolean) => {
    if (settled) return;
    progress();
    const frame = toBuffer(raw);
    if (!handshaken) {
      let why: string | undefined;
      try {
        const ack = isBinary ? decodeHello(FrameKind.HelloAck, frame) : undefined;
        const refusal = ack && checkHelloAck(o, p.digest, ack, to, ConnKind.Snapshot);
        if (ack === undefined) why = "text frame in handshake";
        else if (refusal !== undefined) {
          o.metrics.framesRejected.inc({ reason: refusal.metric });
          why = refusal.reason;
        }
      } catch {
        why = "malformed handshake";
      }
      if (why !== undefined) return fail(`handshake refused: ${why}`);
      handshaken = true;
      void pump().catch((err: Error) => fail(err.message));
      return;
    }
    if (trailerSent && isBinary && frame.length === 1 && frame[0] === FrameKind.SnapAck) {
      settled = true;
      clearTimeout(idle);
      ws.close(1000, "snapshot received");
      resolveDone();
      return;
    }
    fail("unexpected frame from snapshot receiver");
  });

  const startedAt = performance.now();
  let sentBytes = 0;
  // Frame buffers (kind byte + chunkBytes), reused once ws has written them.
  const pool: Buffer[] = [];
  let frame: Buffer | undefined;
  let filled = 0;

  /** Waits until the socket holds less than the window (or the transfer failed). */
  const belowWindow = async (): Promise<void> => {
    while (!settled && ws.bufferedAmount >= window) {
      await new Promise<void>((r) => {
        wakeWriter = r;
      });
      wakeWriter = undefined;
    }
  };

  /** Sends the frame being filled, once the socket is below the window. */
  const flushFrame = async (): Promise<void> => {
    const f = frame;
    if (f === undefined || filled === 0) return;
    await belowWindow();
    if (settled) return;
    const n = filled;
    frame = undefined;
    filled = 0;
    ws.send(n === chunkBytes ? f : f.subarray(0, 1 + n), { binary: true }, (err) => {
      if (err) return; // the close event fails the transfer
      if (pool.length < SEND_WINDOW_CHUNKS + 1) pool.push(f);
      progress();
      wakeWriter?.();
    });
    o.metrics.snapshotBytesSent.inc({ to: String(to) }, n);
    sentBytes += n;
    // Paced (snapshotSendBytesPerSec): wait until this many bytes are due. Otherwise, let timers
    // and I/O run between frames even when the kernel takes every write at once and the producer
    // answers from memory: a long image must not hold the event loop (Raft ticks, appends).
    const rate = o.snapshotSendBytesPerSec;
    const ahead = rate > 0 ? (sentBytes / rate) * 1000 - (performance.now() - startedAt) : 0;
    if (ahead > 1) await new Promise<void>((r) => setTimeout(r, ahead));
    else await new Promise<void>((r) => setImmediate(r));
  };

  /** The next value from the producer, or ABORTED if the transfer fails while it is pending. */
  const pull = async (iter: AnyIterator): Promise<IteratorResult<unknown> | typeof ABORTED> => {
    const step = iter.next();
    if (!isPromiseLike(step)) return step;
    const r = await new Promise<IteratorResult<unknown> | typeof ABORTED>((resolve, reject) => {
      wakeProducer = resolve;
      Promise.resolve(step).then(resolve, reject);
    });
    wakeProducer = undefined;
    return r;
  };

  const pump = async (): Promise<void> => {
    ws.send(header);
    const hash = createHash("sha256");
    let total = 0;
    let iter: AnyIterator;
    try {
      const src = image.read() as Iterable<unknown> | AsyncIterable<unknown>;
      iter =
        Symbol.asyncIterator in src
          ? (src as AsyncIterable<unknown>)[Symbol.asyncIterator]()
          : (src as Iterable<unknown>)[Symbol.iterator]();
      it = iter;
    } catch (err) {
      iterationOver = true;
      throw new Error(`snapshot image read() threw: ${(err as Error).message}`);
    }
    for (;;) {
      let r: IteratorResult<unknown> | typeof ABORTED;
      try {
        r = await pull(iter);
      } catch (err) {
        iterationOver = true;
        throw new Error(`snapshot image failed after ${total} bytes: ${(err as Error)?.message ?? err}`);
      }
      if (r === ABORTED || settled) return;
      if (r.done === true) break;
      const piece = r.value;
      if (!(piece instanceof Uint8Array)) {
        throw new Error(`snapshot image yielded ${typeof piece}, not a Uint8Array`);
      }
      hash.update(piece);
      total += piece.length;
      for (let off = 0; off < piece.length; ) {
        frame ??= pool.pop() ?? Buffer.allocUnsafe(1 + chunkBytes);
        frame[0] = FrameKind.SnapChunk;
        const n = Math.min(chunkBytes - filled, piece.length - off);
        frame.set(piece.subarray(off, off + n), 1 + filled);
        filled += n;
        off += n;
        if (filled === chunkBytes) {
          await flushFrame();
          if (settled) return;
        }
      }
    }
    iterationOver = true;
    releaseImage(false);
    await flushFrame();
    if (settled) return;
    ws.send(encodeSnapTrailer({ size: total, sha256: hash.digest() }), { binary: true }, (err) => {
      if (!err) progress();
    });
    trailerSent = true;
  };

  return { done, abort: fail };
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}
