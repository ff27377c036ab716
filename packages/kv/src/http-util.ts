/**
 * The HTTP plumbing of the KV server: JSON errors, bounded body reading, key parsing, and the map
 * from the node's typed errors to status codes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** The longest key accepted, in bytes of its UTF-8 form (after percent-decoding). */
export const MAX_KEY_BYTES = 4096;
/** etcd's default `--max-request-bytes`: 1.5 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** How long a client that sent too much may keep sending (discarded) before its socket is cut. */
const DRAIN_MS = 2000;

/** An error answered as `{error, code}` with `status`; `extra` fields are added to the JSON. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Thrown when the client went away before its request was read or answered. */
export class ClientGoneError extends Error {
  override readonly name = "ClientGoneError";
}

/** Sends `body` as JSON with `status`. A response that cannot be written any more is left alone. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = `${JSON.stringify(body, jsonReplacer)}\n`;
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Sends an error's JSON `{error, code, ...extra}`. */
export function sendError(res: ServerResponse, err: HttpError): void {
  sendJson(res, err.status, { error: err.message, code: err.code, ...err.extra }, err.headers);
}

/** JSON.stringify replacer: Maps and Sets become objects and arrays, bigints numbers, bytes base64. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (typeof value === "bigint") return Number(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  return value;
}

/**
 * Reads the request body, refusing more than `limit` bytes with 413: a declared Content-Length
 * above the limit is refused before a byte is read, a streamed body as soon as it crosses the limit.
 * Nothing past the limit is kept; see {@link discardRest}.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () =>
    new HttpError(413, "RequestTooLarge", `request body larger than ${limit} bytes (--max-request-bytes)`);
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onGone);
      req.off("close", onGone);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onGone = () => {
      cleanup();
      reject(new ClientGoneError("client closed the request"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onGone);
    req.on("close", onGone);
  });
}

/**
 * After answering a request whose body was not read (413), throw the rest of the body away as it
 * comes (so the client, still sending, reads the answer rather than a reset), and cut the socket
 * if it has not finished within a short grace.
 */
export function discardRest(req: IncomingMessage): void {
  if (req.complete) return;
  req.resume();
  const timer = setTimeout(() => req.socket.destroy(), DRAIN_MS);
  timer.unref();
  req.once("end", () => clearTimeout(timer));
  req.once("close", () => clearTimeout(timer));
}

const utf8 = new TextEncoder();

/**
 * The key named by the path segment after `/kv/`: percent-decoded UTF-8, non-empty, at most
 * {@link MAX_KEY_BYTES} bytes. `/` is allowed inside a key (`/kv/a/b` is the key `a/b`).
 */
export function parseKey(raw: string): Uint8Array {
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "InvalidKey", "key is not valid percent-encoded UTF-8");
  }
  if (key.length === 0) throw new HttpError(400, "InvalidKey", "empty key");
  const bytes = utf8.encode(key);
  if (bytes.length > MAX_KEY_BYTES) {
    throw new HttpError(400, "KeyTooLong", `key is ${bytes.length} bytes, the limit is ${MAX_KEY_BYTES}`);
  }
  return bytes;
}

/** Parses a member id from a path segment or JSON: a positive safe integer. */
export function parseMemberId(v: unknown): number {
  const n = typeof v === "string" && /^[0-9]{1,16}$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
    throw new HttpError(
      400,
      "InvalidMemberId",
      `member id must be a positive integer, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * The HTTP answer for an error from the node: no leader / dropped / too many requests / superseded
 * → 503 with Retry-After (not applied, and never will be); stopped and leader changed → 503 too,
 * but a write may still apply (the node can stop, or its leader go, after the entry was handed to
 * Raft: a forwarded proposal commits without it) — a write with an Idempotency-Key is safe to retry;
 * timed out → 504 (the write may still apply); invalid conf changes → 400 or 409. Anything
 * unexpected → 500. A client that went away gets nothing (`undefined`).
 */
export function nodeErrorToHttp(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof ClientGoneError) return undefined;
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  if (e?.name === "AbortError" || e?.code === "Aborted") return undefined;
  const message = typeof e?.message === "string" ? e.message : String(err);
  const code = typeof e?.code === "string" ? e.code : "Internal";
  const retry = { "retry-after": String(RETRY_AFTER_SECONDS) };
  switch (code) {
    // NoLeader, ProposalDropped, TooManyRequests: nothing was proposed, safe to retry. Stopped: the
    // node is going away, possibly after proposing — a write may still apply (chaos seed 40).
    case "NoLeader":
    case "Stopped":
    case "ProposalDropped":
    case "TooManyRequests":
    // LeaderChanged: the leader went away (a write may still apply); Superseded: it never will.
    case "LeaderChanged":
    case "Superseded":
      return new HttpError(503, code, message, {}, retry);
    case "Timeout":
      return new HttpError(504, code, message);
    case "RequestTooLarge":
      return new HttpError(413, code, message);
    case "InvalidArgument":
      return new HttpError(400, code, message);
    case "MemberNotFound":
      return new HttpError(404, code, message);
    case "MemberExists":
    case "MemberRemoved":
    case "MemberNotLearner":
    case "MemberIsLearner":
    case "UrlExists":
      return new HttpError(409, code, message);
    default:
      return new HttpError(500, code, message);
  }
}
