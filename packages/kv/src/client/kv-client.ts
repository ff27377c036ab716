/**
 * The typed client of tsraft-kv's HTTP API (`@tsraft/kv/client`): fetch and nothing else, so it
 * runs wherever fetch does (Node.js 20, Deno, Bun, browsers).
 *
 * **Several endpoints.** Requests go to one endpoint until it fails, then to the next: any node
 * takes any request (followers forward writes through Raft).
 *
 * **Retries only what is safe.** A read (get, range, count, a transaction that only reads) is
 * retried on any failure, on the next endpoint, within `attempts`. A write is retried only when it
 * surely did not happen: the server answered 503 `NoLeader`, `ProposalDropped` or
 * `TooManyRequests` (nothing was proposed), or the connection was refused (nothing was sent; only
 * where fetch says so, as Node.js's does). Anything else without a definite answer (a timeout, a
 * reset, a 504, a 503 `Stopped`) throws a {@link KvClientError} `Ambiguous`: the write may have
 * applied, and repeating it could apply it twice. Read, then decide.
 *
 * **Idempotency keys.** A write given an `idempotencyKey` (unique per write: a UUID) is sent with
 * it as `Idempotency-Key`: the cluster applies it at most once however often it arrives, and
 * answers a repeat with the first attempt's result (`replayed: true`). So it is retried like a
 * read, on any failure, within `attempts`; only if no attempt was definite does it throw
 * `Ambiguous`, and calling again with the same key is then safe. The same key on another request
 * throws `IdempotencyKeyReused` (422).
 *
 * **Timeouts and cancellation.** Every call takes `timeoutMs` (default the client's, 5 s, per
 * attempt) and an `AbortSignal`; an aborted call rejects with the signal's reason (an aborted
 * write may have applied).
 *
 * **Ranges and watches** are async iterators: `range` yields pages read at one revision (the first
 * page's) until the last; `watch` yields events in revision order and, when its stream breaks
 * (a node killed, a restart, `SlowWatcher`), resumes on the next endpoint from the first revision
 * it has not seen whole, so it loses and repeats nothing. Both stop when the loop breaks or the
 * signal aborts.
 */
import { isKvClientError, KvClientError } from "./kv-client-errors.js";
import { bytesOf, entryOf, eventOf, KvEntry, type KvValue, valueField, type WatchEvent } from "./kv-entry.js";
import { SseParser } from "./sse-parser.js";

/** Options of {@link KvClient}. */
export interface KvClientOptions {
  /** Base URLs of the nodes' HTTP APIs, e.g. `http://127.0.0.1:12380`. */
  readonly endpoints: readonly string[];
  /** Per attempt, in ms (default 5000). */
  readonly timeoutMs?: number;
  /** Attempts per call, across endpoints, for what may be retried (default 2 per endpoint, at least 3). */
  readonly attempts?: number;
  /** Pause before the n-th retry: n × this, in ms (default 100). */
  readonly retryDelayMs?: number;
  /** The fetch to use (default: the global one). */
  readonly fetch?: typeof fetch;
}

/** Options of one call. */
export interface CallOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** Options of a write. */
export interface WriteOptions extends CallOptions {
  /**
   * Sent as `Idempotency-Key` (1 to 128 printable ASCII characters, unique per write): the write
   * applies at most once, so it is retried on any failure (see the module comment).
   */
  readonly idempotencyKey?: string;
}

/** Options of a read. */
export interface ReadOptions extends CallOptions {
  /** Read the node's applied state without a read barrier (faster; may be stale). */
  readonly serializable?: boolean;
}

/** Which keys a range or a count covers: a prefix, or `from` (inclusive) to `to` (exclusive), or all. */
export type KeySelector =
  | { readonly prefix: string; readonly from?: undefined; readonly to?: undefined }
  | { readonly prefix?: undefined; readonly from?: string; readonly to?: string };

/** Options of {@link KvClient.range}. */
export type RangeOptions = KeySelector &
  ReadOptions & {
    /** Keys per page (default 1000, at most 10,000). */
    readonly limit?: number;
    /** Read at this revision (default: the current one when the first page is read). */
    readonly revision?: number;
    /** Leave the values out. */
    readonly keysOnly?: boolean;
  };

