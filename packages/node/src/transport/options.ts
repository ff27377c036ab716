import { createHash } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Message } from "@tsraft/raft/raftpb";
import { type Logger, pino } from "pino";
import { createNodeMetrics, type NodeMetrics } from "../metrics.js";

/**
 * What the transport hands to the node, and asks of it. Every call is made from the event loop,
 * never re-entrantly from inside `Transport.send`; a callback that throws is logged, not propagated.
 */
export interface TransportHandler {
  /**
   * A message from a peer, decoded cleanly, with `to` equal to this node and `from` equal to the
   * authenticated peer. Step it into the RawNode. (A MsgSnap comes through {@link processSnapshot}.)
   */
  process(msg: Message): void;
  /**
   * A MsgSnap from a peer and its state machine image, streamed: `image` yields the image's chunks
   * as they arrive (a few chunks are buffered at most; the socket is paused while the consumer is
   * behind) and throws if the transfer breaks: the connection closes, it stalls for
   * `snapshotTimeoutMs`, it exceeds `maxSnapshotBytes`, or its length or SHA-256 does not match the
   * sender's trailer (checked after the last chunk, before the iteration ends). `msg.snapshot.data`
   * is the sender's small metadata, not the image. The handler stores the image durably, then
   * steps `msg`; once the returned promise resolves the transport acknowledges, and the sender
   * reports the snapshot finished. A rejection (or an image not read to its end) fails the transfer.
   *
   * What the caller must know: the error thrown is a `SnapshotTransferError` (its `reason` is the
   * `frames_rejected_total` label). Chunks are views the handler may keep (never reused). The
   * snapshot connection is not ordered with the stream connection: `process` keeps delivering the
   * same peer's other messages (heartbeats, appends) while the image streams, and the sender does
   * not wait for this call before sending more. A peer streams one image at a time (a newer snapshot
   * connection from it fails the older one), but the handler of a failed transfer may still be
   * cleaning up when the next call begins. The connection may also die after the iteration ended and
   * before this promise resolves: the sender then reports failure although the node keeps the
   * image, which raft tolerates (the follower answers the MsgSnap it stepped). A stale snapshot
   * should still be read to the end (and discarded) and `msg` stepped: raft answers it and the
   * sender reports finish.
   */
  processSnapshot(msg: Message, image: AsyncIterable<Uint8Array>): Promise<void>;
  /** Sending to `id` failed or `id` is down: call `RawNode.reportUnreachable(id)`. */
  reportUnreachable(id: number): void;
  /** The outcome of a MsgSnap sent to `id`: call `RawNode.reportSnapshot(id, status)`. */
  reportSnapshot(id: number, status: "finish" | "failure"): void;
  /**
   * Extra membership test for incoming connections, e.g. "not removed from the ConfState". A
   * connection is accepted only from a peer in the transport's peer set for which this returns true.
   */
  isMember?(id: number): boolean;
  /**
   * Was `id` removed from the cluster for good? Its connections are then refused with
   * MemberRemoved, which tells it so (default: never).
   */
  isRemoved?(id: number): boolean;
  /**
   * A peer refused this node's connection because this node was removed from the cluster: the
   * transport no longer dials that peer; the node should stop (RaftNode does, as when it applies its
   * own removal).
   */
  removedFromCluster?(by: number): void;
}

/**
 * TLS for the peer connections (wss). Both directions verify the other side against `ca`: the
 * listener requests and checks a client certificate, the dialer checks the server's certificate
 * (including its host name or IP against the peer URL).
 */
export interface TransportTLS {
  key: string | Buffer;
  cert: string | Buffer;
  /** The CA(s) peers' certificates must chain to (a self-signed peer certificate can be its own CA). */
  ca: string | Buffer | (string | Buffer)[];
  /** Skip verification of the other side. For tests only; never in production. */
  insecureSkipVerify?: boolean;
}

