/**
 * A fault-injecting TCP proxy in front of a node's peer (WebSocket) port: the cluster's peer URLs
 * point at the proxies, the nodes listen behind them, and every byte between two nodes crosses
 * exactly one proxy (the one in front of the node that accepted the connection).
 *
 * The proxy understands just enough of the stream to fault it at message granularity, as etcd's
 * robustness proxy and Jepsen's iptables rules do at theirs: it passes the HTTP upgrade through,
 * then cuts the byte stream into WebSocket frames (RFC 6455 §5.2), reads the dialer's id from the
 * transport's Hello (its first binary frame), and for each binary frame consults the {@link Network}
 * rule of that direction: drop it, drop it with a probability, or hold it back for a delay (frames of
 * one direction stay in order, as TCP would keep them). Control frames (ping, pong, close) always
 * pass. Dropping whole frames keeps the stream well-formed, so what a node sees is lost or late
 * messages, never garbage.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { decodeHello, FrameKind } from "@tsraft/node/testing";
import { wsFrameLayout, wsPayload } from "@tsraft/testkit";
import { Rng } from "../random.js";

/** What happens to the messages of one direction of one link. */
export interface LinkRule {
  /** Drop every message (a partition, or a one-way drop if only one direction has it). */
  readonly drop: boolean;
  /** Drop each message with this probability (handshakes excepted, so connections still form). */
  readonly loss: number;
  /** Delay each message by `delayMs` ± `jitterMs` (uniform). */
  readonly delayMs: number;
  readonly jitterMs: number;
}

/** No fault. */
export const HEALTHY: LinkRule = { drop: false, loss: 0, delayMs: 0, jitterMs: 0 };

/** The fault rules of every directed link between nodes, shared by all proxies. */
export class Network {
  private readonly rules = new Map<string, LinkRule>();
  /** Frames dropped and delayed so far, for the report. */
  readonly counters = { dropped: 0, delayed: 0, passed: 0 };
  readonly rng: Rng;

  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  /** Sets the rule for messages from `from` to `to`. */
  set(from: number, to: number, rule: LinkRule): void {
    this.rules.set(`${from}>${to}`, rule);
  }

  /** The rule for messages from `from` to `to`. */
  get(from: number, to: number): LinkRule {
    return this.rules.get(`${from}>${to}`) ?? HEALTHY;
  }

  /** Removes every fault. */
  heal(): void {
    this.rules.clear();
  }
}

/** The `from` of a Hello frame (the transport's handshake), or undefined if it names none or is not one. */
function helloFrom(frame: Uint8Array): number | undefined {
  try {
    return decodeHello(FrameKind.Hello, frame).from || undefined;
  } catch {
    return undefined;
  }
}

/** A WebSocket frame cut out of the stream. */
interface Frame {
  /** The whole frame, header included, as it travels (still masked). */
  readonly bytes: Buffer;
  readonly opcode: number;
  /** The transport's frame kind: the payload's first byte, unmasked (-1 if empty). */
  readonly kind: number;
  /** The unmasked payload (a copy). */
  body(): Uint8Array;
}

/**
 * One direction of one proxied connection: parses frames out of the byte stream and forwards,
 * drops or delays each one.
 */
class Relay {
  private buf: Buffer = Buffer.alloc(0);
  private inHeaders = true;
  /** Whether the message being continued (fragmented) is being dropped. */
  private droppingMessage = false;
  private lastRelease = 0;
  private pending = 0;

