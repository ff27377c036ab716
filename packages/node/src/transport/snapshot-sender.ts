/**
 * Streams one MsgSnap to a peer on a connection of its own (etcd's snapshotSender), so a large
 * snapshot neither blocks nor is blocked by the stream of small messages:
 *
 *   Hello → HelloAck, SnapHeader(message without data, size), SnapChunk × ⌈size / chunk⌉,
 *   SnapTrailer(size, SHA-256) → SnapAck
 *
 * It resolves once the receiver acknowledges (it has verified the data and handed the message to
 * raft), and rejects on a refusal, a close, or no progress for `snapshotTimeoutMs`.
 */
import { createHash } from "node:crypto";
import type { Message } from "@tsraft/raft/raftpb";
import { type ClientOptions, type RawData, WebSocket } from "ws";
import {
  ConnKind,
  decodeHello,
  encodeHello,
  encodeSnapChunk,
  encodeSnapHeader,
  encodeSnapTrailer,
  FrameKind,
  RAFT_PATH,
} from "./frame.js";
import { checkHelloAck, localHello, toBuffer } from "./handshake.js";
import type { ResolvedOptions } from "./options.js";

/** A snapshot send in flight; `abort` fails it (the transport is stopping). */
export interface SnapshotSend {
  readonly done: Promise<void>;
  abort(reason: string): void;
}

/**
 * Starts sending `m` (a MsgSnap with its data) to `to` at `url`. The caller reports the outcome to
 * raft: `finish` when `done` resolves, `failure` when it rejects.
 */
export function sendSnapshot(
  o: ResolvedOptions,
  digest: Buffer,
  clientOptions: ClientOptions,
  track: (ws: WebSocket) => void,
  to: number,
  url: string,
  m: Message,
): SnapshotSend {
  const data = m.snapshot?.data ?? new Uint8Array(0);
  const ws = new WebSocket(url + RAFT_PATH, clientOptions);
  track(ws);
  let settled = false;
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  let idle: NodeJS.Timeout | undefined;
  const fail = (reason: string): void => {
    if (settled) return;
    settled = true;
    clearTimeout(idle);
    ws.terminate();
    rejectDone(new Error(reason));
  };
  // Any sign of life from the connection (a handshake frame, a write completing) pushes the deadline.
  const progress = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => fail(`no progress for ${o.snapshotTimeoutMs} ms`), o.snapshotTimeoutMs);
  };
  progress();

  ws.on("close", (code, reason) => fail(`connection closed (${code} ${reason.toString()})`));
  ws.on("open", () => {
    progress();
    ws.send(encodeHello(FrameKind.Hello, localHello(o, to, ConnKind.Snapshot)));
  });

  let handshaken = false;
  ws.on("message", (raw: RawData, isBinary: boolean) => {
    progress();
    const frame = toBuffer(raw);
    if (!handshaken) {
      let why: string | undefined;
      try {
        const ack = isBinary ? decodeHello(FrameKind.HelloAck, frame) : undefined;
        const refusal = ack && checkHelloAck(o, digest, ack, to, ConnKind.Snapshot);
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
      void stream().catch((err: Error) => fail(err.message));
      return;
    }
    if (isBinary && frame.length === 1 && frame[0] === FrameKind.SnapAck) {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      ws.close(1000, "snapshot received");
      resolveDone();
      return;
    }
    fail("unexpected frame from snapshot receiver");
  });

  /** Writes header, chunks and trailer, waiting for the socket to drain whenever it is over maxPayload. */
  const stream = async (): Promise<void> => {
    const sha = createHash("sha256").update(data).digest();
    ws.send(encodeSnapHeader(m, data.length));
    for (let off = 0; off < data.length && !settled; off += o.snapshotChunkBytes) {
      const chunk = data.subarray(off, Math.min(off + o.snapshotChunkBytes, data.length));
      const written = new Promise<void>((res, rej) =>
        ws.send(encodeSnapChunk(chunk), { binary: true }, (err) => (err ? rej(err) : res())),
      );
      o.metrics.snapshotBytesSent.inc(chunk.length);
      if (ws.bufferedAmount >= o.maxPayload) {
        await written;
        progress();
      } else {
        written.catch(() => {}); // a failed write surfaces as the close event
      }
    }
    if (!settled) ws.send(encodeSnapTrailer({ size: data.length, sha256: sha }));
  };

  return { done, abort: fail };
}
