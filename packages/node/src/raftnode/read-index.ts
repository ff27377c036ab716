/**
 * Linearizable reads (etcd's linearizableReadLoop): callers that arrive together share one
 * ReadIndex round. At most one round is in flight; callers arriving meanwhile wait for the next.
 * A round ends when Raft hands back its ReadState (the commit index the leader confirmed with a
 * quorum); its callers resolve once the applied index reaches that index.
 */
import type { ReadState } from "@tsraft/raft";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import { noLeaderError, RaftNodeError } from "./errors.js";
import { guard, type RequestOptions } from "./requests.js";

/** What the read batcher needs, given once. */
export interface ReadIndexDeps {
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  /** Asks the core for a read index (RawNode.readIndex) and wakes the Ready loop. */
  readonly readIndex: (ctx: Uint8Array) => void;
  /** The current leader (0 = none). */
  readonly leader: () => number;
  /** Runs `fn` once the applied index reaches `index`. */
  readonly whenApplied: (index: number, fn: () => void) => void;
}

interface ReadWaiter {
  resolve(v: undefined): void;
  reject(e: unknown): void;
}

interface Round {
  /** The leader the round was asked of (through the core). */
  readonly lead: number;
  readonly key: string;
  readonly ctx: Uint8Array;
  readonly waiters: ReadWaiter[];
}

/**
 * Batches linearizable reads into ReadIndex rounds. Invariant: at most one round is in flight;
 * `next` holds the callers that arrived after it started.
 */
export class ReadIndexBatcher {
  /** Callers for the next round. */
  private next: ReadWaiter[] = [];
  private round: Round | undefined;
  /** Callers of rounds whose read index is known, waiting for the applied index to reach it. */
  private readonly waitingApply = new Set<ReadWaiter>();
  private scheduled = false;
  private seq = 0;
  private pending = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped: Error | undefined;

  constructor(
    private readonly h: ReadIndexDeps,
    private readonly nonce: number,
    private readonly o: {
      readonly requestTimeoutMs: number;
      readonly maxPendingReads: number;
      readonly retryMs: number;
    },
  ) {}

  /** Reads waiting (in a round, or for their index to apply). */
  get size(): number {
    return this.pending;
  }

  /** Resolves once a read at this moment is linearizable: applied ≥ a read index confirmed after the call. */
  read(opts: RequestOptions = {}): Promise<void> {
    if (this.stopped !== undefined) return Promise.reject(this.stopped);
    if (this.pending >= this.o.maxPendingReads) {
      return Promise.reject(
        new RaftNodeError("TooManyRequests", `raftnode: ${this.pending} reads already pending`),
      );
    }
    const timeoutMs = opts.timeoutMs ?? this.o.requestTimeoutMs;
    this.pending++;
    const { promise, waiter } = guard<undefined>("linearizable read", timeoutMs, opts.signal, () => {
      this.pending--;
      this.waitingApply.delete(waiter);
    });
    this.next.push(waiter);
    // Start the round once the current burst of callers has queued: they all share it.
    if (!this.scheduled && this.round === undefined) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.startRound();
      });
    }
    return promise;
  }

  /** Hands the Ready's read states in: completes the round they answer. */
  onReadStates(states: readonly ReadState[]): void {
    const r = this.round;
    if (r === undefined) return;
    for (const rs of states) {
      if (keyOf(rs.requestCtx) !== r.key) continue;
      this.endRound();
      this.h.metrics.readIndexRequests.inc({ result: "success" });
      for (const w of r.waiters) this.waitingApply.add(w);
      this.h.whenApplied(rs.index, () => {
        for (const w of r.waiters) w.resolve(undefined);
      });
      this.startRound();
      return;
    }
  }

  /**
   * The leader is now `lead` (0: none known). A round asked of another leader will get no answer
   * from it: with no leader its reads end at once (NoLeader: a read changed nothing, retry it);
   * otherwise they are asked again, of the new leader, at once (not at the next retry).
   */
  onLeaderChange(lead: number): void {
    const r = this.round;
    if (r === undefined || r.lead === lead) return;
    this.endRound();
    if (lead === 0) {
      this.h.metrics.readIndexRequests.inc({ result: "no-leader" });
      for (const w of r.waiters) w.reject(noLeaderError("read"));
    } else {
      this.next = [...r.waiters, ...this.next];
    }
    this.startRound();
  }

  /** Rejects every read with `err` and refuses new ones. */
  stop(err: Error): void {
    this.stopped = err;
    this.endRound();
    const all = [...this.next, ...(this.round?.waiters ?? []), ...this.waitingApply];
    this.next = [];
    this.round = undefined;
    this.waitingApply.clear();
    for (const w of all) w.reject(err);
  }

  private startRound(): void {
    if (this.stopped !== undefined || this.round !== undefined || this.next.length === 0) return;
    const waiters = this.next;
    this.next = [];
    if (this.h.leader() === 0) {
      this.h.metrics.readIndexRequests.inc({ result: "no-leader" });
      for (const w of waiters) w.reject(noLeaderError("read"));
      return;
    }
    const key = `${this.nonce.toString(16)}:${(++this.seq).toString(16)}`;
    const r: Round = { lead: this.h.leader(), key, ctx: new TextEncoder().encode(key), waiters };
    this.round = r;
    this.h.readIndex(r.ctx);
    // The request (or its answer) may be lost on the way to the leader: ask again.
    this.retryTimer = setInterval(() => this.retry(), this.o.retryMs);
    this.retryTimer.unref();
  }

  private retry(): void {
    const r = this.round;
    if (r === undefined) return;
    if (this.h.leader() === 0) {
      this.endRound();
      this.h.metrics.readIndexRequests.inc({ result: "no-leader" });
      for (const w of r.waiters) w.reject(noLeaderError("read"));
      this.startRound();
      return;
    }
    this.h.metrics.readIndexRequests.inc({ result: "retry" });
    this.h.log.debug({ ctx: r.key }, "no ReadState yet: asking for the read index again");
    this.h.readIndex(r.ctx);
  }

  private endRound(): void {
    this.round = undefined;
    if (this.retryTimer !== undefined) clearInterval(this.retryTimer);
    this.retryTimer = undefined;
  }
}

function keyOf(ctx: Uint8Array): string {
  return new TextDecoder().decode(ctx);
}
