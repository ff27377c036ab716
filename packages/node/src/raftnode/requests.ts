/**
 * Waiting requests (etcd's wait.Wait): a promise per request id that the apply loop settles when
 * the entry is applied, with a timeout and an optional AbortSignal, bounded in number.
 */
import { abortedError, timeoutError } from "./errors.js";

/** Per-call options of the node's request methods. */
export interface RequestOptions {
  /** How long to wait (default: the node's requestTimeoutMs). */
  timeoutMs?: number;
  /** Aborting stops the wait (rejects with AbortedError); it does not withdraw a proposal. */
  signal?: AbortSignal;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
  cleanup(): void;
}

/** Per signal: the abort callbacks of the waits it still cancels (see {@link onAbort}). */
const abortCallbacks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` when `signal` aborts; returns the function that unregisters it. One EventTarget
 * listener per signal, whatever the number of waits: the KV server passes one signal per
 * connection, and adding and removing a listener per request cost ~2% of a busy leader's time.
 */
function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let fns = abortCallbacks.get(signal);
  if (fns === undefined) {
    const created = new Set<() => void>();
    signal.addEventListener(
      "abort",
      () => {
        abortCallbacks.delete(signal);
        for (const f of [...created]) f();
      },
      { once: true },
    );
    abortCallbacks.set(signal, created);
    fns = created;
  }
  const set = fns;
  set.add(fn);
  return () => {
    set.delete(fn);
  };
}

/** Settles a promise at most once, clearing its timer and abort registration. */
export function guard<T>(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  onSettle: () => void,
): { promise: Promise<T>; waiter: Waiter<T> } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  let done = false;
  const abort = (): void => settle(() => reject(abortedError(signal?.reason)));
  const timer = setTimeout(() => settle(() => reject(timeoutError(what, timeoutMs))), timeoutMs);
  timer.unref();
  const unregister = signal === undefined || signal.aborted ? undefined : onAbort(signal, abort);
  const cleanup = (): void => {
    clearTimeout(timer);
    unregister?.();
  };
  function settle(f: () => void): void {
    if (done) return;
    done = true;
    cleanup();
    onSettle();
    f();
  }
  // Deferred, so that the caller has registered the waiter before it settles.
  if (signal?.aborted) queueMicrotask(abort);
  return {
    promise,
    waiter: {
      resolve: (v) => settle(() => resolve(v)),
      reject: (e) => settle(() => reject(e)),
      cleanup,
    },
  };
}

/** Requests waiting for their entry to apply, keyed by the request's sequence number. */
export class PendingRequests<T> {
  private readonly waiters = new Map<number, Waiter<T>>();

  constructor(private readonly onChange: (size: number) => void = () => {}) {}

  get size(): number {
    return this.waiters.size;
  }

  /** Registers request `seq`; its promise settles by {@link resolve}/{@link reject}, timeout or abort. */
  add(seq: number, what: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<T> {
    const { promise, waiter } = guard<T>(what, timeoutMs, signal, () => {
      if (this.waiters.get(seq) === waiter) {
        this.waiters.delete(seq);
        this.onChange(this.waiters.size);
      }
    });
    this.waiters.set(seq, waiter);
    this.onChange(this.waiters.size);
    return promise;
  }

  /** Settles `seq` with `value`; false if nobody waits for it (any more). */
  resolve(seq: number, value: T): boolean {
    const w = this.waiters.get(seq);
    if (w === undefined) return false;
    w.resolve(value);
    return true;
  }

  reject(seq: number, err: unknown): boolean {
    const w = this.waiters.get(seq);
    if (w === undefined) return false;
    w.reject(err);
    return true;
  }

  /** Rejects every waiter with `err` (the node stopped). */
  rejectAll(err: unknown): void {
    for (const w of [...this.waiters.values()]) w.reject(err);
  }
}
