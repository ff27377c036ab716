/**
 * The one HTTP client of the tests, the benchmarks and the chaos runner, on node:http: a hard
 * timeout per request (the whole answer must have arrived), and a result instead of an exception,
 * with failures told apart by whether the request could have reached the server — a refused
 * connection could not; a reset or a timeout could have, which is what a history recorder or a
 * retrying client must know before it sends a write again.
 */
import { type Agent, type IncomingHttpHeaders, request } from "node:http";

/** An answer from the server. */
export interface HttpAnswer {
  readonly kind: "answer";
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as UTF-8 text ("" with `discardBody`). */
  readonly body: string;
}

/** No answer. `refused`: the connection was refused, so the request never reached a server. */
export interface HttpFailure {
  readonly kind: "failure";
  readonly refused: boolean;
  /** The error code (ECONNRESET, ETIMEDOUT...) or message. */
  readonly error: string;
}

/** What {@link httpRequest} resolves to; it never rejects. */
export type HttpResult = HttpAnswer | HttpFailure;

/** Options of one request. */
export interface HttpRequestOptions {
  readonly method: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly port: number;
  /** Path and query, already encoded. */
  readonly path: string;
  readonly body?: string | Uint8Array;
  /** The whole answer must have arrived by then, else the request is destroyed (ETIMEDOUT); none if undefined. */
  readonly timeoutMs: number | undefined;
  /** A keep-alive agent (one per client keeps one connection per node); default: node's global agent. */
  readonly agent?: Agent;
  /** Extra request headers (content-type, Idempotency-Key...). content-length is set from the body. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Read the body but keep none of it (a load generator that only counts statuses). */
  readonly discardBody?: boolean;
}

/** Sends one request. Resolves with the answer, or with why there is none. */
export function httpRequest(o: HttpRequestOptions): Promise<HttpResult> {
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (r: HttpResult): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(r);
    };
    const body = typeof o.body === "string" ? Buffer.from(o.body, "utf8") : o.body;
    const req = request(
      {
        host: o.host ?? "127.0.0.1",
        port: o.port,
        method: o.method,
        path: o.path,
        ...(o.agent !== undefined ? { agent: o.agent } : {}),
        headers: { ...o.headers, ...(body === undefined ? {} : { "content-length": body.length }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        if (o.discardBody) res.resume();
        else res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          done({
            kind: "answer",
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", (e) => done({ kind: "failure", refused: false, error: errorText(e) }));
      },
    );
    if (o.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        done({ kind: "failure", refused: false, error: "ETIMEDOUT" });
        req.destroy();
      }, o.timeoutMs);
    }
    req.on("error", (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      done({ kind: "failure", refused: code === "ECONNREFUSED", error: errorText(e) });
    });
    req.end(body);
  });
}

function errorText(e: Error): string {
  return (e as NodeJS.ErrnoException).code ?? e.message;
}

/** The `code` of a JSON error body `{error, code}` (tsraft-kv's errors), if any. */
export function errorCodeOf(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { code?: unknown };
    return typeof v.code === "string" ? v.code : undefined;
  } catch {
    return undefined;
  }
}

/** `body` parsed as JSON; undefined if it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
