/**
 * Receives one snapshot stream (the far end of snapshot-sender.ts) after its handshake. On the
 * header it hands the MsgSnap to the node with the image as an async iterable, then feeds that
 * iterable chunk by chunk as frames arrive: at most a few chunks wait for the node (the socket is
 * paused above {@link HIGH_WATER_CHUNKS} chunks, so TCP holds back the sender), the SHA-256 and the
 * size limit are checked as bytes arrive, and the trailer's length and digest are verified before
 * the iteration ends. Once the node's promise resolves (it has stored the image and stepped the
 * message) the receiver acknowledges.
 *
 * Anything else fails the transfer: a bad frame, too much or too little data, a checksum mismatch,
 * a stall, a closed connection, the transport stopping, or the node rejecting (or not reading the
 * image to its end). Failing closes the connection with 4010, logs a line, counts
 * `frames_rejected_total{reason}` and `snapshots_received_total{result="failure"}`, and makes the
 * image's iteration throw, so the node discards what it wrote.
 */
import { createHash, type Hash, timingSafeEqual } from "node:crypto";
import { isRaftError } from "@tsraft/raft";
import { type Message, MessageType } from "@tsraft/raft/raftpb";
import { type RawData, WebSocket } from "ws";
import {
  CloseCode,
  decodeSnapHeader,
  decodeSnapTrailer,
  FrameKind,
  SNAP_ACK,
  type SnapTrailer,
  snapChunkData,
} from "./frame.js";
import { toBuffer } from "./handshake.js";
import { IncomingImage, SnapshotTransferError } from "./incoming-image.js";
import type { ResolvedOptions } from "./options.js";

/** Where the receiver hands a MsgSnap and its image: `TransportHandler.processSnapshot`. */
export type SnapshotSink = (m: Message, image: AsyncIterable<Uint8Array>) => Promise<void>;

/** Chunks (of `snapshotChunkBytes`) waiting for the node beyond which the socket is paused. */
export const HIGH_WATER_CHUNKS = 4;

type State =
  /** Handshake done; waiting for the header. */
  | "header"
  /** The node has the image; chunks are arriving. */
  | "streaming"
  /** The trailer verified the image; waiting for the node to finish with it. */
  | "verified"
  /** Acknowledged. */
  | "done"
  | "failed";

/**
 * One incoming snapshot transfer, from the first frame after the handshake to the acknowledgement
 * (or the failure). Created by the transport per snapshot connection.
 */