/** One page of a range. */
export interface RangePage {
  /** The revision every page of the iteration is read at. */
  readonly revision: number;
  readonly kvs: readonly KvEntry[];
  /** More pages follow. */
  readonly more: boolean;
}

/** What a write did: the store's revision after it. */
export interface WriteResult {
  readonly revision: number;
  /** A write with an idempotency key that an earlier attempt applied: this is that attempt's result. */
  readonly replayed?: true;
}

/** A compare of a transaction (see packages/kv/src/http-txn.ts for the rules). */
export type TxnCompare =
  | { readonly key: string; readonly target: "value"; readonly op?: CompareOp; readonly value: KvValue }
  | {
      readonly key: string;
      readonly target: "version" | "mod" | "create";
      readonly op?: CompareOp;
      readonly value: number;
    }
  | { readonly key: string; readonly target: "exists"; readonly op?: "=" | "!="; readonly value: boolean };

/** A comparison operator. */
export type CompareOp = "=" | "!=" | "<" | ">";

/** An operation of a transaction's branch. */
export type TxnRequestOp =
  | { readonly op: "put"; readonly key: string; readonly value: KvValue }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "get"; readonly key: string };

/** A transaction: `success` runs if every compare holds, `failure` otherwise. */
export interface TxnRequest {
  readonly compare?: readonly TxnCompare[];
  readonly success?: readonly TxnRequestOp[];
  readonly failure?: readonly TxnRequestOp[];
}

/** What one operation of the branch that ran did. */
export type TxnOpResponse =
  | { readonly op: "put" }
  | { readonly op: "delete"; readonly deleted: boolean }
  | { readonly op: "get"; readonly kv: KvEntry | undefined };

/** What a transaction did. */
export interface TxnResponse {
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly TxnOpResponse[];
  /** As {@link WriteResult.replayed}: the first attempt's answer, gets included. */
  readonly replayed?: true;
}

/** Options of {@link KvClient.watch}. */
export interface WatchOptions {
  /** Only keys with this prefix (or only `key`; default every key). */
  readonly prefix?: string;
  readonly key?: string;
  /** The first revision to send (default: the next one, when the watch starts). */
  readonly from?: number;
  readonly signal?: AbortSignal;
  /** Called when the stream broke and the watch resumes (which endpoint, from which revision, why). */
  readonly onResume?: (info: { endpoint: string; from: number; reason: string }) => void;
}

/** 503 codes after which the server promises nothing was proposed. */
const NOT_PROPOSED = new Set(["NoLeader", "ProposalDropped", "TooManyRequests"]);
/** Network error codes that mean nothing was sent (Node.js's fetch puts them in `cause.code`). */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);

type Kind = "read" | "write";

/** A tsraft-kv client over several endpoints. Stateless apart from which endpoint it prefers. */
export class KvClient {
  private readonly endpoints: readonly string[];
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly fetch: typeof fetch;
  /** The endpoint that answered last: tried first. */
  private current = 0;

