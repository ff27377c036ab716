/**
 * Receives one snapshot stream (the far end of snapshot-sender.ts) after its handshake: stages the
 * chunks in a temp file (memory stays at a few chunks however large the snapshot), verifies length
 * and SHA-256 against the trailer, reads the data back into the MsgSnap and hands it to raft, then
 * acknowledges. Anything else — a bad header, too much or too little data, a checksum mismatch, a
 * stall, a closed connection — rejects the stream: close 4010, a log line, a counter, the temp file
 * removed, and nothing reaches the handler.
 */
import { createHash, type Hash, randomBytes, timingSafeEqual } from "node:crypto";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isRaftError } from "@tsraft/raft";
import { type Message, MessageType } from "@tsraft/raft/raftpb";
import { type RawData, WebSocket } from "ws";
import {
  CloseCode,
  decodeSnapHeader,
  decodeSnapTrailer,
  FrameKind,
  SNAP_ACK,
  type SnapHeader,
  snapChunkData,
} from "./frame.js";
import { toBuffer } from "./handshake.js";
import type { ResolvedOptions } from "./options.js";

/** Where the receiver hands a verified MsgSnap. */
export type SnapshotSink = (m: Message) => void;

/** Writes queued ahead of the disk beyond this many chunks pause the socket. */
const MAX_PENDING_CHUNKS = 4;

/**
 * One incoming snapshot transfer, from the first frame after the handshake to the acknowledgement
 * (or rejection). Created by the transport per snapshot connection.
 */