export class SnapshotReceiver {
  private state: State = "header";
  private image: IncomingImage | undefined;
  private index = 0;
  private readonly hash: Hash = createHash("sha256");
  /** Image bytes received so far. Invariant: received ≤ maxSnapshotBytes. */
  private received = 0;
  private idle: NodeJS.Timeout | undefined;
  private readonly peer: string;
  private readonly highWater: number;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly ws: WebSocket,
    /** The authenticated sender. */
    readonly from: number,
    private readonly sink: SnapshotSink,
  ) {
    this.peer = String(from);
    this.highWater = HIGH_WATER_CHUNKS * o.snapshotChunkBytes;
  }

  /** Takes over the (authenticated) connection. */
  start(): void {
    this.touch();
    this.ws.on("message", (raw: RawData, isBinary: boolean) => this.onFrame(toBuffer(raw), isBinary));
    this.ws.on("close", (code, reason) => {
      const r = reason.toString();
      this.fail(
        this.state === "header"
          ? `connection closed (${code}${r ? ` ${r}` : ""}) before the snapshot header`
          : `connection closed (${code}${r ? ` ${r}` : ""}) after ${this.received} bytes`,
        "snapshot-truncated",
      );
    });
  }

  /** Fails the transfer: the transport is stopping, or a newer transfer from the same peer began. */
  abort(why: string, metric: string): void {
    this.fail(why, metric);
  }

  /** The node's stall timer: runs while the receiver waits for the network (not while paused). */
  private touch(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(
      () => this.fail(`no frame for ${this.o.snapshotTimeoutMs} ms`, "snapshot-timeout"),
      this.o.snapshotTimeoutMs,
    );
  }

  private onFrame(frame: Buffer, isBinary: boolean): void {
    if (this.state === "done" || this.state === "failed") return;
    if (this.state === "verified") {
      this.fail("frame after the trailer", "snapshot-malformed");
      return;
    }
    if (!isBinary) {
      this.fail("text frame", "snapshot-malformed");
      return;
    }
    try {
      switch (frame[0]) {
        case FrameKind.SnapHeader:
          this.onHeader(decodeSnapHeader(frame));
          break;
        case FrameKind.SnapChunk:
          this.onChunk(snapChunkData(frame)); // a view the node may keep: ws never reuses it
          break;
        case FrameKind.SnapTrailer:
          this.onTrailer(decodeSnapTrailer(frame));
          break;
        default:
          this.fail(`unexpected frame kind ${frame[0]}`, "snapshot-malformed");
          return;
      }
    } catch (err) {
      if (!isRaftError(err, "Decode")) throw err;
      this.fail(err.message, "snapshot-malformed");
      return;
    }
    if (this.state === "header" || (this.state === "streaming" && !this.ws.isPaused)) this.touch();
  }

  private onHeader(m: Message): void {
    if (this.state !== "header") {
      this.fail("second snapshot header", "snapshot-malformed");
      return;
    }
    if (m.type !== MessageType.MsgSnap || m.snapshot === undefined) {
      this.fail(`header carries ${MessageType[m.type] ?? m.type}, not MsgSnap`, "snapshot-malformed");
      return;
    }
    if (m.from !== this.from || m.to !== this.o.id) {
      this.fail(`header addressed ${m.from}→${m.to}`, "snapshot-malformed");
      return;
    }
    this.state = "streaming";
    this.index = m.snapshot.metadata.index;
    const image = new IncomingImage({
      drained: () => this.onDrained(),
      abandoned: () => this.fail("the node stopped reading the image before its end", "snapshot-handler"),
    });
    this.image = image;
    this.o.log.info(
      { peer: this.peer, index: this.index, term: m.snapshot.metadata.term },
      "receiving snapshot",
    );
    let handled: Promise<void>;
    try {
      handled = Promise.resolve(this.sink(m, image));
    } catch (err) {
      handled = Promise.reject(err);
    }
    handled.then(
      () => this.onHandled(),
      (err: unknown) =>
        this.fail(
          `the node failed to take the snapshot: ${err instanceof Error ? err.message : String(err)}`,
          "snapshot-handler",
        ),
    );
  }

  private onChunk(data: Uint8Array): void {
    const image = this.image;
    if (this.state !== "streaming" || image === undefined) {
      this.fail("chunk before the header", "snapshot-malformed");
      return;
    }
    if (data.length === 0) {
      this.fail("empty chunk", "snapshot-malformed");
      return;
    }
    if (this.received + data.length > this.o.maxSnapshotBytes) {
      this.fail(
        `image exceeds the limit of ${this.o.maxSnapshotBytes} bytes (maxSnapshotBytes)`,
        "snapshot-too-large",
      );
      return;
    }
    this.received += data.length;
    this.hash.update(data);
    this.o.metrics.snapshotBytesReceived.inc({ from: this.peer }, data.length);
    image.push(data);
    if (image.bytes >= this.highWater && !this.ws.isPaused) {
      this.ws.pause();
      clearTimeout(this.idle); // the node is behind, not the sender
    }
  }

  private onTrailer(t: SnapTrailer): void {
    const image = this.image;
    if (this.state !== "streaming" || image === undefined) {
      this.fail("trailer before the header", "snapshot-malformed");
      return;
    }
    if (t.size !== this.received) {
      this.fail(
        `length mismatch: trailer says ${t.size} bytes, received ${this.received}`,
        "snapshot-length",
      );
      return;
    }
    const digest = this.hash.digest();
    if (!timingSafeEqual(digest, t.sha256)) {
      this.fail("SHA-256 mismatch", "snapshot-checksum");
      return;
    }
    this.state = "verified";
    clearTimeout(this.idle);
    if (this.ws.isPaused) this.ws.resume(); // only a close (or a stray frame) can come now
    image.end({ size: this.received, sha256: digest.toString("hex") });
  }

  /** The node took a chunk: below one chunk's worth queued, read the socket again. */
  private onDrained(): void {
    const image = this.image;
    if (image === undefined || !this.ws.isPaused || image.bytes > this.o.snapshotChunkBytes) return;
    if (this.state !== "streaming") return;
    this.ws.resume();
    this.touch();
  }

  /** The node's promise resolved: acknowledge if it read the whole (verified) image. */
  private onHandled(): void {
    if (this.state === "failed" || this.state === "done") return;
    if (this.image?.consumed !== true) {
      this.fail("the node returned before reading the image to its end", "snapshot-handler");
      return;
    }
    this.state = "done";
    clearTimeout(this.idle);
    this.o.log.info({ peer: this.peer, index: this.index, bytes: this.received }, "received snapshot");
    this.o.metrics.snapshotsReceived.inc({ result: "success" });
    this.o.metrics.messagesReceived.inc({ from: this.peer });
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(SNAP_ACK);
      this.ws.close(1000, "snapshot stored");
    }
  }

  private fail(why: string, metric: string): void {
    if (this.state === "done" || this.state === "failed") return;
    this.state = "failed";
    clearTimeout(this.idle);
    this.o.log.warn({ peer: this.peer, index: this.index, reason: why }, "rejected snapshot stream");
    this.o.metrics.snapshotsReceived.inc({ result: "failure" });
    this.o.metrics.framesRejected.inc({ reason: metric });
    this.image?.fail(new SnapshotTransferError(metric, `snapshot from ${this.peer}: ${why}`));
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(CloseCode.SnapshotRejected, `snapshot rejected: ${why}`.slice(0, 120));
    }
    if (this.ws.isPaused) this.ws.resume(); // let the close handshake through
  }
}