  constructor(options: KvClientOptions) {
    if (options.endpoints.length === 0) throw new Error("kv client: no endpoints");
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ""));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.attempts = options.attempts ?? Math.max(3, 2 * this.endpoints.length);
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The key with its value and revisions, or undefined if absent. */
  async get(key: string, o: ReadOptions = {}): Promise<KvEntry | undefined> {
    const r = await this.call(
      "read",
      "GET",
      `/kv/${encodeKey(key)}${o.serializable ? "?consistency=serializable" : ""}`,
      undefined,
      o,
      [404],
    );
    if (r.status === 404) return undefined;
    const h = (name: string) => Number(r.headers.get(name));
    return new KvEntry(key, r.bytes, h("x-create-revision"), h("x-mod-revision"), h("x-version"));
  }

  /**
   * Puts `key` = `value`. With `prev`, only if the key's value is `prev` (else a `CompareFailed`
   * error, its `details.current` the value found, null if none).
   */
  async put(key: string, value: KvValue, o: WriteOptions & { prev?: KvValue } = {}): Promise<WriteResult> {
    const q = o.prev === undefined ? "" : `?prev=${encodeURIComponent(text(o.prev))}`;
    const r = await this.call("write", "PUT", `/kv/${encodeKey(key)}${q}`, bytesOf(value), o);
    return { revision: Number(r.headers.get("x-revision")), ...replayedOf(r.headers) };
  }

  /** Deletes `key` (done also if it was absent). With `prev`, only if its value is `prev`. */
  async delete(key: string, o: WriteOptions & { prev?: KvValue } = {}): Promise<WriteResult> {
    const q = o.prev === undefined ? "" : `?prev=${encodeURIComponent(text(o.prev))}`;
    const r = await this.call("write", "DELETE", `/kv/${encodeKey(key)}${q}`, undefined, o);
    return { revision: Number(r.headers.get("x-revision")), ...replayedOf(r.headers) };
  }

  /**
   * The pages of a range, all read at one revision (`o.revision`, or the first page's), so they are
   * consistent with each other whatever is written meanwhile. Throws `Compacted` if the history of
   * that revision is compacted before the last page.
   */
  async *range(o: RangeOptions = {}): AsyncGenerator<RangePage> {
    let revision = o.revision;
    let after: string | undefined;
    for (;;) {
      const q = selector(o);
      if (o.limit !== undefined) q.set("limit", String(o.limit));
      if (o.keysOnly) q.set("keys_only", "true");
      if (o.serializable) q.set("consistency", "serializable");
      if (revision !== undefined) q.set("revision", String(revision));
      if (after !== undefined) q.set("after", after);
      const page = (await this.json("read", "GET", `/kv?${q}`, undefined, o)) as {
        revision: number;
        kvs: Record<string, unknown>[];
        more: boolean;
        next?: string;
      };
      revision = page.revision;
      yield { revision, kvs: page.kvs.map(entryOf), more: page.more };
      if (!page.more || page.next === undefined) return;
      after = page.next;
    }
  }

  /** The number of keys a range holds (at `o.revision`, or now). */
  async count(
    o: KeySelector & ReadOptions & { revision?: number } = {},
  ): Promise<{ revision: number; count: number }> {
    const q = selector(o);
    q.set("count_only", "true");
    if (o.serializable) q.set("consistency", "serializable");
    if (o.revision !== undefined) q.set("revision", String(o.revision));
    return (await this.json("read", "GET", `/kv?${q}`, undefined, o)) as { revision: number; count: number };
  }

  /**
   * Runs a transaction (atomic, one revision). One that only reads is retried like a read (its
   * idempotency key, if any, records nothing: it has no log entry).
   */
  async txn(t: TxnRequest, o: WriteOptions = {}): Promise<TxnResponse> {
    const ops = [...(t.success ?? []), ...(t.failure ?? [])];
    const kind: Kind = ops.every((x) => x.op === "get") ? "read" : "write";
    const body = JSON.stringify({
      compare: (t.compare ?? []).map((c) =>
        c.target === "value"
          ? { key: c.key, target: c.target, op: c.op ?? "=", ...valueField(c.value) }
          : { ...c, op: c.op ?? "=" },
      ),
      success: (t.success ?? []).map(opJson),
      failure: (t.failure ?? []).map(opJson),
    });
    const answer = await this.call(kind, "POST", "/txn", new TextEncoder().encode(body), o);
    const r = parseJson(answer, "POST /txn") as {
      succeeded: boolean;
      revision: number;
      results: (
        | { op: "put" }
        | { op: "delete"; deleted: boolean }
        | { op: "get"; kv: Record<string, unknown> | null }
      )[];
    };
    return {
      succeeded: r.succeeded,
      revision: r.revision,
      results: r.results.map((x) =>
        x.op === "get" ? { op: "get", kv: x.kv === null ? undefined : entryOf(x.kv) } : x,
      ),
      ...replayedOf(answer.headers),
    };
  }

  /**
   * The changes to the watched keys, in revision order, from `o.from` (or from now) on, resuming
   * across broken streams and endpoints without losing or repeating an event. Throws `Compacted`
   * when the history it needs is gone; ends when the loop breaks or `o.signal` aborts.
   */
  async *watch(o: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    let next = o.from;
    let failures = 0;
    let reason = "";
    for (let attempt = 0; ; attempt++) {
      if (o.signal?.aborted) return;
      const endpoint = this.endpoints[this.current]!;
      if (attempt > 0) o.onResume?.({ endpoint, from: next ?? 0, reason });
      const q = new URLSearchParams();
      if (o.prefix !== undefined) q.set("prefix", o.prefix);
      if (o.key !== undefined) q.set("key", o.key);
      if (next !== undefined) q.set("from", String(next));
      const ac = new AbortController();
      const stop = () => ac.abort(o.signal?.reason);
      o.signal?.addEventListener("abort", stop, { once: true });
      try {
        const res = await this.fetch(`${endpoint}/watch?${q}`, {
          signal: ac.signal,
          headers: { accept: "text/event-stream" },
        });
        if (res.status !== 200 || res.body === null) {
          const e = await errorOf(res);
          if (res.status < 500) throw e;
          throw Object.assign(new Error(e.message), { retry: true });
        }
        const parser = new SseParser();
        const decoder = new TextDecoder();
        /** Events of the revision being received: yielded once its `id:` says it is whole. */
        let pending: WatchEvent[] = [];
        const reader = res.body.getReader();
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          for (const ev of parser.push(decoder.decode(chunk.value, { stream: true }))) {
            const data = JSON.parse(ev.data) as Record<string, unknown>;
            if (ev.event === "created") {
              next ??= Number(data.from);
              failures = 0;
            } else if (ev.event === "put" || ev.event === "delete") {
              pending.push(eventOf(data));
            } else if (ev.event === "error") {
              const code = String(data.code);
              if (code === "SlowWatcher" || code === "Stopped") {
                next = Math.max(next ?? 0, Number(data.revision));
                throw Object.assign(new Error(`${code}: ${String(data.error)}`), { retry: true });
              }
              throw new KvClientError(code, String(data.error), 200, data);
            }
            if (ev.id !== undefined) {
              const done = pending;
              pending = [];
              next = Number(ev.id) + 1;
              for (const e of done) yield e;
            }
          }
        }
        reason = "the stream ended";
      } catch (err) {
        if (o.signal?.aborted) return;
        if (isKvClientError(err)) throw err;
        reason = err instanceof Error ? err.message : String(err);
      } finally {
        o.signal?.removeEventListener("abort", stop);
        ac.abort();
      }
      // Resume on the next endpoint, pausing longer while nothing answers.
      this.current = (this.current + 1) % this.endpoints.length;
      failures++;
      await delay(Math.min(2000, this.retryDelayMs * failures), o.signal).catch(() => {});
      if (o.signal?.aborted) return;
    }
  }

  private async json(
    kind: Kind,
    method: string,
    path: string,
    body: Uint8Array | undefined,
    o: CallOptions,
  ): Promise<unknown> {
    return parseJson(await this.call(kind, method, path, body, o), `${method} ${path}`);
  }

  /**
   * One call: attempts on the endpoints in turn while what failed may be retried (see the module
   * comment). Resolves with an answer whose status is 2xx or in `accept`; throws otherwise.
   */
  private async call(
    kind: Kind,
    method: string,
    path: string,
    body: Uint8Array | undefined,
    o: WriteOptions,
    accept: readonly number[] = [],
  ): Promise<Answer> {
    let last: KvClientError | undefined;
    // A write with a key cannot apply twice: retried as a read is, remembering whether it may have applied.
    const keyed = kind === "write" && o.idempotencyKey !== undefined;
    let maybeApplied = false;
    const headers =
      o.idempotencyKey === undefined ? {} : { headers: { "idempotency-key": o.idempotencyKey } };
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      o.signal?.throwIfAborted();
      if (attempt > 0) await delay(this.retryDelayMs * attempt, o.signal);
      const i = this.current;
      const endpoint = this.endpoints[i]!;
      const signal = withTimeout(o.signal, o.timeoutMs ?? this.timeoutMs);
      let res: Response;
      let bytes: Uint8Array;
      try {
        res = await this.fetch(`${endpoint}${path}`, {
          method,
          ...(body === undefined ? {} : { body }),
          ...headers,
          signal: signal.signal,
        });
        bytes = new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        signal.done();
        if (o.signal?.aborted) throw o.signal.reason;
        const code = (err as { cause?: { code?: unknown } }).cause?.code;
        const notSent = typeof code === "string" && NOT_SENT.has(code);
        const what = signal.timedOut
          ? `no answer within ${o.timeoutMs ?? this.timeoutMs} ms`
          : String(code ?? (err as Error).message);
        maybeApplied ||= keyed && !notSent;
        if (kind === "write" && !notSent && !keyed) {
          throw new KvClientError(
            "Ambiguous",
            `${method} ${path} on ${endpoint}: ${what}; the write may have applied`,
            undefined,
            {},
            { cause: err },
          );
        }
        last = new KvClientError(
          "Unavailable",
          `${method} ${path} on ${endpoint}: ${what}`,
          undefined,
          {},
          { cause: err },
        );
        this.current = (i + 1) % this.endpoints.length;
        continue;
      }
      signal.done();
      if ((res.status >= 200 && res.status < 300) || accept.includes(res.status)) {
        return { status: res.status, headers: res.headers, bytes };
      }
      const e = errorFrom(res.status, bytes, `${method} ${path} on ${endpoint}`);
      const retryable =
        res.status === 503
          ? kind === "read" || keyed || NOT_PROPOSED.has(e.code)
          : res.status === 504 && (kind === "read" || keyed);
      if (!retryable) {
        if (kind === "write" && (res.status === 503 || res.status === 504)) {
          throw new KvClientError("Ambiguous", `${e.message}; the write may have applied`, res.status, {
            code: e.code,
            ...e.details,
          });
        }
        throw e;
      }
      maybeApplied ||= keyed && !NOT_PROPOSED.has(e.code);
      last = e;
      this.current = (i + 1) % this.endpoints.length;
    }
    if (maybeApplied) {
      throw new KvClientError(
        "Ambiguous",
        `${method} ${path}: no definite answer after ${this.attempts} attempts (${last?.message}); the write may have applied: send it again with the same idempotency key`,
        last?.status,
        {},
        { cause: last },
      );
    }
    throw new KvClientError(
      "Unavailable",
      `${method} ${path}: no answer after ${this.attempts} attempts (${last?.message})`,
      last?.status,
      {},
      { cause: last },
    );
  }
}