/** Everything `new Transport(...)` takes. Only `id`, `clusterId`, `handler` and a listener are required. */
export interface TransportOptions {
  /** This node's id (non-zero). */
  id: number;
  /** The cluster id; connections naming another cluster are refused. */
  clusterId: number;
  /**
   * The peer URL to listen on, ws://host:port or wss://host:port (wss needs `tls`); port 0 picks a
   * free port, see `Transport.url`. Either this or `server`.
   */
  listen?: string;
  /**
   * An existing http(s) server to attach to instead: the transport takes WebSocket upgrades on
   * `/raft` and leaves every other request alone. The caller listens and closes it.
   */
  server?: HttpServer | HttpsServer;
  /** The initial peers (other than this node) and their peer URLs. */
  peers?: ReadonlyMap<number, string>;
  handler: TransportHandler;
  /** A pino logger; the transport logs through a child `{ component: "transport" }`. Default: silent. */
  logger?: Logger;
  /** The node's metrics (transport series). Default: a private registry. */
  metrics?: NodeMetrics;
  /** The largest WebSocket message accepted, in bytes, set on every socket (default 8 MiB). */
  maxPayload?: number;
  /** Per-peer send queue limit in messages (default 4096, etcd's streamBufSize). */
  queueSize?: number;
  /** Per-peer send queue limit in bytes (default 4 × maxPayload). */
  queueBytes?: number;
  /** Largest batch frame, in bytes (default min(1 MiB, maxPayload)); a bigger message travels alone. */
  maxBatchBytes?: number;
  /** A shared secret every peer must present in the handshake (compared in constant time). */
  token?: string | Uint8Array;
  tls?: TransportTLS;
  /**
   * Snapshot chunk size in bytes (default 1 MiB, at least 1 KiB, capped below maxPayload): the frame
   * size the sender cuts images into, and the unit of both ends' buffers (the sender pulls while
   * under 2 chunks are unsent, the receiver pauses above 4 chunks waiting for the node).
   */
  snapshotChunkBytes?: number;
  /** Largest snapshot image accepted, in bytes (default 64 GiB), enforced as the bytes arrive. */
  maxSnapshotBytes?: number;
  /**
   * A snapshot transfer fails after this long without progress (default 30 s). The sender counts from
   * the last write that completed (so from the trailer to the acknowledgement too: the receiving
   * node's storing the image, fsync included, must fit in it); the receiver from the last frame,
   * while it waits for one (not while the node is behind). The image's producer must yield a piece
   * at least this often.
   */
  snapshotTimeoutMs?: number;
  /**
   * The most bytes per second a snapshot image is sent at (default 0: as fast as the peer takes
   * it). A limit keeps a long transfer from taking the disk and CPU the leader's writes need (TiKV's
   * snap-io-max-bytes-per-sec); each transfer is paced on its own.
   */
  snapshotSendBytesPerSec?: number;
  /** A connection must complete its handshake within this time (default 5 s). */
  handshakeTimeoutMs?: number;
  /** First reconnect delay (default 100 ms); doubles per failure, with jitter. */
  backoffInitialMs?: number;
  /** Reconnect delay cap (default 5 s). */
  backoffMaxMs?: number;
  /** Source of jitter in [0, 1) (default Math.random). */
  random?: () => number;
}

/** The options with defaults filled in, shared by the transport's parts. */
export interface ResolvedOptions {
  readonly id: number;
  readonly clusterId: number;
  readonly maxPayload: number;
  readonly queueSize: number;
  readonly queueBytes: number;
  readonly maxBatchBytes: number;
  /** Empty when no token is configured. */
  readonly token: Uint8Array;
  readonly tls: TransportTLS | undefined;
  readonly snapshotChunkBytes: number;
  readonly maxSnapshotBytes: number;
  readonly snapshotTimeoutMs: number;
  readonly snapshotSendBytesPerSec: number;
  readonly handshakeTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly random: () => number;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
}

const MiB = 1024 * 1024;
/** Room for a frame's kind byte and length prefixes around the largest chunk or message. */
const FRAME_HEADROOM = 64;

/** Checks the options and fills in the defaults; throws a RangeError on an invalid id or maxPayload. */
export function resolveOptions(o: TransportOptions): ResolvedOptions {
  if (!Number.isSafeInteger(o.id) || o.id <= 0) throw new RangeError(`transport: invalid node id ${o.id}`);
  if (!Number.isSafeInteger(o.clusterId) || o.clusterId < 0) {
    throw new RangeError(`transport: invalid cluster id ${o.clusterId}`);
  }
  const maxPayload = o.maxPayload ?? 8 * MiB;
  if (maxPayload < 4096) throw new RangeError("transport: maxPayload must be at least 4096 bytes");
  const token =
    typeof o.token === "string" ? new TextEncoder().encode(o.token) : (o.token ?? new Uint8Array(0));
  const log = (o.logger ?? pino({ level: "silent" })).child({
    component: "transport",
    id: o.id,
  });
  return {
    id: o.id,
    clusterId: o.clusterId,
    maxPayload,
    queueSize: o.queueSize ?? 4096,
    queueBytes: o.queueBytes ?? 4 * maxPayload,
    maxBatchBytes: Math.min(o.maxBatchBytes ?? MiB, maxPayload - FRAME_HEADROOM),
    token,
    tls: o.tls,
    snapshotChunkBytes: Math.max(1024, Math.min(o.snapshotChunkBytes ?? MiB, maxPayload - FRAME_HEADROOM)),
    maxSnapshotBytes: o.maxSnapshotBytes ?? 64 * 1024 * MiB,
    snapshotTimeoutMs: o.snapshotTimeoutMs ?? 30_000,
    snapshotSendBytesPerSec: Math.max(0, o.snapshotSendBytesPerSec ?? 0),
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? 5_000,
    backoffInitialMs: o.backoffInitialMs ?? 100,
    backoffMaxMs: o.backoffMaxMs ?? 5_000,
    random: o.random ?? Math.random,
    log,
    metrics: o.metrics ?? createNodeMetrics(),
  };
}

/** SHA-256 of a token, so tokens of any length compare in constant time (see handshake.ts). */
export function tokenDigest(token: Uint8Array): Buffer {
  return createHash("sha256").update(token).digest();
}
