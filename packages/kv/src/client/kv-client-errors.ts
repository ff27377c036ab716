/**
 * The typed client's one error class. `code` is the server's error code (`CompareFailed`,
 * `Compacted`, `InvalidKey`...) when the server answered one, or the client's own:
 * - `Ambiguous`: a write whose outcome is unknown (a timeout, a reset, a 504, a 503 `Stopped`): it
 *   may have applied or not. Without an idempotency key the client never retries it: read before
 *   writing again. With one, every attempt was ambiguous: send it again with the same key.
 * - `Unavailable`: no endpoint gave an answer within the attempts allowed (reads, and writes the
 *   server promised were not proposed).
 * - `BadResponse`: an answer the API does not give.
 */

/** Why a request failed (see the module comment). */
export class KvClientError extends Error {
  override readonly name = "KvClientError";
  constructor(
    readonly code: string,
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status: number | undefined = undefined,
    /** The rest of the server's JSON error (e.g. `current` for `CompareFailed`, `compactRevision` for `Compacted`). */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True when a write may or may not have applied (`code` is `Ambiguous`). */
  get ambiguous(): boolean {
    return this.code === "Ambiguous";
  }
}

/** True if `e` is a {@link KvClientError} (with `code`, if given). */
export function isKvClientError(e: unknown, code?: string): e is KvClientError {
  return e instanceof KvClientError && (code === undefined || e.code === code);
}