  constructor(
    private readonly sink: Socket,
    private readonly network: Network,
    /** Resolves the direction's (from, to) once the dialer is known; undefined before. */
    private readonly link: () => { from: number; to: number } | undefined,
    /** Called with the first binary frame's body on the dialer's side (the Hello). */
    private readonly onFirstBinary: ((body: Uint8Array) => void) | undefined,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.inHeaders) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.forward(this.buf.subarray(0, end + 4), 0);
      this.buf = this.buf.subarray(end + 4);
      this.inHeaders = false;
    }
    for (;;) {
      const frame = this.nextFrame();
      if (frame === undefined) return;
      this.handle(frame);
    }
  }

  /** Cuts the next complete frame off the buffer: its bytes, opcode, first payload byte and payload. */
  private nextFrame(): Frame | undefined {
    const f = wsFrameLayout(this.buf);
    if (f === undefined) return undefined;
    const bytes = this.buf.subarray(0, f.size);
    this.buf = this.buf.subarray(f.size);
    return {
      bytes,
      opcode: f.opcode,
      kind: f.payloadLength === 0 ? -1 : bytes[f.payloadAt]! ^ (f.maskAt >= 0 ? bytes[f.maskAt]! : 0),
      body: () => wsPayload(bytes, f),
    };
  }

  private handle(frame: Frame): void {
    if (frame.opcode >= 8) {
      // Control frames pass: the connection stays up and can close cleanly; only messages suffer.
      this.forward(frame.bytes, 0);
      return;
    }
    const kind = frame.opcode === 0 ? -1 : frame.kind;
    if (this.onFirstBinary !== undefined && kind === FrameKind.Hello) this.onFirstBinary(frame.body());
    const link = this.link();
    const rule = link === undefined ? HEALTHY : this.network.get(link.from, link.to);
    let drop: boolean;
    if (frame.opcode === 0) drop = this.droppingMessage;
    else {
      const handshake = kind === FrameKind.Hello || kind === FrameKind.HelloAck;
      drop = rule.drop || (!handshake && rule.loss > 0 && this.network.rng.chance(rule.loss));
      this.droppingMessage = drop;
    }
    if (drop) {
      this.network.counters.dropped++;
      return;
    }
    let delay = 0;
    if (rule.delayMs > 0 || rule.jitterMs > 0) {
      delay = Math.max(0, rule.delayMs + (this.network.rng.float() * 2 - 1) * rule.jitterMs);
      this.network.counters.delayed++;
    } else this.network.counters.passed++;
    this.forward(frame.bytes, delay);
  }

  /** Writes `bytes` after `delay` ms, never before anything forwarded earlier. */
  private forward(bytes: Buffer, delay: number): void {
    const now = performance.now();
    const at = Math.max(now + delay, this.lastRelease);
    this.lastRelease = at;
    if (at <= now && this.pending === 0) {
      this.sink.write(bytes);
      return;
    }
    const copy = Buffer.from(bytes);
    this.pending++;
    setTimeout(() => {
      this.pending--;
      if (!this.sink.destroyed) this.sink.write(copy);
    }, at - now);
  }
}

/** Options of {@link PeerProxy}. */
export interface PeerProxyOptions {
  /** The node behind the proxy. */
  readonly nodeId: number;
  /** Where the proxy listens (127.0.0.1). */
  readonly listenPort: number;
  /** Where the node's transport really listens (127.0.0.1). */
  readonly targetPort: number;
  readonly network: Network;
}

/** A proxy in front of one node's peer port. */
export class PeerProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: PeerProxyOptions) {}

  /** The port it listens on (the actual one when `listenPort` was 0); 0 before `start`. */
  get port(): number {
    const a = this.server?.address();
    return typeof a === "object" && a !== null ? a.port : 0;
  }

  /** Starts listening. */
  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.o.listenPort, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  private accept(client: Socket): void {
    const upstream = connect(this.o.targetPort, "127.0.0.1");
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    let dialer: number | undefined;
    const me = this.o.nodeId;
    const toNode = new Relay(
      upstream,
      this.o.network,
      () => (dialer === undefined ? undefined : { from: dialer, to: me }),
      (hello) => {
        dialer ??= helloFrom(hello);
      },
    );
    const toDialer = new Relay(
      client,
      this.o.network,
      () => (dialer === undefined ? undefined : { from: me, to: dialer }),
      undefined,
    );
    client.on("data", (d: Buffer) => toNode.push(d));
    upstream.on("data", (d: Buffer) => toDialer.push(d));
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("close", close);
    upstream.on("close", close);
    client.on("error", close);
    upstream.on("error", close);
  }

  /** Cuts every proxied connection (both ends see a reset); the nodes redial. */
  cutConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Stops listening and cuts every connection. */
  async stop(): Promise<void> {
    this.cutConnections();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
