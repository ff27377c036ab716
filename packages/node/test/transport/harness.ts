/**
 * Test helpers for the transport: transports on ephemeral ports wired into a cluster, a recording
 * handler, metric readers, and a raw WebSocket client that speaks the handshake (or breaks it).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { mixSeed, Prng } from "@tsraft/raft";
import { type Entry, EntryType, type Message, MessageType, newMessage } from "@tsraft/raft/raftpb";
import { wsFrameLayout } from "@tsraft/testkit";
import type { Counter } from "prom-client";
import { type ClientOptions, type RawData, WebSocket } from "ws";
import { createNodeMetrics, type NodeMetrics } from "../../src/metrics.js";
import type { SnapshotImageSource } from "../../src/raftnode/options.js";
import {
  ConnKind,
  encodeHello,
  FrameKind,
  type Hello,
  PROTOCOL_VERSION,
  RAFT_PATH,
} from "../../src/transport/frame.js";
import type { TransportOptions } from "../../src/transport/options.js";
import { Transport } from "../../src/transport/transport.js";

/** An incoming snapshot as the recording handler saw it. */
export interface ReceivedSnapshot {
  msg: Message;
  /** The image, once read to its end without error. */
  image?: Buffer;
  /** What the image's iteration threw. */
  error?: Error;
  /** The handler's promise settled. */
  settled: boolean;
}

/** A processSnapshot implementation (the node's role): read the image, store it, resolve. */
export type SnapshotHandlerFn = (msg: Message, image: AsyncIterable<Uint8Array>) => Promise<void>;

/** A handler that records everything the transport hands it. */
export class Recorder {
  readonly processed: Message[] = [];
  readonly unreachable: number[] = [];
  readonly snapshots: { id: number; status: "finish" | "failure" }[] = [];
  /** Incoming snapshots, in the order their headers arrived. */
  readonly received: ReceivedSnapshot[] = [];
  member: (id: number) => boolean = () => true;
  removed: (id: number) => boolean = () => false;
  /** The peers that refused this node as removed from the cluster. */
  readonly removedBy: number[] = [];
  /** Replaces the default processSnapshot (which collects the image in memory and records it). */
  onSnapshot: SnapshotHandlerFn | undefined;

  readonly handler = {
    process: (m: Message) => {
      this.processed.push(m);
    },
    processSnapshot: (m: Message, image: AsyncIterable<Uint8Array>): Promise<void> => {
      if (this.onSnapshot !== undefined) return this.onSnapshot(m, image);
      return this.collect(m, image);
    },
    reportUnreachable: (id: number) => {
      this.unreachable.push(id);
    },
    reportSnapshot: (id: number, status: "finish" | "failure") => {
      this.snapshots.push({ id, status });
    },
    isMember: (id: number) => this.member(id),
    isRemoved: (id: number) => this.removed(id),
    removedFromCluster: (by: number) => {
      this.removedBy.push(by);
    },
  };

  /** Messages processed that came from `from`. */
  from(from: number): Message[] {
    return this.processed.filter((m) => m.from === from);
  }

  /**
   * A processSnapshot that records the snapshot like the default one but keeps none of the image:
   * it calls `onChunk` per chunk read, and `onError` if the image's iteration throws (then rethrows).
   */
  counting(onChunk: () => void, onError: (err: Error) => void = () => {}): SnapshotHandlerFn {
    return async (m, image) => {
      const r: ReceivedSnapshot = { msg: m, settled: false };
      this.received.push(r);
      try {
        for await (const _ of image) onChunk();
      } catch (err) {
        r.error = err as Error;
        onError(r.error);
        throw err;
      } finally {
        r.settled = true;
      }
    };
  }

  /** The default processSnapshot: reads the whole image (small test images only), then "steps" `m`. */
  private async collect(m: Message, image: AsyncIterable<Uint8Array>): Promise<void> {
    const r: ReceivedSnapshot = { msg: m, settled: false };
    this.received.push(r);
    const parts: Uint8Array[] = [];
    try {
      for await (const c of image) parts.push(c);
    } catch (err) {
      r.error = err as Error;
      r.settled = true;
      throw err;
    }
    r.image = Buffer.concat(parts);
    r.settled = true;
    this.processed.push(m);
  }
}

