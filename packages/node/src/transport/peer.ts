/**
 * One remote peer: its send queue and the single stream connection of the pair (etcd's peer +
 * streamWriter/streamReader, on one WebSocket used both ways).
 *
 * The lower id of a pair dials and redials (exponential backoff with jitter); the higher id waits for
 * it. Either way, once a connection is authenticated it is `attach`ed here and carries batches in
 * both directions. Messages queue while the peer is connecting or connected; once it is down they are
 * dropped at once and the peer is reported unreachable, as etcd's peer does when its stream is gone.
 */
import type { Message } from "@tsraft/raft/raftpb";
import { type ClientOptions, type RawData, WebSocket } from "ws";
import { trace, tracing } from "../trace.js";
import { Backoff } from "./backoff.js";
import { CloseCode, ConnKind, decodeHello, encodeBatch, encodeHello, FrameKind, RAFT_PATH } from "./frame.js";
import { checkHelloAck, localHello, type Refusal, toBuffer } from "./handshake.js";
import type { ResolvedOptions } from "./options.js";
import { BoundedQueue } from "./queue.js";
import { messageSizeBound } from "./size.js";

/** What a Peer needs from its Transport. */
export interface PeerContext {
  readonly opts: ResolvedOptions;
  readonly tokenDigest: Buffer;
  /** Options for every outgoing WebSocket (maxPayload, TLS). */
  clientOptions(): ClientOptions;
  /** Counts and forwards to the handler (once per call). */
  reportUnreachable(id: number): void;
  /** A frame arrived on `peer`'s authenticated stream connection. */
  onStreamFrame(peer: number, data: RawData, isBinary: boolean): void;
  /** Logs (throttled) and counts a refused handshake or frame. */
  reject(reason: string, fields: Record<string, unknown>, msg: string): void;
  /** Registers an outgoing socket: closed by `stop`, errors logged and counted. */
  track(ws: WebSocket, peer: number | undefined): void;
  /** `peer` refused us as removed from the cluster (CloseCode.MemberRemoved). */
  removedFromCluster(peer: number): void;
}

/** A snapshot of a peer's state, for status pages and tests. */
export interface PeerInfo {
  readonly id: number;
  readonly url: string | undefined;
  /** An authenticated stream connection is up. */
  readonly active: boolean;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Bytes handed to the socket but not yet written to the kernel. */
  readonly bufferedBytes: number;
  /** The peer refused this node as removed from the cluster: it is not dialed any more. */
  readonly refusedAsRemoved: boolean;
}

/** The outcome of `enqueue`. */
export type EnqueueResult = "queued" | "full" | "down" | "too-large";

type Status = "connecting" | "active" | "inactive";

/**
 * The per-peer half of the transport: owned by {@link Transport}, which routes sends to it and hands
 * it accepted connections. Not for use on its own.
 */
export class Peer {
  /** Invariant: `dialer` ⇔ this node's id < `id` (the lower id dials). */
  readonly dialer: boolean;
  /** Invariant: set only while a connection is authenticated and open. */
  private conn: WebSocket | undefined;
  /** An outgoing connection not yet through its handshake. */
  private dialing: WebSocket | undefined;
  private status: Status = "connecting";
  private readonly queue: BoundedQueue<Message>;
  private readonly backoff: Backoff;
  private flushScheduled = false;
  /** The socket is over its high-water mark; the next send callback resumes flushing. */
  private waitingDrain = false;
  private redialTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** `start` has been called (the transport is running). */
  private running = false;
  /** The peer refused us as removed from the cluster: no more dials. */
  private redialStopped = false;
  /** The id in decimal: the `to` label of its metrics. */
  private readonly label: string;

  constructor(
    private readonly ctx: PeerContext,
    readonly id: number,
    private url: string | undefined,
  ) {
    const o = ctx.opts;
    this.dialer = o.id < id;
    this.label = String(id);
    this.queue = new BoundedQueue(o.queueSize, o.queueBytes);
    this.backoff = new Backoff(o.backoffInitialMs, o.backoffMaxMs, o.random);
  }

  /** Starts connecting: the dialer dials, the acceptor waits (a handshake timeout's worth, then it is down). */
  start(): void {
    this.running = true;
    this.status = "connecting";
    this.armGrace();
    if (this.dialer) this.dial();
  }

  info(): PeerInfo {
    return {
      id: this.id,
      url: this.url,
      active: this.status === "active",
      queuedMessages: this.queue.length,
      queuedBytes: this.queue.bytes,
      bufferedBytes: this.conn?.bufferedAmount ?? 0,
      refusedAsRemoved: this.redialStopped,
    };
  }

