/**
 * The Raft transport: WebSocket connections between the nodes of a cluster (etcd's rafthttp, on ws).
 *
 * - One listening endpoint per node (`/raft` on its peer URL), and one stream connection per peer
 *   pair, dialed by the lower id and used in both directions for batches of messages.
 * - A handshake (cluster id, sender, receiver, protocol version, optional shared token) before
 *   anything else; a failing connection is closed with a 4xxx code and reason, logged and counted.
 * - Per-peer bounded send queues; a full queue or a down peer drops the message and reports the peer
 *   unreachable. A MsgSnap and its state machine image travel on a connection of their own
 *   (`sendSnapshot`), streamed in chunks with flow control and a SHA-256, and reach the receiving
 *   node through `handler.processSnapshot` as an async iterable.
 * - Malformed frames are dropped, logged (throttled) and counted; only messages that decoded cleanly,
 *   are addressed to this node and come from the authenticated peer reach `handler.process`.
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { isLocalMsg, isRaftError } from "@tsraft/raft";
import { type Message, MessageType } from "@tsraft/raft/raftpb";
import { type ClientOptions, type RawData, type WebSocket, WebSocketServer } from "ws";
import type { SnapshotImageSource } from "../raftnode/options.js";
import { tracing } from "../trace.js";
import { CloseCode, ConnKind, decodeBatch, decodeHello, encodeHello, FrameKind, RAFT_PATH } from "./frame.js";
import { checkHello, localHello, type Refusal, toBuffer } from "./handshake.js";
import {
  type ResolvedOptions,
  resolveOptions,
  type TransportHandler,
  type TransportOptions,
  tokenDigest,
} from "./options.js";
import { Peer, type PeerContext, type PeerInfo, traceBatch } from "./peer.js";
import { SnapshotReceiver } from "./snapshot-receiver.js";
import { type SnapshotSend, sendSnapshot as startSnapshotSend } from "./snapshot-sender.js";

/**
 * The masking key of every frame this node sends as a client: all zeros, which `ws` recognizes on
 * both ends and skips the XOR pass over the payload (otherwise a third of the sender's and a sixth
 * of the receiver's CPU for 9 KB MsgApps, bench/README.md `transport`). RFC 6455 masks client
 * frames so that script-controlled bytes in a browser cannot be made to look like HTTP to a caching
 * proxy; peers of a Raft cluster send protobuf they encoded themselves, so the random key protects
 * nothing here (and the frames stay well-formed: masked, with key 0).
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/** How long `stop` lets connections close cleanly before cutting them. */
const STOP_GRACE_MS = 500;
/** Per-reason log throttle for dropped frames: one line per interval, with a count of the rest. */
const LOG_INTERVAL_MS = 1000;

/**
 * The transport of one node. Construct it with the node's id, cluster id, peer URL (or server) and a
 * handler wired to the RawNode; `start` it; hand every Ready's messages to `send`, except MsgSnap,
 * which goes to `sendSnapshot` with the state machine's image; mirror conf changes with
 * `addPeer`/`removePeer`/`updatePeer`; `stop` it on shutdown. See the package README for the
 * connection model and the wire format.
 */
export class Transport {
  private readonly o: ResolvedOptions;
  private readonly handler: TransportHandler;
  private readonly digest: Buffer;
  private readonly peerMap = new Map<number, Peer>();
  private readonly wss: WebSocketServer;
  private server: HttpServer | HttpsServer | undefined;
  private readonly ownServer: boolean;
  private readonly listenUrl: URL | undefined;
  private boundUrl: string | undefined;
  /** Every open WebSocket (incoming, dialed, snapshot), so `stop` can close them all. */
  private readonly sockets = new Set<WebSocket>();
  private readonly receivers = new Set<SnapshotReceiver>();
  private readonly sends = new Set<SnapshotSend>();
  private readonly logThrottle = new Map<string, { last: number; suppressed: number }>();
  private started = false;
  private stopped = false;
  private readonly ctx: PeerContext;