/** Polls `cond` until it holds (or fails the test after `ms`). */
export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** {@link waitFor} for an async condition (e.g. one that reads a metric). */
export async function waitUntil(
  cond: () => Promise<boolean>,
  what = "a condition",
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A transport node under test. */
export interface TestNode {
  id: number;
  t: Transport;
  rec: Recorder;
  metrics: NodeMetrics;
  url: string;
}

/** Test defaults: fast backoff and handshake timeouts so failures show quickly. */
export const FAST: Partial<TransportOptions> = {
  backoffInitialMs: 10,
  backoffMaxMs: 100,
  handshakeTimeoutMs: 1000,
  clusterId: 0x1234,
};

/** Starts one transport on ws://127.0.0.1:`port` (0 = ephemeral), with no peers yet. */
export async function startNode(
  id: number,
  opts: Partial<TransportOptions> = {},
  port = 0,
): Promise<TestNode> {
  const rec = new Recorder();
  const metrics = createNodeMetrics();
  const t = new Transport({
    clusterId: 0x1234,
    ...FAST,
    listen: `ws://127.0.0.1:${port}`,
    ...opts,
    id,
    handler: rec.handler,
    metrics,
  } as TransportOptions);
  await t.start();
  return { id, t, rec, metrics, url: t.url! };
}

/**
 * Starts one transport attached to an http server of the test's own, which records every socket it
 * upgrades (`upgraded`, newest last): the test can kill the receiving end of a connection.
 */
export async function startNodeOnServer(
  id: number,
  opts: Partial<TransportOptions> = {},
): Promise<TestNode & { upgraded: Socket[]; server: HttpServer }> {
  const server = createHttpServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const upgraded: Socket[] = [];
  server.on("upgrade", (_req, socket: Socket) => upgraded.push(socket));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const rec = new Recorder();
  const metrics = createNodeMetrics();
  const t = new Transport({
    clusterId: 0x1234,
    ...FAST,
    ...opts,
    server,
    id,
    handler: rec.handler,
    metrics,
  } as TransportOptions);
  await t.start();
  const stop = t.stop.bind(t);
  // Stopping the node closes the server too (the transport leaves a server it was given alone).
  t.stop = async () => {
    await stop();
    server.closeAllConnections();
    if (server.listening) await new Promise((r) => server.close(r));
  };
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { id, t, rec, metrics, url, upgraded, server };
}

/** Starts `ids.length` transports and introduces every pair. */
export async function startCluster(ids: number[], opts: Partial<TransportOptions> = {}): Promise<TestNode[]> {
  const nodes = await Promise.all(ids.map((id) => startNode(id, opts)));
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.addPeer(b.id, b.url);
  return nodes;
}

/** Stops every node (errors ignored: a test may have stopped some already). */
export async function stopAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.stop().catch(() => {})));
}

/** A MsgApp from `from` to `to` whose `index` is `i` and that carries `n` entries of `size` bytes. */
export function app(from: number, to: number, i: number, n = 1, size = 16): Message {
  const entries: Entry[] = [];
  for (let k = 0; k < n; k++) {
    const data = new Uint8Array(size).fill((i + k) & 0xff);
    entries.push({ term: 1, index: i + k, type: EntryType.EntryNormal, data });
  }
  return newMessage({
    type: MessageType.MsgApp,
    from,
    to,
    term: 1,
    index: i,
    logTerm: 1,
    commit: i,
    entries,
  });
}

/** The value of a counter for the given labels (0 if never incremented). */
export async function count(c: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await c.get();
  let sum = 0;
  for (const v of values) {
    if (Object.entries(labels).every(([k, want]) => v.labels[k] === want)) sum += v.value;
  }
  return sum;
}

/** A Hello as a well-behaved peer would send it; override fields to misbehave. */
export function hello(h: Partial<Hello> & { from: number; to: number }): Uint8Array {
  return encodeHello(FrameKind.Hello, {
    version: PROTOCOL_VERSION,
    clusterId: 0x1234,
    kind: ConnKind.Stream,
    token: new Uint8Array(0),
    ...h,
  });
}

