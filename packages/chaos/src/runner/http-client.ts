/**
 * A minimal HTTP client for the KV API on node:http, with what a history recorder needs: a hard
 * timeout per request, and errors told apart by whether the request could have reached the server
 * (a refused connection could not; a reset or a timeout could have).
 */
import { type Agent, request } from "node:http";

/** An answer from the server. */
export interface HttpAnswer {
  readonly kind: "answer";
  readonly status: number;
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
  readonly method: "GET" | "PUT" | "DELETE" | "POST";
  readonly port: number;
  /** Path and query, already encoded. */
  readonly path: string;
  readonly body?: string;
  readonly timeoutMs: number;
  /** A keep-alive agent (one per client keeps one connection per node). */
  readonly agent?: Agent;
  /** Extra request headers (e.g. Idempotency-Key). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Sends one request to 127.0.0.1. Resolves with the answer, or with why there is none. */
export function httpRequest(o: HttpRequestOptions): Promise<HttpResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const body = o.body === undefined ? undefined : Buffer.from(o.body, "utf8");
    const req = request(
      {
        host: "127.0.0.1",
        port: o.port,
        method: o.method,
        path: o.path,
        ...(o.agent !== undefined ? { agent: o.agent } : {}),
        headers: { ...o.headers, ...(body === undefined ? {} : { "content-length": body.length }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          done({ kind: "answer", status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", (e) => done({ kind: "failure", refused: false, error: errorText(e) }));
      },
    );
    const timer = setTimeout(() => {
      done({ kind: "failure", refused: false, error: "ETIMEDOUT" });
      req.destroy();
    }, o.timeoutMs);
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

/** The `code` of a JSON error body `{error, code}`, if any. */
export function errorCodeOf(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { code?: unknown };
    return typeof v.code === "string" ? v.code : undefined;
  } catch {
    return undefined;
  }
}
