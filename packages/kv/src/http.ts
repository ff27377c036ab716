/**
 * The KV server's HTTP API on node:http. Writes answer once their entry is applied on
 * this node; reads are linearizable (ReadIndex) unless `?consistency=serializable`. See the root
 * README, "HTTP API", for every route and answer.
 */
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { RaftNode } from "@tsraft/node";
import { trace, tracing } from "@tsraft/node/trace";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import { authorize, type TokenTable } from "./auth.js";
import type { ClientTlsOptions } from "./client-tls.js";
import { type Command, encodeCommand } from "./command.js";
import { HttpError, nodeErrorToHttp } from "./http-errors.js";
import {
  DEFAULT_MAX_REQUEST_BYTES,
  discardRest,
  parseKey,
  parseMemberId,
  readBody,
  sendError,
  sendJson,
} from "./http-io.js";
import { handleRange } from "./http-range.js";
import { handleTxn } from "./http-txn.js";
import { handleWatch } from "./http-watch.js";
import { encodeIdempotent, idempotencyKeyOf, keyReusedError, replayedHeaders } from "./idempotency.js";
import { REVISION_HEADER, revisionHeaders } from "./kv-json.js";
import type { ApplyResult, SqliteStateMachine } from "./sqlite-state-machine.js";
import { WatchHub, type WatchHubOptions } from "./watch-hub.js";

/** The part of a RaftNode the HTTP layer uses (the tests put a fake one behind it). */
export type KvNode = Pick<
  RaftNode<ApplyResult>,
  | "id"
  | "propose"
  | "linearizableRead"
  | "addMember"
  | "removeMember"
  | "promoteMember"
  | "members"
  | "status"
  | "leader"
>;

/** The read side of the state machine the HTTP layer uses. */
export type KvStore = Pick<
  SqliteStateMachine,
  | "get"
  | "getKeyValue"
  | "appliedIndex"
  | "revision"
  | "count"
  | "stateHash"
  | "range"
  | "countRange"
  | "readTxn"
  | "changes"
  | "compactRevision"
  | "onApplied"
>;

/** What the routes of other files (http-range.ts, http-txn.ts, http-watch.ts) use. */
export interface RouteDeps {
  readonly node: KvNode;
  readonly store: KvStore;
  readonly waitMs: number;
  readonly maxBody: number;
  readonly watches: WatchHub;
}