/** A raw ws client: connect, send a hello, and collect what comes back. */
export class RawClient {
  readonly frames: Buffer[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly ws: WebSocket;
  private readonly opened: Promise<void>;

  constructor(url: string, opts: ClientOptions = {}) {
    this.ws = new WebSocket(url + RAFT_PATH, { perMessageDeflate: false, ...opts });
    this.ws.on("error", () => {});
    this.ws.on("message", (d: RawData) => this.frames.push(d as Buffer));
    this.ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
  }

  async open(): Promise<void> {
    await this.opened;
  }

  send(frame: Uint8Array | string): void {
    this.ws.send(frame);
  }

  async waitClosed(ms = 5000): Promise<{ code: number; reason: string }> {
    await waitFor(() => this.closed !== undefined, "the connection to close", ms);
    return this.closed!;
  }

  /** Completes a handshake as peer `from` talking to `to`; resolves once the HelloAck is in. */
  async handshake(from: number, to: number, h: Partial<Hello> = {}): Promise<void> {
    await this.open();
    this.send(hello({ from, to, ...h }));
    await waitFor(() => this.frames.length > 0 || this.closed !== undefined, "the HelloAck");
    if (this.closed) throw new Error(`handshake refused: ${this.closed.code} ${this.closed.reason}`);
    this.frames.length = 0;
  }
}

/**
 * A hand-rolled WebSocket client on a bare TCP socket, for sending what `ws` would never send (a
 * frame header declaring a huge payload). Frames are masked as RFC 6455 requires of clients.
 */
export class BareClient {
  private buf = Buffer.alloc(0);
  private constructor(readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
    });
    sock.on("error", () => {});
  }

  static async connect(url: string): Promise<BareClient> {
    const u = new URL(url);
    const sock = connect(Number(u.port), u.hostname);
    const c = new BareClient(sock);
    const key = randomBytes(16).toString("base64");
    sock.write(
      `GET ${RAFT_PATH} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await waitFor(() => c.buf.includes("\r\n\r\n"), "the upgrade response");
    const end = c.buf.indexOf("\r\n\r\n") + 4;
    const head = c.buf.subarray(0, end).toString();
    if (!head.startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${head}`);
    c.buf = c.buf.subarray(end);
    return c;
  }

  /** Writes a frame header declaring `length` bytes (binary, FIN), and `payload` after it. */
  writeFrame(payload: Uint8Array, length = payload.length): void {
    const mask = randomBytes(4);
    let head: Buffer;
    if (length < 126) {
      head = Buffer.from([0x82, 0x80 | length]);
    } else if (length < 65536) {
      head = Buffer.from([0x82, 0x80 | 126, length >> 8, length & 0xff]);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x82;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(length), 2);
    }
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
    this.sock.write(Buffer.concat([head, mask, body]));
  }

  /** Reads the next server frame (unmasked): its opcode and payload. */
  async readFrame(ms = 5000): Promise<{ opcode: number; payload: Buffer }> {
    let frame: { opcode: number; payload: Buffer } | undefined;
    await waitFor(
      () => {
        const f = wsFrameLayout(this.buf);
        if (f === undefined) return false;
        frame = { opcode: f.opcode, payload: this.buf.subarray(f.payloadAt, f.size) };
        this.buf = this.buf.subarray(f.size);
        return true;
      },
      "a frame from the server",
      ms,
    );
    return frame!;
  }
}

/**
 * A TCP proxy in front of `target` that corrupts or cuts the client → server byte stream in flight:
 * `flipAt` inverts the byte at that stream offset, `cutAt` forwards exactly that many bytes and then
 * drops both connections. Server → client passes as is. `kill()` resets the connections of the
 * newest client (the dialer's socket gets ECONNRESET, as if the far side vanished) and closes its
 * upstream (the acceptor sees the dialer go away).
 */