  /**
   * Queues `m` for the next batch. Never blocks; the caller counts drops and reports unreachable,
   * and calls {@link flushNow} once it has queued everything it has for this peer.
   */
  enqueue(m: Message): EnqueueResult {
    if (this.closed || this.status === "inactive") return "down";
    const size = messageSizeBound(m);
    if (size > this.ctx.opts.maxPayload - 1) return "too-large";
    if (!this.queue.push(m, size)) return "full";
    return "queued";
  }

  /**
   * Writes what is queued to the socket now, as batches: the bytes reach the kernel before this
   * returns (ws writes through to the TCP socket, which libuv tries at once), so a leader's MsgApp
   * is on its way before the leader starts its own fsync, and a follower's acknowledgement leaves
   * the moment its fsync returns — no turn of the event loop in between. Without an open
   * connection, or while the socket is over its high-water mark, it waits as before (attach, or the
   * drain, flushes).
   */
  flushNow(): void {
    if (this.flushScheduled || this.waitingDrain || this.conn === undefined) return;
    this.flush();
  }

  /**
   * Adopts an authenticated stream connection (accepted, or dialed by us). A previous connection is
   * closed as superseded: the newest one wins, so a peer that restarted is not stuck behind a
   * half-open socket of its previous life.
   */
  attach(ws: WebSocket): void {
    if (this.closed) {
      ws.close(CloseCode.PeerRemoved, "peer removed");
      return;
    }
    const old = this.conn;
    this.conn = ws;
    if (old !== undefined) {
      old.close(CloseCode.Superseded, "superseded by a newer connection");
    }
    this.clearTimers();
    this.backoff.reset();
    this.waitingDrain = false;
    if (this.status !== "active") {
      this.ctx.opts.log.info({ peer: this.id }, "peer became active");
    }
    this.status = "active";
    ws.on("message", (data, isBinary) => {
      if (this.conn === ws) this.ctx.onStreamFrame(this.id, data, isBinary);
    });
    ws.on("close", (code, reason) => {
      if (this.conn !== ws) return;
      this.conn = undefined;
      this.ctx.opts.log.warn({ peer: this.id, code, reason: reason.toString() }, "lost connection to peer");
      this.down();
      if (this.dialer) this.scheduleRedial();
    });
    this.scheduleFlush();
  }

  /** A new URL for the peer: the dialer reconnects to it at once. */
  setUrl(url: string): void {
    if (url === this.url) return;
    this.url = url;
    if (!this.dialer || this.closed || !this.running) return;
    this.dropConnections(CloseCode.PeerRemoved, "peer URL changed");
    this.backoff.reset();
    this.start();
  }

