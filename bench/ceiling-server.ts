/**
 * The servers of the cluster bench's ceiling and floor (issue 14, item 1): how fast the load
 * generator can go when the server does nothing, and when it does only the physical work of a
 * replicated write. bench/cluster.ts starts three of these processes in place of a cluster, so the
 * machine runs as many server processes as with tsraft-kv or etcd.
 *
 *   node bench/dist/ceiling-server.js noop  <httpPort>
 *   node bench/dist/ceiling-server.js relay <httpPort> <peerPort>
 *   node bench/dist/ceiling-server.js sync  <peerPort> <dir>
 *
 * - `noop`: an HTTP server that reads each request's body and answers it at once (PUT: 204, else
 *   200 with a two-byte body): the ceiling of the load generator, node:http and loopback.
 * - `relay`: the same HTTP server, but a request is answered only once its body has made one
 *   loopback round trip to a `sync` process, over one TCP connection (a 4-byte length, then the
 *   body; the answer is one byte, in order).
 * - `sync`: the other end: appends each body to a file in `dir` and fdatasyncs it before answering.
 *   `relay` + `sync` is one hop and one fdatasync per write, what a write replicated to one follower
 *   costs at least (tsraft-kv's leader also syncs its own WAL, in parallel with that hop).
 *
 * Each prints `ready` on stdout once it listens. Blocking file calls are on purpose: one client's
 * writes are serial, and this is the cost of the disk itself.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type Socket } from "node:net";
import { join } from "node:path";

type Reply = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

function answer(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === "PUT") {
    res.writeHead(204).end();
  } else {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  }
}

function serveHttp(port: number, reply: Reply): void {
  const server = createHttpServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => reply(req, Buffer.concat(parts), res));
  });
  server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
}

/** Splits a TCP stream into the bodies of `[u32 length][body]` frames. */
function onFrames(socket: Socket, f: (body: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (buf.length < 4 + n) break;
      f(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
    }
  });
}

function relay(httpPort: number, peerPort: number): void {
  const peer = connect(peerPort, "127.0.0.1");
  peer.setNoDelay(true);
  const waiting: (() => void)[] = [];
  peer.on("data", (acks: Buffer) => {
    for (let i = 0; i < acks.length; i++) waiting.shift()?.();
  });
  peer.on("error", (err) => {
    process.stderr.write(`relay: peer connection: ${err.message}\n`);
    process.exit(1);
  });
  peer.on("connect", () =>
    serveHttp(httpPort, (req, body, res) => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length, 0);
      waiting.push(() => answer(req, res));
      peer.write(Buffer.concat([header, body]));
    }),
  );
}

function sync(peerPort: number, dir: string): void {
  const fd = openSync(join(dir, "floor.log"), "a");
  const ack = Buffer.from([1]);
  const server = createTcpServer((socket) => {
    socket.setNoDelay(true);
    onFrames(socket, (body) => {
      writeSync(fd, body);
      fdatasyncSync(fd);
      socket.write(ack);
    });
  });
  server.listen(peerPort, "127.0.0.1", () => process.stdout.write("ready\n"));
  process.on("SIGTERM", () => {
    closeSync(fd);
    process.exit(0);
  });
}

const [mode, a, b] = process.argv.slice(2);
if (mode === "noop") serveHttp(Number(a), (req, _body, res) => answer(req, res));
else if (mode === "relay") relay(Number(a), Number(b));
else if (mode === "sync" && b !== undefined) sync(Number(a), b);
else {
  process.stderr.write(
    "usage: ceiling-server.js noop <httpPort> | relay <httpPort> <peerPort> | sync <peerPort> <dir>\n",
  );
  process.exit(2);
}