/** Options of {@link createKvHttpServer}. */
export interface KvHttpOptions {
  node: KvNode;
  store: KvStore;
  logger: Logger;
  /** Where the HTTP series are registered (the node's registry, so /metrics serves both). */
  registry: Registry;
  /** Largest request body, in bytes (default 1.5 MiB); more is refused with 413. */
  maxRequestBytes?: number;
  /** How long a write or a linearizable read may wait for the cluster (default 5 s); then 504. */
  requestTimeoutMs?: number;
  /** Time allowed to send the request headers (default 10 s): slowloris protection. */
  headersTimeoutMs?: number;
  /** Time allowed to send the whole request (default 30 s); a slower client gets 408. */
  bodyTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this long (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** Watches (`GET /watch`, watch-hub.ts); end them with {@link closeKvWatches} before closing the server. */
  watch?: Omit<WatchHubOptions, "registry">;
  /** Serve HTTPS with this context (client-tls.ts); the server's `setSecureContext` swaps it later. */
  tls?: ClientTlsOptions;
  /** Bearer-token auth (auth.ts): the current token table (undefined: auth off). */
  tokens?: () => TokenTable | undefined;
  /** With auth on, `/metrics` needs no token (default: a `read` token). */
  metricsPublic?: boolean;
  /** Extra routes (new files register theirs here: `GET /backup`), tried before the built-in ones. */
  routes?: readonly KvRoute[];
}

/** A route of its own file: `match` says whether it takes the request, `handle` answers it. */
export interface KvRoute {
  readonly name: string;
  match(path: string): boolean;
  handle(c: {
    readonly req: IncomingMessage;
    readonly res: ServerResponse;
    readonly path: string;
    readonly query: URLSearchParams;
    readonly signal: AbortSignal;
  }): Promise<void>;
}

const hubs = new WeakMap<Server, WatchHub>();

/**
 * Ends the watch streams of a server made by {@link createKvHttpServer} (each gets a `Stopped`
 * event): call before `server.close()`, which otherwise waits for them.
 */
export function closeKvWatches(server: Server): void {
  hubs.get(server)?.close();
}

/** Per connection: aborted when it closes. */
const connectionAborts = new WeakMap<object, AbortController>();

/**
 * The signal that aborts when the request's connection closes (the client went away; a request
 * still waiting then has no one to answer). One AbortController per connection rather than per
 * request: creating one costs more than the rest of a small request's handling in JavaScript.
 */
function connectionSignal(req: IncomingMessage): AbortSignal {
  const socket = req.socket;
  let ac = connectionAborts.get(socket);
  if (ac === undefined) {
    const created = new AbortController();
    // Pipelined requests on one connection each listen; no warning past the default ten.
    setMaxListeners(0, created.signal);
    socket.once("close", () => created.abort());
    connectionAborts.set(socket, created);
    ac = created;
  }
  return ac.signal;
}

/** Numbers the requests in the trace (TSRAFT_TRACE), to pair their events. */
let traceSeq = 0;

/** The query of a request without one (never modified). */
const NO_QUERY = new URLSearchParams();

/** Largest `POST /members` body; a member is a few dozen bytes of JSON. */
const MAX_MEMBER_BODY = 64 * 1024;
const KV_PREFIX = "/kv/";
const MEMBERS = "/members";

type Route =
  | "kv"
  | "range"
  | "txn"
  | "watch"
  | "members"
  | "status"
  | "health"
  | "metrics"
  | "debug"
  | "other";

/** One request, as every route sees it. */
export interface Ctx {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  readonly query: URLSearchParams;
  /**
   * Aborted when the client goes away (its connection closes) before its answer: releases the
   * node's waiters. One per connection: a keep-alive connection carries one request at a time.
   */
  readonly signal: AbortSignal;
}

/**
 * Creates the HTTP server (not listening yet). The caller listens, and on shutdown calls `close()`
 * then `closeAllConnections()` after a grace period.
 */
export function createKvHttpServer(o: KvHttpOptions): Server {
  const maxBody = o.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const waitMs = o.requestTimeoutMs ?? 5000;
  const requests = new Counter({
    name: "tsraft_kv_http_requests_total",
    help: "HTTP requests answered, by route, method and status code.",
    labelNames: ["route", "method", "code"],
    registers: [o.registry],
  });
  const latency = new Histogram({
    name: "tsraft_kv_http_request_duration_seconds",
    help: "Time from a request's arrival to its answer, by route and method.",
    labelNames: ["route", "method"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [o.registry],
  });

  const serverOptions = {
    headersTimeout: o.headersTimeoutMs ?? 10_000,
    requestTimeout: o.bodyTimeoutMs ?? 30_000,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 5_000,
    // How often the two timeouts above are checked (Node's default, 30 s, would make them coarse).
    connectionsCheckingInterval: 500,
  };
  const server =
    o.tls === undefined ? createServer(serverOptions) : createHttpsServer({ ...serverOptions, ...o.tls });
  const watches = new WatchHub(o.store, { ...o.watch, registry: o.registry });
  hubs.set(server, watches);
  const deps: RouteDeps = { node: o.node, store: o.store, waitMs, maxBody, watches };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const traceId = tracing ? ++traceSeq : 0;
    if (tracing) trace("http.recv", { m: req.method ?? "", id: traceId });
    const given = req.headers["x-request-id"];
    const reqId = typeof given === "string" && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    res.setHeader("x-request-id", reqId);
    const signal = connectionSignal(req);
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const extra = o.routes?.find((r) => r.match(path));
    const route = extra === undefined ? routeOf(path) : extra.name;
    const method = req.method ?? "GET";
    // The request's child logger, made only when a line is logged (most are below the level).
    const log = (): Logger => o.logger.child({ reqId });
    res.once("finish", () => {
      if (tracing) trace("http.done", { code: res.statusCode, id: traceId });
      const code = String(res.statusCode);
      requests.inc({ route, method, code });
      const seconds = (performance.now() - started) / 1000;
      latency.observe({ route, method }, seconds);
      const level = res.statusCode >= 500 ? "warn" : route === "kv" || route === "members" ? "info" : "debug";
      if (o.logger.isLevelEnabled(level)) {
        log()[level](
          { method, url: rawUrl, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 },
          "request",
        );
      }
    });
    const ctx: Ctx = {
      req,
      res,
      path,
      query: q < 0 ? NO_QUERY : new URLSearchParams(rawUrl.slice(q + 1)),
      signal,
    };
    const answer = async (): Promise<void> => {
      authorize(req, path, o.tokens?.(), o.metricsPublic ?? false);
      if (extra !== undefined) return extra.handle(ctx);
      return dispatch(ctx, route as Route);
    };
    answer().catch((err: unknown) => {
      const h = nodeErrorToHttp(err);
      if (h === undefined) {
        log().debug({ method, url: rawUrl }, "client went away before the answer");
        return;
      }
      if (h.status === 500) log().error({ err }, "request failed");
      sendError(res, h);
      if (h.status === 413 || h.status === 401 || h.status === 403) discardRest(req);
    });
  };

  const dispatch = async (c: Ctx, route: Route): Promise<void> => {
    if (!c.path.startsWith("/")) throw new HttpError(400, "BadPath", "request target must be a path");
    switch (route) {
      case "kv":
        return kv(c);
      case "range":
        return handleRange(c, deps);
      case "txn":
        return handleTxn(c, deps);
      case "watch":
        return handleWatch(c, deps);
      case "members":
        return members(c);
      case "status":
        allow(c, ["GET"]);
        noQuery(c);
        return sendJson(c.res, 200, {
          ...o.node.status(),
          members: o.node.members(),
          kv: { appliedIndex: o.store.appliedIndex(), revision: o.store.revision(), keys: o.store.count() },
        });
      case "health":
        allow(c, ["GET"]);
        return sendJson(c.res, 200, { health: true, id: o.node.id, leader: o.node.leader() });
      case "metrics": {
        allow(c, ["GET"]);
        const text = await o.registry.metrics();
        c.res.writeHead(200, { "content-type": o.registry.contentType });
        c.res.end(text);
        return;
      }
      case "debug":
        // Read-only diagnostics for tests and operators: the state digest at the applied index.
        if (c.path !== "/debug/hash") throw new HttpError(404, "NotFound", `no route ${c.path}`);
        allow(c, ["GET"]);
        noQuery(c);
        return sendJson(c.res, 200, o.store.stateHash());
      case "other":
        throw new HttpError(404, "NotFound", `no route ${c.path}`);
    }
  };

  const kv = async (c: Ctx): Promise<void> => {
    const key = parseKey(c.path.slice(KV_PREFIX.length));
    const method = allow(c, ["GET", "PUT", "DELETE"]);
    if (method === "GET") {
      onlyParams(c, ["consistency"]);
      const consistency = c.query.get("consistency") ?? "linearizable";
      if (consistency !== "linearizable" && consistency !== "serializable") {
        throw new HttpError(400, "BadQuery", "consistency must be linearizable or serializable");
      }
      if (consistency === "linearizable")
        await o.node.linearizableRead({ timeoutMs: waitMs, signal: c.signal });
      const kv = o.store.getKeyValue(key);
      if (kv === undefined) throw new HttpError(404, "KeyNotFound", "key not found");
      c.res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": kv.value.length,
        ...revisionHeaders(o.store.revision(), kv),
      });
      c.res.end(kv.value);
      return;
    }
    onlyParams(c, ["prev"]);
    const prevText = c.query.get("prev");
    const prev = prevText === null ? undefined : Buffer.from(prevText, "utf8");
    let cmd: Command;
    if (method === "PUT") {
      const value = await readBody(c.req, maxBody);
      if (tracing) trace("http.body");
      cmd = prev === undefined ? { op: "put", key, value } : { op: "put", key, value, prev };
    } else {
      await drainEmpty(c.req);
      cmd = prev === undefined ? { op: "delete", key } : { op: "delete", key, prev };
    }
    const idem = idempotencyKeyOf(c.req);
    const data = idem === undefined ? encodeCommand(cmd) : encodeIdempotent(idem, encodeCommand(cmd));
    const result = await o.node.propose(data, { timeoutMs: waitMs, signal: c.signal });
    answerWrite(c, result);
  };

  const answerWrite = (c: Ctx, result: ApplyResult): void => {
    // An idempotent retry answers what the first attempt did, and says so (idempotency.ts).
    const replayed = replayedHeaders(result);
    switch (result.kind) {
      case "ok":
        c.res.writeHead(204, { [REVISION_HEADER]: result.revision, ...replayed });
        c.res.end();
        return;
      case "compare-failed":
        throw new HttpError(
          412,
          "CompareFailed",
          "the current value is not prev",
          { current: result.current === undefined ? null : Buffer.from(result.current).toString("utf8") },
          replayed,
        );
      case "key-reused":
        throw keyReusedError();
      default:
        throw new HttpError(500, "ApplyFailed", `unexpected apply result ${JSON.stringify(result)}`);
    }
  };

  const members = async (c: Ctx): Promise<void> => {
    const rest = c.path.slice(MEMBERS.length);
    if (rest === "" || rest === "/") {
      const method = allow(c, ["GET", "POST"]);
      noQuery(c);
      if (method === "GET") return sendJson(c.res, 200, { members: o.node.members() });
      const m = parseMember(await readBody(c.req, Math.min(maxBody, MAX_MEMBER_BODY)));
      await o.node.addMember(m.id, m.url, { learner: m.learner, timeoutMs: waitMs, signal: c.signal });
      return sendJson(c.res, 201, m);
    }
    const parts = rest.slice(1).split("/");
    const id = parseMemberId(parts[0]);
    noQuery(c);
    if (parts.length === 1) {
      allow(c, ["DELETE"]);
      await drainEmpty(c.req);
      await o.node.removeMember(id, { timeoutMs: waitMs, signal: c.signal });
    } else if (parts.length === 2 && parts[1] === "promote") {
      allow(c, ["POST"]);
      await drainEmpty(c.req);
      await o.node.promoteMember(id, { timeoutMs: waitMs, signal: c.signal });
    } else {
      throw new HttpError(404, "NotFound", `no route ${c.path}`);
    }
    c.res.writeHead(204);
    c.res.end();
  };

  server.on("request", handle);
  // `Expect: 100-continue`: refuse an oversized body before the client sends it.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers["content-length"] ?? 0) > maxBody) {
      res.setHeader("connection", "close");
      sendError(res, new HttpError(413, "RequestTooLarge", `request body larger than ${maxBody} bytes`));
      return;
    }
    res.writeContinue();
    handle(req, res);
  });
  return server;
}