  /** Stops everything for good (the peer was removed, or the transport is stopping). */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.dropConnections(code, reason);
    const n = this.queue.clear();
    if (n > 0) this.ctx.opts.metrics.messagesDropped.inc({ reason: "peer-removed" }, n);
  }

  private dropConnections(code: number, reason: string): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined) {
      conn.close(code, reason);
    }
    const dialing = this.dialing;
    this.dialing = undefined;
    if (dialing !== undefined) {
      dialing.terminate();
    }
    if (this.redialTimer !== undefined) clearTimeout(this.redialTimer);
    this.redialTimer = undefined;
  }

  /** The peer is down: drop what is queued (stale by the time it would arrive) and report it once. */
  private down(): void {
    if (this.closed || this.status === "inactive") return;
    this.status = "inactive";
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    const n = this.queue.clear();
    if (n > 0) this.ctx.opts.metrics.messagesDropped.inc({ reason: "peer-down" }, n);
    this.ctx.opts.log.warn({ peer: this.id, dropped: n }, "peer became inactive");
    this.ctx.reportUnreachable(this.id);
  }

  private armGrace(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.status === "connecting") this.down();
    }, this.ctx.opts.handshakeTimeoutMs);
    this.graceTimer.unref();
  }

  private clearTimers(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    if (this.redialTimer !== undefined) clearTimeout(this.redialTimer);
    this.graceTimer = undefined;
    this.redialTimer = undefined;
  }

  private scheduleRedial(): void {
    if (this.closed || this.redialTimer !== undefined || this.dialing !== undefined) return;
    const delay = this.backoff.next();
    this.redialTimer = setTimeout(() => {
      this.redialTimer = undefined;
      this.dial();
    }, delay);
  }

  /** One dial attempt: connect, send our Hello, check the HelloAck, attach. Failure schedules the next. */
  private dial(): void {
    if (this.closed || this.redialStopped || this.url === undefined) return;
    const o = this.ctx.opts;
    const peer = String(this.id);
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url + RAFT_PATH, this.ctx.clientOptions());
    } catch (err) {
      o.log.error({ peer, url: this.url, err }, "invalid peer URL");
      this.down();
      return;
    }
    this.dialing = ws;
    this.ctx.track(ws, this.id);
    const timer = setTimeout(() => {
      o.log.warn({ peer }, "peer handshake timed out");
      ws.terminate();
    }, o.handshakeTimeoutMs);
    let refusal: Refusal | undefined;
    ws.on("open", () => ws.send(encodeHello(FrameKind.Hello, localHello(o, this.id, ConnKind.Stream))));
    const onAck = (data: RawData, isBinary: boolean): void => {
      ws.off("message", onAck);
      clearTimeout(timer);
      if (this.dialing !== ws) return; // abandoned (peer removed or URL changed) mid-handshake
      refusal = checkAck(this.ctx, data, isBinary, this.id);
      if (refusal !== undefined) {
        this.ctx.reject(refusal.metric, { peer, code: refusal.code }, `refused peer: ${refusal.reason}`);
        ws.close(refusal.code, refusal.reason);
        return;
      }
      this.dialing = undefined;
      this.attach(ws);
    };
    ws.on("message", onAck);
    ws.on("close", (code, reason) => {
      clearTimeout(timer);
      if (this.dialing !== ws) return;
      this.dialing = undefined;
      if (refusal === undefined && code === CloseCode.MemberRemoved) {
        // Removed for good: dialing again would only be refused again.
        o.log.error(
          { peer, reason: reason.toString() },
          "peer says this member was removed from the cluster: not dialing it again",
        );
        this.down();
        this.redialStopped = true;
        this.ctx.removedFromCluster(this.id);
        return;
      }
      if (refusal === undefined && code >= 4000) {
        o.log.warn({ peer, code, reason: reason.toString() }, "peer refused the connection");
      }
      this.down();
      this.scheduleRedial();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.waitingDrain || this.conn === undefined) return;
    this.flushScheduled = true;
    // setImmediate, not a microtask: everything sent during this turn of the event loop goes in one batch.
    setImmediate(() => this.flush());
  }

  /** Sends queued messages as batches until the queue is empty or the socket is over its high-water mark. */
  private flush(): void {
    this.flushScheduled = false;
    const ws = this.conn;
    if (ws === undefined || ws.readyState !== WebSocket.OPEN) return;
    const o = this.ctx.opts;
    while (this.queue.length > 0) {
      if (ws.bufferedAmount >= o.maxPayload) {
        this.waitingDrain = true;
        return;
      }
      const batch = this.queue.shiftBatch(o.maxBatchBytes);
      if (tracing) traceBatch("tx", this.id, batch);
      ws.send(encodeBatch(batch), { binary: true }, this.onSent);
      o.metrics.messagesSent.inc({ to: this.label }, batch.length);
    }
  }

  /** The send callback: resumes flushing once the socket drains, and takes a failed write as the peer down. */
  private readonly onSent = (err?: Error): void => {
    if (err !== undefined && err !== null) {
      this.ctx.opts.log.debug({ peer: this.id, err: err.message }, "send to peer failed");
      return; // the close event follows and marks the peer down
    }
    const ws = this.conn;
    if (this.waitingDrain && ws !== undefined && ws.bufferedAmount < this.ctx.opts.maxPayload) {
      this.waitingDrain = false;
      this.scheduleFlush();
    }
  };
}

/** Traces a batch sent or received: its peer, size, and its last message's type, index and commit. */
export function traceBatch(ev: string, peer: number, batch: readonly Message[]): void {
  const m = batch[batch.length - 1];
  if (m === undefined) return;
  const e = m.entries[m.entries.length - 1];
  trace(ev, {
    peer,
    n: batch.length,
    type: m.type,
    idx: e?.index ?? m.index,
    commit: m.commit,
    rej: m.reject,
  });
}

/** Decodes and checks a HelloAck; returns the refusal to close with, if any. */
function checkAck(ctx: PeerContext, data: RawData, isBinary: boolean, peer: number): Refusal | undefined {
  if (!isBinary)
    return { code: CloseCode.BadHandshake, reason: "text frame in handshake", metric: "bad-handshake" };
  try {
    const ack = decodeHello(FrameKind.HelloAck, toBuffer(data));
    return checkHelloAck(ctx.opts, ctx.tokenDigest, ack, peer, ConnKind.Stream);
  } catch {
    return { code: CloseCode.BadHandshake, reason: "malformed handshake", metric: "bad-handshake" };
  }
}
