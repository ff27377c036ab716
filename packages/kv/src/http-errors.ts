/**
 * The KV's one HTTP error type and the map from the node's typed errors (RaftNodeError codes) to
 * HTTP answers.
 */

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