function routeOf(path: string): Route {
  if (path.startsWith(KV_PREFIX)) return "kv";
  if (path === "/kv") return "range";
  if (path === "/txn") return "txn";
  if (path === "/watch") return "watch";
  if (path === MEMBERS || path.startsWith(`${MEMBERS}/`)) return "members";
  if (path === "/status") return "status";
  if (path === "/health") return "health";
  if (path === "/metrics") return "metrics";
  if (path.startsWith("/debug/")) return "debug";
  return "other";
}

/** Checks the method, answering 405 (with Allow) for another; returns it. */
export function allow(c: Ctx, methods: string[]): string {
  const m = c.req.method ?? "";
  if (methods.includes(m) || (m === "HEAD" && methods.includes("GET"))) return m === "HEAD" ? "GET" : m;
  throw new HttpError(
    405,
    "MethodNotAllowed",
    `${m} not allowed on ${c.path}`,
    {},
    { allow: methods.join(", ") },
  );
}

/** Refuses query parameters other than `names` (a typo must not silently change a request's meaning). */
export function onlyParams(c: Ctx, names: string[]): void {
  for (const k of c.query.keys()) {
    if (!names.includes(k))
      throw new HttpError(400, "BadQuery", `unknown query parameter ${JSON.stringify(k)}`);
  }
}

