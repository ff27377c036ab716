/**
 * Reading requests and writing answers for the KV's HTTP API: bounded bodies, keys and member ids
 * parsed from paths and JSON, JSON answers (errors included: {@link sendError}).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { ClientGoneError, HttpError } from "./http-errors.js";

/** The longest key accepted, in bytes of its UTF-8 form (after percent-decoding). */
export const MAX_KEY_BYTES = 4096;
/** etcd's default `--max-request-bytes`: 1.5 MiB. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** How long a client that sent too much may keep sending (discarded) before its socket is cut. */
const DRAIN_MS = 2000;

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
