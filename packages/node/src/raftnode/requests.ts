/**
 * Waiting requests (etcd's wait.Wait): a promise per request id that the apply loop settles when
 * the entry is applied, with a timeout and an optional AbortSignal, bounded in number.
 */
import { abortedError, leaderChangedError, supersededError, timeoutError } from "./errors.js";

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

/**
 * Where a request went when it was stepped into the core: the leader it was handed to (this node,
 * or the leader its proposal was forwarded to) and the term then. `local`: this node was that
 * leader, so the entry was appended here at `term` (and nowhere else at another term).
 */
export interface Handoff {
  readonly lead: number;
  readonly term: number;
  readonly local: boolean;
}

interface Pending<T> {
  readonly waiter: Waiter<T>;
  readonly what: string;
  readonly handoff: Handoff | undefined;
  /** Set once its leader is gone and a new one known: settle once an entry of this term applies. */
  awaitTerm: number | undefined;
}

/**
 * Requests waiting for their entry to apply, keyed by the request's sequence number. Besides
 * timeouts and aborts, they end when the leader they were handed to is gone (see
 * {@link onLeaderChange} and {@link onAppliedTerm}; docs/architecture.md, "When the leader goes").
 */
export class PendingRequests<T> {
  private readonly pending = new Map<number, Pending<T>>();

  constructor(private readonly onChange: (size: number) => void = () => {}) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Registers request `seq`; its promise settles by {@link resolve}/{@link reject}, timeout, abort,
   * or the loss of the leader in `handoff` (none: it only ends by the others).
   */
  add(
    seq: number,
    what: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    handoff?: Handoff,
  ): Promise<T> {
    const { promise, waiter } = guard<T>(what, timeoutMs, signal, () => {
      const p = this.pending.get(seq);
      if (p?.waiter === waiter) {
        this.pending.delete(seq);
        this.onChange(this.pending.size);
      }
    });
    this.pending.set(seq, { waiter, what, handoff, awaitTerm: undefined });
    this.onChange(this.pending.size);
    return promise;
  }

  /** Settles `seq` with `value`; false if nobody waits for it (any more). */
  resolve(seq: number, value: T): boolean {
    const p = this.pending.get(seq);
    if (p === undefined) return false;
    p.waiter.resolve(value);
    return true;
  }

  reject(seq: number, err: unknown): boolean {
    const p = this.pending.get(seq);
    if (p === undefined) return false;
    p.waiter.reject(err);
    return true;
  }

  /** Rejects every waiter with `err` (the node stopped). */
  rejectAll(err: unknown): void {
    for (const p of [...this.pending.values()]) p.waiter.reject(err);
  }

  /**
   * `seq`'s entry has applied; it settles later (a conf change, once Raft has advanced): the loss
   * of its leader no longer concerns it.
   */
  applied(seq: number): void {
    const p = this.pending.get(seq);
    if (p === undefined || p.handoff === undefined) return;
    this.pending.set(seq, { waiter: p.waiter, what: p.what, handoff: undefined, awaitTerm: undefined });
  }

  /**
   * The leader is now `lead` (0: none known) at `term`. Requests handed to another leader end: at
   * once with the "unknown" error when no leader is known; otherwise once this node applies an
   * entry of `term` (the new leader's first entry commits everything before it that ever will):
   * by then an entry of theirs in the new leader's log has applied and resolved them.
   */
  onLeaderChange(lead: number, term: number): void {
    for (const p of [...this.pending.values()]) {
      const h = p.handoff;
      if (h === undefined || h.lead === lead) continue;
      if (lead === 0) {
        p.waiter.reject(leaderChangedError(p.what));
      } else {
        p.awaitTerm ??= term;
      }
    }
  }

  /**
   * Entries up to one of `term` have applied here (call when the applied term grows, after
   * settling what applied). A request this node appended as leader at an earlier term never will:
   * every entry committed after one of `term` has a term at least `term` (Log Matching; terms never
   * decrease along a log), and its own index, if below, has applied without it. It ends with the
   * "superseded" error. A forwarded request whose new leader's entry has applied ends with the
   * "unknown" error: its old leader may still hand it on (a message delivered late).
   */
  onAppliedTerm(term: number): void {
    for (const p of [...this.pending.values()]) {
      const h = p.handoff;
      if (h === undefined) continue;
      if (h.local && h.term < term) p.waiter.reject(supersededError(p.what));
      else if (p.awaitTerm !== undefined && p.awaitTerm <= term) p.waiter.reject(leaderChangedError(p.what));
    }
  }
}