  /** Validates the options and sets up the peers; nothing touches the network before `start`. */
  constructor(options: TransportOptions) {
    this.o = resolveOptions(options);
    this.handler = options.handler;
    this.digest = tokenDigest(this.o.token);
    if ((options.listen === undefined) === (options.server === undefined)) {
      throw new TypeError("transport: give exactly one of `listen` and `server`");
    }
    this.ownServer = options.server === undefined;
    this.server = options.server;
    if (options.listen !== undefined) {
      this.listenUrl = new URL(options.listen);
      if (this.listenUrl.protocol !== "ws:" && this.listenUrl.protocol !== "wss:") {
        throw new TypeError(`transport: listen URL must be ws:// or wss://, got ${options.listen}`);
      }
      if (this.listenUrl.protocol === "wss:" && this.o.tls === undefined) {
        throw new TypeError("transport: a wss:// listen URL needs `tls`");
      }
    }
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.o.maxPayload,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.ctx = {
      opts: this.o,
      tokenDigest: this.digest,
      clientOptions: () => this.clientOptions(),
      reportUnreachable: (id) => this.reportUnreachable(id),
      onStreamFrame: (peer, data, isBinary) => this.onStreamFrame(peer, data, isBinary),
      reject: (reason, fields, msg) => this.reject(reason, fields, msg),
      track: (ws, peer) => this.track(ws, peer),
      removedFromCluster: (peer) => {
        if (this.stopped) return;
        try {
          this.handler.removedFromCluster?.(peer);
        } catch (err) {
          this.o.log.error({ err }, "handler.removedFromCluster threw");
        }
      },
    };
    for (const [id, url] of options.peers ?? []) this.addPeer(id, url);
  }

  /** The URL this node listens on (port 0 resolved), once `start` has returned; undefined with `server`. */
  get url(): string | undefined {
    return this.boundUrl;
  }