export class SnapshotReceiver {
  private header: SnapHeader | undefined;
  private file: FileHandle | undefined;
  private path: string | undefined;
  /** The chain of file operations, in order; each write starts after the previous one. */
  private io: Promise<void> = Promise.resolve();
  private ioError: Error | undefined;
  private readonly hash: Hash = createHash("sha256");
  /** Bytes of data received so far. Invariant: received ≤ header.size. */
  private received = 0;
  private pending = 0;
  private idle: NodeJS.Timeout | undefined;
  private finished = false;
  /** The trailer has arrived; the data is being verified and read back. Nothing more may come. */
  private verifying = false;
  private readonly peer: string;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ws: WebSocket,
    private readonly from: number,
    private readonly sink: SnapshotSink,
  ) {
    this.peer = from.toString(16);
  }

  /** Takes over the (authenticated) connection. */
  start(): void {
    this.touch();
    this.ws.on("message", (raw: RawData, isBinary: boolean) => this.onFrame(toBuffer(raw), isBinary));
    this.ws.on("close", (code) => {
      if (this.header === undefined) this.fail("closed before the snapshot header", "snapshot-truncated");
      else
        this.fail(
          `connection closed (${code}) after ${this.received} of ${this.header.size} bytes`,
          "snapshot-truncated",
        );
    });
  }

  /** Fails the transfer (the transport is stopping). */
  abort(): void {
    this.fail("transport stopping", "snapshot-aborted");
  }

  /** Resolves once the transfer is over and its temp file closed and removed. */
  settled(): Promise<void> {
    return this.io;
  }

  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(
      () => this.fail(`no progress for ${this.o.snapshotTimeoutMs} ms`, "snapshot-timeout"),
      this.o.snapshotTimeoutMs,
    );
  }

  private onFrame(frame: Buffer, isBinary: boolean): void {
    if (this.finished) return;
    if (this.verifying) {
      this.fail("frame after the trailer", "snapshot-malformed");
      return;
    }
    this.touch();
    if (!isBinary) {
      this.fail("text frame", "snapshot-malformed");
      return;
    }
    try {
      switch (frame[0]) {
        case FrameKind.SnapHeader:
          this.onHeader(decodeSnapHeader(frame));
          return;
        case FrameKind.SnapChunk:
          this.onChunk(snapChunkData(frame));
          return;
        case FrameKind.SnapTrailer: {
          const t = decodeSnapTrailer(frame);
          this.verifying = true;
          this.onTrailer(t.size, t.sha256).catch((err: Error) => this.fail(err.message, "snapshot-io"));
          return;
        }
        default:
          this.fail(`unexpected frame kind ${frame[0]}`, "snapshot-malformed");
          return;
      }
    } catch (err) {
      if (!isRaftError(err, "Decode")) throw err;
      this.fail(err.message, "snapshot-malformed");
    }
  }

  private onHeader(h: SnapHeader): void {
    const m = h.message;
    if (this.header !== undefined) {
      this.fail("second snapshot header", "snapshot-malformed");
      return;
    }
    if (m.type !== MessageType.MsgSnap || m.snapshot === undefined) {
      this.fail(`header carries ${MessageType[m.type] ?? m.type}, not MsgSnap`, "snapshot-malformed");
      return;
    }
    if (m.from !== this.from || m.to !== this.o.id) {
      this.fail(`header addressed ${m.from.toString(16)}→${m.to.toString(16)}`, "snapshot-malformed");
      return;
    }
    if (h.size > this.o.maxSnapshotBytes) {
      this.fail(
        `snapshot of ${h.size} bytes exceeds the limit of ${this.o.maxSnapshotBytes}`,
        "snapshot-too-large",
      );
      return;
    }
    this.header = h;
    this.path = join(
      this.o.snapshotDir,
      `tsraft-snap-${this.peer}-${m.snapshot.metadata.index}-${randomBytes(6).toString("hex")}.part`,
    );
    const path = this.path;
    this.o.log.info(
      { peer: this.peer, index: m.snapshot.metadata.index, bytes: h.size },
      "receiving snapshot",
    );
    this.chain(async () => {
      this.file = await open(path, "wx+", 0o600);
    });
  }

  private onChunk(data: Uint8Array): void {
    const h = this.header;
    if (h === undefined) {
      this.fail("chunk before the header", "snapshot-malformed");
      return;
    }
    if (this.received + data.length > h.size) {
      this.fail(`more data than the declared ${h.size} bytes`, "snapshot-length");
      return;
    }
    const position = this.received;
    this.received += data.length;
    this.hash.update(data);
    this.o.metrics.snapshotBytesReceived.inc(data.length);
    this.pending++;
    if (this.pending > MAX_PENDING_CHUNKS && !this.ws.isPaused) this.ws.pause();
    this.chain(async () => {
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await this.file!.write(data, off, data.length - off, position + off);
        off += bytesWritten;
      }
      this.pending--;
      if (this.pending <= 1 && this.ws.isPaused) this.ws.resume();
    });
  }

  private async onTrailer(size: number, sha256: Uint8Array): Promise<void> {
    const h = this.header;
    if (h === undefined) {
      this.fail("trailer before the header", "snapshot-malformed");
      return;
    }
    if (size !== h.size || this.received !== h.size) {
      this.fail(
        `length mismatch: header ${h.size}, trailer ${size}, received ${this.received}`,
        "snapshot-length",
      );
      return;
    }
    const digest = this.hash.digest();
    if (sha256.length !== digest.length || !timingSafeEqual(digest, sha256)) {
      this.fail("SHA-256 mismatch", "snapshot-checksum");
      return;
    }
    let data: Buffer | undefined;
    this.chain(async () => {
      data = Buffer.allocUnsafe(h.size);
      let off = 0;
      while (off < h.size) {
        const { bytesRead } = await this.file!.read(data, off, h.size - off, off);
        if (bytesRead === 0) throw new Error(`temp file ended at ${off} of ${h.size} bytes`);
        off += bytesRead;
      }
    });
    await this.io;
    if (this.finished) return;
    if (this.ioError !== undefined || data === undefined) {
      this.fail(`staging file: ${this.ioError?.message}`, "snapshot-io");
      return;
    }
    this.finished = true;
    clearTimeout(this.idle);
    // The staging file is gone before raft sees the snapshot or the sender hears of it.
    this.cleanup();
    await this.io;
    const m = h.message;
    const snap = m.snapshot!;
    // A plain Uint8Array view of the buffer: raftpb bytes are Uint8Array, whose slice() copies
    // (a Buffer's would alias).
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const msg: Message = { ...m, snapshot: { data: bytes, metadata: snap.metadata } };
    this.o.log.info({ peer: this.peer, index: snap.metadata.index, bytes: h.size }, "received snapshot");
    this.o.metrics.snapshotsReceived.inc({ result: "success" });
    this.sink(msg);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(SNAP_ACK);
  }

  /** Appends a file operation to the chain; the first failure fails the transfer and skips the rest. */
  private chain(op: () => Promise<void>): void {
    this.io = this.io.then(async () => {
      if (this.ioError !== undefined || this.finished) return;
      try {
        await op();
      } catch (err) {
        this.ioError = err as Error;
        this.fail(`staging file: ${(err as Error).message}`, "snapshot-io");
      }
    });
  }

  private fail(why: string, metric: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idle);
    this.o.log.warn({ peer: this.peer, reason: why }, "rejected snapshot stream");
    this.o.metrics.snapshotsReceived.inc({ result: "failure" });
    this.o.metrics.framesRejected.inc({ reason: metric });
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(CloseCode.SnapshotRejected, `snapshot rejected: ${why}`.slice(0, 120));
    }
    if (this.ws.isPaused) this.ws.resume();
    this.cleanup();
  }

  /** Closes and removes the temp file once the file operations queued so far have run. */
  private cleanup(): void {
    const path = this.path;
    this.io = this.io.then(async () => {
      const f = this.file;
      this.file = undefined;
      await f?.close().catch(() => {});
      if (path !== undefined) await unlink(path).catch(() => {});
    });
  }
}