function noQuery(c: Ctx): void {
  onlyParams(c, []);
}

/** Reads and ignores a body that should be empty (DELETE, promote), within a small limit. */
async function drainEmpty(req: IncomingMessage): Promise<void> {
  await readBody(req, MAX_MEMBER_BODY);
}

interface NewMember {
  id: number;
  url: string;
  learner: boolean;
}

/** Parses `{id, url, learner?}`; 400 on bad JSON, a bad id or URL, or unknown fields. */
function parseMember(body: Buffer): NewMember {
  let v: unknown;
  try {
    v = JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "InvalidJSON", "body is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new HttpError(400, "InvalidMember", "body must be a JSON object {id, url, learner?}");
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== "id" && k !== "url" && k !== "learner") {
      throw new HttpError(400, "InvalidMember", `unknown field ${JSON.stringify(k)}`);
    }
  }
  // The id is a JSON number (a string is only accepted in a path).
  const id = parseMemberId(typeof o.id === "number" ? o.id : JSON.stringify(o.id));
  if (typeof o.url !== "string" || !isPeerUrl(o.url)) {
    throw new HttpError(400, "InvalidMember", "url must be a ws:// or wss:// peer URL");
  }
  if (o.learner !== undefined && typeof o.learner !== "boolean") {
    throw new HttpError(400, "InvalidMember", "learner must be a boolean");
  }
  return { id, url: o.url, learner: o.learner ?? false };
}

function isPeerUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "ws:" || u.protocol === "wss:") && u.port !== "";
  } catch {
    return false;
  }
}