/** An answer the server gave (a 2xx, or a status the caller accepts). */
interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly bytes: Uint8Array;
}

function parseJson(r: Answer, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(r.bytes));
  } catch (err) {
    throw new KvClientError("BadResponse", `${what}: the answer is not JSON`, r.status, {}, { cause: err });
  }
}

/** `{replayed: true}` if the server answered from an idempotency record, else nothing. */
function replayedOf(headers: Headers): { replayed?: true } {
  return headers.get("idempotent-replayed") === "true" ? { replayed: true } : {};
}

function opJson(x: TxnRequestOp): Record<string, unknown> {
  return x.op === "put" ? { op: "put", key: x.key, ...valueField(x.value) } : { op: x.op, key: x.key };
}

function selector(o: KeySelector): URLSearchParams {
  const q = new URLSearchParams();
  if (o.prefix !== undefined) q.set("prefix", o.prefix);
  if (o.from !== undefined) q.set("from", o.from);
  if (o.to !== undefined) q.set("to", o.to);
  return q;
}

function encodeKey(key: string): string {
  if (key === "") throw new KvClientError("InvalidKey", "empty key");
  return encodeURIComponent(key);
}

function text(v: KvValue): string {
  return typeof v === "string" ? v : new TextDecoder().decode(v);
}

/** The server's JSON error, as a KvClientError. */
function errorFrom(status: number, bytes: Uint8Array, what: string): KvClientError {
  let o: Record<string, unknown> = {};
  try {
    o = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {}
  const { error, code, ...details } = o;
  return new KvClientError(
    typeof code === "string" ? code : `HTTP${status}`,
    `${what}: ${status} ${typeof error === "string" ? error : "(no error message)"}`,
    status,
    details,
  );
}

async function errorOf(res: Response): Promise<KvClientError> {
  return errorFrom(res.status, new Uint8Array(await res.arrayBuffer()), `GET ${res.url}`);
}

/** A signal aborted by `parent` or after `ms`; `done()` clears the timer. */
function withTimeout(parent: AbortSignal | undefined, ms: number) {
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort(new Error(`timed out after ${ms} ms`));
  }, ms);
  const onAbort = () => ac.abort(parent?.reason);
  parent?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ac.signal,
    get timedOut() {
      return timedOut;
    },
    done() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