  /** Listens (or attaches to the given server) and starts connecting to the peers. */
  async start(): Promise<void> {
    if (this.started) throw new Error("transport: already started");
    this.started = true;
    const server = this.server ?? this.createServer();
    this.server = server;
    server.on("upgrade", this.onUpgrade);
    if (this.ownServer && this.listenUrl !== undefined) {
      const host = this.listenUrl.hostname.replace(/^\[|\]$/g, "");
      const port = Number(this.listenUrl.port || (this.listenUrl.protocol === "wss:" ? 443 : 80));
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve();
        });
      });
      const addr = server.address() as AddressInfo;
      this.boundUrl = `${this.listenUrl.protocol}//${this.listenUrl.hostname}:${addr.port}`;
      this.o.log.info({ url: this.boundUrl }, "transport listening");
    }
    for (const id of this.sortedIds()) this.peerMap.get(id)!.start();
  }

  /**
   * Routes each message by `to`. Never blocks and never throws: a message to an unknown peer, to a
   * peer that is down, or beyond a full queue is dropped and counted, and the peer (if known) is
   * reported unreachable once per call. A MsgSnap here is a caller error (it needs its image: see
   * {@link sendSnapshot}): it is logged, dropped, and reported with `reportSnapshot(to, "failure")`.
   * Each connected peer's messages are written to its socket as one
   * batch (or a few, by maxBatchBytes) before this returns, unless the socket is in backpressure;
   * so call it once per Ready with all of the Ready's messages. Callbacks run after this returns,
   * never inside it.
   */
  send(messages: readonly Message[]): void {
    let unreachable: Set<number> | undefined;
    // The peers given messages, flushed once each after the loop: one batch per peer per call.
    const touched: Peer[] = [];
    for (const m of messages) {
      if (m.type === MessageType.MsgSnap) {
        this.o.log.error(
          { to: m.to },
          "MsgSnap passed to send(): it needs its image, use sendSnapshot(); reported as failed",
        );
        this.o.metrics.messagesDropped.inc({ reason: "msgsnap-without-image" });
        this.o.metrics.snapshotsSent.inc({ result: "failure" });
        const to = m.to;
        queueMicrotask(() => this.reportSnapshotOutcome(to, "failure"));
        continue;
      }
      const p = this.stopped ? undefined : this.peerMap.get(m.to);
      if (p === undefined) {
        this.o.metrics.messagesDropped.inc({ reason: this.stopped ? "stopped" : "unknown-peer" });
        this.warnThrottled("unknown-peer", { to: m.to }, "dropped message to unknown peer");
        continue;
      }
      const r = p.enqueue(m);
      if (r === "queued") {
        if (touched[touched.length - 1] !== p && !touched.includes(p)) touched.push(p);
        continue;
      }
      const reason = r === "full" ? "queue-full" : r === "down" ? "peer-down" : "too-large";
      this.o.metrics.messagesDropped.inc({ reason });
      if (r !== "down") {
        this.warnThrottled(
          reason,
          { to: m.to, type: MessageType[m.type] },
          r === "full"
            ? "dropped message: send queue full (overloaded network)"
            : "dropped message: larger than maxPayload",
        );
      }
      unreachable ??= new Set();
      unreachable.add(m.to);
    }
    for (const p of touched) p.flushNow();
    if (unreachable !== undefined) {
      const ids = [...unreachable].sort((a, b) => a - b);
      queueMicrotask(() => {
        for (const id of ids) this.reportUnreachable(id);
      });
    }
  }

  /** Adds a peer (a conf change added it); an existing id just takes the new URL. */
  addPeer(id: number, url: string): void {
    if (id === this.o.id) return;
    const existing = this.peerMap.get(id);
    if (existing !== undefined) {
      existing.setUrl(url);
      return;
    }
    const p = new Peer(this.ctx, id, url);
    this.peerMap.set(id, p);
    if (this.started && !this.stopped) p.start();
  }

  /** Removes a peer: its connection is closed (4009), its queue dropped, and it may no longer connect. */
  removePeer(id: number): void {
    const p = this.peerMap.get(id);
    if (p === undefined) return;
    this.peerMap.delete(id);
    p.close(CloseCode.PeerRemoved, "peer removed");
    this.o.log.info({ peer: id }, "removed peer");
  }

  /** Changes a peer's URL (its lower-id side reconnects to the new one); an unknown id is added. */
  updatePeer(id: number, url: string): void {
    this.addPeer(id, url);
  }

  /** The peers in id order, with their connection and queue state. */
  peers(): PeerInfo[] {
    return this.sortedIds().map((id) => this.peerMap.get(id)!.info());
  }

  /**
   * Closes every connection (1001), fails the snapshot transfers in flight and, when it owns the
   * server, stops listening. Outgoing transfers release their image and are reported with
   * `reportSnapshot(to, "failure")` before the returned promise resolves; incoming ones make their
   * image's iteration throw (the handler's promise is not awaited). Apart from those reports (and
   * the one owed to a `sendSnapshot` called later), no handler callback runs once this has been
   * called.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.peerMap.values()) p.close(CloseCode.GoingAway, "transport stopping");
    const sends = [...this.sends];
    for (const s of sends) s.abort("transport stopping");
    for (const r of [...this.receivers]) r.abort("transport stopping", "snapshot-aborted");
    const open = [...this.sockets];
    for (const ws of open) ws.close(CloseCode.GoingAway, "transport stopping");
    await Promise.race([
      Promise.all(
        open.map(
          (ws) => new Promise<void>((r) => (ws.readyState === ws.CLOSED ? r() : ws.once("close", () => r()))),
        ),
      ),
      new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref()),
    ]);
    for (const ws of this.sockets) ws.terminate();
    // Every aborted send has been reported by now (its `done` rejected before the first await).
    await Promise.allSettled(sends.map((s) => s.done));
    const server = this.server;
    if (server === undefined) return;
    server.off("upgrade", this.onUpgrade);
    if (this.ownServer && server.listening) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  private sortedIds(): number[] {
    return [...this.peerMap.keys()].sort((a, b) => a - b);
  }

  private createServer(): HttpServer | HttpsServer {
    const notFound = (_req: IncomingMessage, res: ServerResponse): void => {
      res.statusCode = 404;
      res.end();
    };
    const tls = this.o.tls;
    if (this.listenUrl?.protocol === "wss:" && tls !== undefined) {
      return createHttpsServer(
        {
          key: tls.key,
          cert: tls.cert,
          ca: tls.ca,
          requestCert: true,
          rejectUnauthorized: tls.insecureSkipVerify !== true,
        },
        notFound,
      );
    }
    return createHttpServer(notFound);
  }

  private clientOptions(): ClientOptions {
    const tls = this.o.tls;
    const base: ClientOptions = {
      maxPayload: this.o.maxPayload,
      perMessageDeflate: false,
      handshakeTimeout: this.o.handshakeTimeoutMs,
      generateMask: zeroMask,
    };
    if (tls === undefined) return base;
    return {
      ...base,
      key: tls.key,
      cert: tls.cert,
      ca: tls.ca,
      rejectUnauthorized: tls.insecureSkipVerify !== true,
    };
  }

  /** Upgrades on `/raft` are ours; on a server we own everything else is refused, on a shared one left alone. */
  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== RAFT_PATH) {
      if (this.ownServer) socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n");
      return;
    }
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.on("error", () => {}); // errors after this point surface on the WebSocket
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req.socket.remoteAddress));
  };

  /** Runs the acceptor's side of the handshake on a new connection. */
  private accept(ws: WebSocket, remote: string | undefined): void {
    this.track(ws, undefined);
    const timer = setTimeout(
      () =>
        this.refuse(ws, remote, {
          code: CloseCode.HandshakeTimeout,
          reason: "handshake timeout",
          metric: "handshake-timeout",
        }),
      this.o.handshakeTimeoutMs,
    );
    ws.on("close", () => clearTimeout(timer));
    const onHello = (raw: RawData, isBinary: boolean): void => {
      ws.off("message", onHello);
      clearTimeout(timer);
      let refusal: Refusal | undefined;
      let hello: ReturnType<typeof decodeHello> | undefined;
      try {
        if (isBinary) hello = decodeHello(FrameKind.Hello, toBuffer(raw));
      } catch (err) {
        if (!isRaftError(err, "Decode")) throw err;
      }
      if (hello === undefined) {
        refusal = { code: CloseCode.BadHandshake, reason: "malformed handshake", metric: "bad-handshake" };
      } else {
        refusal = checkHello(
          this.o,
          this.digest,
          hello,
          (id) => this.isMember(id),
          (id) => this.isRemoved(id),
        );
      }
      if (refusal !== undefined || hello === undefined) {
        this.refuse(ws, remote, refusal!);
        return;
      }
      if (this.stopped) {
        ws.close(CloseCode.GoingAway, "transport stopping");
        return;
      }
      ws.send(encodeHello(FrameKind.HelloAck, localHello(this.o, hello.from, hello.kind)));
      if (hello.kind === ConnKind.Stream) {
        this.peerMap.get(hello.from)!.attach(ws);
        return;
      }
      // A peer has one snapshot stream to us at a time: a newer connection means it gave up on the
      // older one (it reported it failed), which may sit half-open.
      for (const old of this.receivers) {
        if (old.from === hello.from) {
          old.abort("superseded by a newer snapshot connection from the peer", "snapshot-superseded");
        }
      }
      const r = new SnapshotReceiver(this.o, ws, hello.from, (m, image) => this.processSnapshot(m, image));
      this.receivers.add(r);
      ws.on("close", () => this.receivers.delete(r));
      r.start();
    };
    ws.on("message", onHello);
  }

  private refuse(ws: WebSocket, remote: string | undefined, r: Refusal): void {
    this.reject(r.metric, { remote, code: r.code }, `refused connection: ${r.reason}`);
    ws.close(r.code, r.reason);
  }

  /** A sender may connect if it is in the peer set and the handler (if it has an opinion) agrees. */
  private isMember(id: number): boolean {
    if (!this.peerMap.has(id)) return false;
    try {
      return this.handler.isMember?.(id) ?? true;
    } catch (err) {
      this.o.log.error({ err }, "handler.isMember threw");
      return false;
    }
  }

  /** Whether the handler says `id` was removed from the cluster. */
  private isRemoved(id: number): boolean {
    try {
      return this.handler.isRemoved?.(id) ?? false;
    } catch (err) {
      this.o.log.error({ err }, "handler.isRemoved threw");
      return false;
    }
  }

  /** Registers a socket for `stop`, with an error listener that counts protocol violations. */
  private track(ws: WebSocket, peer: number | undefined): void {
    this.sockets.add(ws);
    ws.on("close", () => this.sockets.delete(ws));
    ws.on("error", (err: Error & { code?: string }) => {
      const reason =
        err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
          ? "oversize"
          : err.code?.startsWith("WS_ERR_")
            ? "protocol"
            : undefined;
      if (reason === undefined) {
        this.o.log.debug({ peer, err: err.message }, "connection error");
        return;
      }
      this.reject(reason, { peer, err: err.message }, "closed connection on a bad frame");
    });
  }

  /** A frame on an authenticated stream connection: decode it whole, then deliver what is ours. */
  private onStreamFrame(peer: number, data: RawData, isBinary: boolean): void {
    if (this.stopped) return;
    if (!isBinary) {
      this.reject("text", { peer: peer }, "dropped text frame");
      return;
    }
    const frame = toBuffer(data);
    if (frame[0] !== FrameKind.Batch) {
      this.reject("unexpected-kind", { peer: peer, kind: frame[0] }, "dropped frame of unexpected kind");
      return;
    }
    let msgs: Message[];
    try {
      msgs = decodeBatch(frame);
    } catch (err) {
      if (!isRaftError(err, "Decode")) throw err;
      this.reject("decode", { peer: peer, err: err.message, bytes: frame.length }, "dropped malformed frame");
      return;
    }
    if (tracing) traceBatch("rx", peer, msgs);
    let delivered = 0;
    for (const m of msgs) {
      if (m.to !== this.o.id || m.from !== peer) {
        this.o.metrics.messagesDropped.inc({ reason: "misrouted" });
        this.warnThrottled(
          "misrouted",
          { peer: peer, from: m.from, to: m.to },
          "dropped misaddressed message",
        );
      } else if (isLocalMsg(m.type) || MessageType[m.type] === undefined) {
        // Only a node generates local types for itself: stepping one from a peer would let the peer
        // drive this node's elections or storage.
        this.o.metrics.messagesDropped.inc({ reason: "bad-type" });
        this.warnThrottled(
          "bad-type",
          { peer: peer, type: m.type },
          "dropped message of a local or unknown type",
        );
      } else if (this.deliver(m)) {
        delivered++;
      }
    }
    // Counted once per frame, not per message: a labelled counter hashes its labels on every call
    // (every message delivered from a frame is from `peer`).
    if (delivered > 0) this.o.metrics.messagesReceived.inc({ from: String(peer) }, delivered);
  }

  /** Hands `m` to the handler; false if the transport has stopped (nothing is delivered then). */
  private deliver(m: Message): boolean {
    if (this.stopped) return false;
    try {
      this.handler.process(m);
    } catch (err) {
      this.o.log.error({ err, from: m.from }, "handler.process threw");
    }
    return true;
  }

  /**
   * Streams a MsgSnap and its state machine image to `m.to` on a connection of its own (see
   * snapshot-sender.ts), pulling chunks from `image.read()` only as fast as the peer takes them.
   * Never throws. Reports the outcome exactly once with `reportSnapshot` (`finish` once the peer
   * acknowledged it stored the image; `failure` otherwise, with `reportUnreachable` too unless the
   * transport is stopping) and calls `image.release()` exactly once: as soon as the image has been
   * read to its end, or when the transfer fails (a refusal, a close, `snapshotTimeoutMs` without
   * progress, the iterator throwing, `stop`). `m.snapshot.data` (the node's metadata) travels in the
   * header. The producer must yield a chunk at least every `snapshotTimeoutMs` (both ends fail a
   * stalled transfer).
   */
  abortSnapshots(reason: string): void {
    for (const s of [...this.sends]) s.abort(reason);
  }

  sendSnapshot(m: Message, image: SnapshotImageSource): void {
    const to = m.to;
    const peer = String(to);
    const refuse = (why: string, reason: string): void => {
      this.o.metrics.messagesDropped.inc({ reason });
      this.o.metrics.snapshotsSent.inc({ result: "failure" });
      this.releaseImage(image, to);
      queueMicrotask(() => this.reportSnapshotOutcome(to, "failure"));
      if (reason === "not-msgsnap") this.o.log.error({ peer, type: m.type }, why);
    };
    if (m.type !== MessageType.MsgSnap || m.snapshot === undefined) {
      refuse("sendSnapshot() given a message that is not a MsgSnap; reported as failed", "not-msgsnap");
      return;
    }
    const url = this.stopped ? undefined : this.peerMap.get(to)?.info().url;
    if (url === undefined) {
      refuse("no such peer", this.stopped ? "stopped" : "unknown-peer");
      return;
    }
    const index = m.snapshot.metadata.index;
    this.o.log.info({ peer, index }, "sending snapshot");
    let s: SnapshotSend;
    try {
      s = startSnapshotSend({
        o: this.o,
        digest: this.digest,
        clientOptions: this.clientOptions(),
        track: (ws) => this.track(ws, to),
        to,
        url,
        m,
        image,
      });
    } catch (err) {
      // A malformed peer URL (the WebSocket constructor), or metadata too big for one frame.
      this.o.log.error({ peer, url, err }, "cannot send snapshot");
      refuse("cannot send snapshot", "snapshot-unsendable");
      return;
    }
    this.sends.add(s);
    const started = Date.now();
    s.done.then(
      () => {
        this.sends.delete(s);
        this.o.metrics.snapshotsSent.inc({ result: "success" });
        this.o.metrics.messagesSent.inc({ to: String(to) });
        this.o.log.info({ peer, index, ms: Date.now() - started }, "sent snapshot");
        this.reportSnapshotOutcome(to, "finish");
      },
      (err: Error) => {
        this.sends.delete(s);
        this.o.metrics.snapshotsSent.inc({ result: "failure" });
        this.o.log.warn({ peer, index, err: err.message }, "failed to send snapshot");
        this.reportUnreachable(to);
        this.reportSnapshotOutcome(to, "failure");
      },
    );
  }

  /** Hands an incoming MsgSnap and its image to the node (never once the transport is stopping). */
  private processSnapshot(m: Message, image: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.stopped) return Promise.reject(new Error("transport stopping"));
    return this.handler.processSnapshot(m, image);
  }

  private releaseImage(image: SnapshotImageSource, to: number): void {
    try {
      image.release();
    } catch (err) {
      this.o.log.error({ peer: to, err }, "snapshot image release() threw");
    }
  }

  private reportUnreachable(id: number): void {
    if (this.stopped) return;
    this.o.metrics.peerUnreachable.inc({ to: String(id) });
    try {
      this.handler.reportUnreachable(id);
    } catch (err) {
      this.o.log.error({ err }, "handler.reportUnreachable threw");
    }
  }

  /**
   * Every `sendSnapshot` (and MsgSnap given to `send`) is reported exactly once, even when `stop`
   * ended it: the node may count its transfers in flight.
   */
  private reportSnapshotOutcome(id: number, status: "finish" | "failure"): void {
    try {
      this.handler.reportSnapshot(id, status);
    } catch (err) {
      this.o.log.error({ err }, "handler.reportSnapshot threw");
    }
  }

  private reject(reason: string, fields: Record<string, unknown>, msg: string): void {
    this.o.metrics.framesRejected.inc({ reason });
    this.warnThrottled(reason, fields, msg);
  }

  /** Logs at warn, at most once per interval per key, saying how many lines it held back. */
  private warnThrottled(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const t = this.logThrottle.get(key);
    if (t !== undefined && now - t.last < LOG_INTERVAL_MS) {
      t.suppressed++;
      return;
    }
    this.o.log.warn(
      t !== undefined && t.suppressed > 0 ? { ...fields, suppressed: t.suppressed } : fields,
      msg,
    );
    this.logThrottle.set(key, { last: now, suppressed: 0 });
  }
}
