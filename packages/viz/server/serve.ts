/**
 * The visualizer's server: builds the page with Vite and serves it, plus a small proxy for the Live
 * tab. `tsraft-kv` answers without CORS headers, so a page from another origin cannot read its
 * `/status`; the page asks `/proxy?url=<node URL>/status` of this server instead, which forwards
 * only `/status`, `/health` and `/kv/...` requests to http(s) URLs.
 */
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The packages/viz directory (this file runs from server/ in tests, from dist/server/ once built). */
export const VIZ_DIR = basename(dirname(HERE)) === "dist" ? join(HERE, "..", "..") : join(HERE, "..");
/** Where `pnpm viz` builds the page. */
export const DEFAULT_OUT_DIR = join(VIZ_DIR, "dist", "page");

/**
 * Builds the page into `outDir` (emptied first) with the package's vite.config.ts. Vite is loaded
 * only here, so serving a built page does not need it.
 */
export async function buildViz(outDir: string = DEFAULT_OUT_DIR): Promise<void> {
  const { build } = await import("vite");
  await build({
    configFile: join(VIZ_DIR, "vite.config.ts"),
    root: VIZ_DIR,
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
}

/** Options of {@link startVizServer}. */
export interface VizServerOptions {
  /** The built page (default: {@link DEFAULT_OUT_DIR}). */
  dir?: string;
  /** Default 127.0.0.1: the proxy must not be reachable from elsewhere. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
}

/** A running server: its URL, and how to stop it. */
export interface VizServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".map": "application/json",
};

/** How long a proxied request may take. */
const PROXY_TIMEOUT_MS = 5000;
/** The largest body the proxy forwards (a PUT's value). */
const PROXY_MAX_BODY = 1 << 20;

/** Serves the page in `dir` and the proxy. Resolves once listening. */
export async function startVizServer(o: VizServerOptions = {}): Promise<VizServer> {
  const dir = o.dir ?? DEFAULT_OUT_DIR;
  if (!existsSync(join(dir, "index.html"))) throw new Error(`${dir} has no index.html: build the page first`);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/proxy") {
      proxy(req, res, url.searchParams.get("url") ?? "").catch((err: unknown) => {
        if (!res.headersSent) reply(res, 502, { error: String(err) });
        else res.destroy();
      });
      return;
    }
    serveStatic(dir, url.pathname, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, o.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function serveStatic(dir: string, pathname: string, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    reply(res, 405, { error: "method not allowed" });
    return;
  }
  let rel: string;
  try {
    rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, "");
  } catch {
    reply(res, 400, { error: "bad path" });
    return;
  }
  const file = join(dir, rel === "" ? "index.html" : rel);
  if (!(file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep))) {
    reply(res, 404, { error: "not found" });
    return;
  }
  if (!existsSync(file) || !statSync(file).isFile()) {
    reply(res, 404, { error: "not found" });
    return;
  }
  res.writeHead(200, {
    "content-type": TYPES[extname(file)] ?? "application/octet-stream",
    "cache-control": "no-store",
  });
  if (req.method === "HEAD") res.end();
  else createReadStream(file).pipe(res);
}

/** True for the `tsraft-kv` routes the Live tab uses. */
function allowedTarget(u: URL): boolean {
  return (
    (u.protocol === "http:" || u.protocol === "https:") &&
    (u.pathname === "/status" || u.pathname === "/health" || u.pathname.startsWith("/kv/"))
  );
}

async function proxy(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    reply(res, 400, { error: `not a URL: ${target}` });
    return;
  }
  if (!allowedTarget(u)) {
    reply(res, 403, { error: "the proxy forwards only /status, /health and /kv/... of http(s) URLs" });
    return;
  }
  const method = req.method ?? "GET";
  if (!["GET", "PUT", "DELETE"].includes(method) || (method !== "GET" && !u.pathname.startsWith("/kv/"))) {
    reply(res, 405, { error: `${method} not forwarded to ${u.pathname}` });
    return;
  }
  const body = method === "PUT" ? await readBody(req) : undefined;
  let upstream: Response;
  try {
    upstream = await fetch(u, {
      method,
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(PROXY_TIMEOUT_MS),
      redirect: "manual",
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    reply(res, 502, { error: `${u.origin} unreachable${cause !== undefined ? ` (${cause})` : ""}` });
    return;
  }
  const data = Buffer.from(await upstream.arrayBuffer());
  res.writeHead(upstream.status, {
    "content-type": upstream.headers.get("content-type") ?? "application/octet-stream",
    "cache-control": "no-store",
  });
  res.end(data);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > PROXY_MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