export async function tamperingProxy(
  target: string,
  how: { flipAt?: number; cutAt?: number } = {},
): Promise<{ url: string; close: () => Promise<void>; kill: () => void }> {
  const { createServer } = await import("node:net");
  const t = new URL(target);
  const sockets = new Set<Socket>();
  let newest: [Socket, Socket] | undefined;
  const server = createServer((client) => {
    const upstream = connect(Number(t.port), t.hostname);
    sockets.add(client);
    sockets.add(upstream);
    newest = [client, upstream];
    let offset = 0;
    client.on("data", (d: Buffer) => {
      const start = offset;
      offset += d.length;
      if (how.flipAt !== undefined && how.flipAt >= start && how.flipAt < offset) {
        d = Buffer.from(d);
        d[how.flipAt - start]! ^= 0xff;
      }
      if (how.cutAt !== undefined && offset > how.cutAt) {
        upstream.write(d.subarray(0, Math.max(0, how.cutAt - start)), () => {
          client.destroy();
          upstream.destroy();
        });
        client.pause();
        return;
      }
      upstream.write(d);
    });
    upstream.pipe(client);
    for (const s of [client, upstream]) {
      s.on("error", () => {});
      s.on("close", () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
    kill: () => {
      if (newest === undefined) return;
      const [client, upstream] = newest;
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    },
  };
}

/** What a test image records about how the transport used it. */
export interface TestImage {
  readonly source: SnapshotImageSource;
  /** Calls of read(), release(), and of the iterator's return(). */
  readonly reads: () => number;
  readonly releases: () => number;
  /** Chunks (pieces) the transport pulled, and their bytes. */
  readonly pulled: () => { chunks: number; bytes: number };
  /** The generator's `finally` ran (the transport closed an abandoned iteration). */
  readonly closed: () => boolean;
}

/**
 * An image whose pieces come from `produce(i)` on demand (undefined ends it), through an async
 * generator (`sync: false`) or a sync one. The test sees how it was read and released.
 */
export function testImage(
  produce: (i: number) => Uint8Array | undefined | Promise<Uint8Array | undefined>,
  opts: { sync?: boolean } = {},
): TestImage {
  let reads = 0;
  let releases = 0;
  let chunks = 0;
  let bytes = 0;
  let closed = false;
  const count = (c: Uint8Array): Uint8Array => {
    chunks++;
    bytes += c.length;
    return c;
  };
  async function* asyncGen(): AsyncGenerator<Uint8Array> {
    try {
      for (let i = 0; ; i++) {
        const c = await produce(i);
        if (c === undefined) return;
        yield count(c);
      }
    } finally {
      closed = true;
    }
  }
  function* syncGen(): Generator<Uint8Array> {
    try {
      for (let i = 0; ; i++) {
        const c = produce(i);
        if (c instanceof Promise) throw new Error("testImage: a sync image cannot produce promises");
        if (c === undefined) return;
        yield count(c);
      }
    } finally {
      closed = true;
    }
  }
  return {
    source: {
      read: () => {
        reads++;
        return opts.sync ? syncGen() : asyncGen();
      },
      release: () => {
        releases++;
      },
    },
    reads: () => reads,
    releases: () => releases,
    pulled: () => ({ chunks, bytes }),
    closed: () => closed,
  };
}

/** Deterministic image content: piece `i` of `size` bytes, from a Prng seeded by (seed, i). */
export function pieceOf(seed: number, i: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const rng = new Prng(mixSeed(seed, i));
  for (let k = 0; k < size; k += 4) {
    const x = rng.u32();
    out[k] = x & 0xff;
    if (k + 1 < size) out[k + 1] = (x >>> 8) & 0xff;
    if (k + 2 < size) out[k + 2] = (x >>> 16) & 0xff;
    if (k + 3 < size) out[k + 3] = x >>> 24;
  }
  return out;
}

/** SHA-256 (hex) of the concatenation of `parts`. */
export function sha256Hex(parts: Iterable<Uint8Array>): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

/** A WebSocket server posing as an acceptor peer, scripted by the test. */
export interface FakeAcceptor {
  url: string;
  /** Every frame received after the handshake, from all connections, in order. */
  frames: Buffer[];
  /** The Hellos received. */
  hellos: Hello[];
  /** Sends `frame` on the latest connection. */
  send(frame: Uint8Array): void;
  /** Resumes reading on every paused connection. */
  resume(): void;
  close(): Promise<void>;
}

/**
 * Starts a fake peer that answers every Hello with a HelloAck as `id` (or stays silent if `silent`),
 * then records frames; with `pause` it stops reading right after the handshake, like a stalled node.
 */
export async function fakeAcceptor(
  id: number,
  opts: { pause?: boolean; silent?: boolean } = {},
): Promise<FakeAcceptor> {
  const { WebSocketServer } = await import("ws");
  const { decodeHello } = await import("../../src/transport/frame.js");
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  await new Promise((r) => wss.once("listening", r));
  const frames: Buffer[] = [];
  const hellos: Hello[] = [];
  const conns: WebSocket[] = [];
  wss.on("connection", (ws) => {
    conns.push(ws);
    ws.on("error", () => {});
    ws.once("message", (d) => {
      const h = decodeHello(FrameKind.Hello, d as Buffer);
      hellos.push(h);
      if (opts.silent) return;
      ws.send(encodeHello(FrameKind.HelloAck, { ...h, from: id, to: h.from }));
      if (opts.pause) ws.pause();
      ws.on("message", (f) => frames.push(f as Buffer));
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    frames,
    hellos,
    send: (f) => conns.at(-1)?.send(f),
    resume: () => {
      for (const c of conns) c.resume();
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}
