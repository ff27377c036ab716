/**
 * How a simulated node drives the application's state machine — the contract of
 * packages/raft/src/state-machine.ts, the one `@tsraft/node`'s RaftNode drives — one call at a time,
 * in log order, as fast as the state machine allows:
 *
 * - A call runs at once. If it returns a plain value (a synchronous state machine), that is all: no
 *   promise, no microtask, nothing to wait for.
 * - If it returns a promise, every later call of that node's state machine is chained behind it,
 *   and what the simulator does with the results (writing a snapshot image to disk) waits for
 *   {@link StateMachineDriver.settle}, which the run loop awaits between two steps
 *   (`Simulation.runAsync`): a deterministic point, so the run does not depend on when the promises
 *   resolve.
 *
 * It also holds the state machine to its contract: `appliedIndex()` is what it was handed (0 when
 * fresh: the simulator's state machines are volatile), `apply` returns one result per entry, a
 * snapshot is taken at the applied index, and nothing throws. A breach is an InvariantViolation
 * named `state-machine`.
 */
import { type Entry, EntryType } from "../../raftpb/types.js";
import type {
  ApplyEntry,
  ApplyEntryKind,
  MaybePromise,
  StateMachine,
  StateMachineSnapshot,
} from "../../state-machine.js";
import { concatChunks, restoreImage } from "./snapshot-image.js";
import { InvariantViolation } from "./violation.js";

/**
 * Builds the state machine of a node: at start and at every restart (a volatile state machine
 * starts empty; the simulator restores it from the node's durable snapshot, then applies the log
 * after it).
 */
export type StateMachineFactory = (nodeId: number) => StateMachine<unknown>;

/** What a committed entry is to the state machine (see ApplyEntryKind). */
export function applyEntryKind(e: Entry): ApplyEntryKind {
  if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) return "conf-change";
  return e.data.length === 0 ? "empty" : "normal";
}

/** A committed entry as the state machine sees it. */
export function toApplyEntry(e: Entry): ApplyEntry {
  return { index: e.index, term: e.term, kind: applyEntryKind(e), data: e.data };
}

/** Thrown by a synchronous run when a state machine returned a promise (see runCaseAsync). */
export class AsyncStateMachineError extends Error {
  override name = "AsyncStateMachineError";
}

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

/** The driver of one node incarnation's state machine. */
export class StateMachineDriver {
  /** The state machine (replaced only by {@link StateMachineDriver.reset}). */
  sm: StateMachine<unknown>;
  /**
   * The index of the last entry handed to `sm`, or of the image it restored: what
   * `sm.appliedIndex()` must say once the calls queued so far ran.
   */
  private given = 0;
  /** The chain of calls behind a promise; undefined while every call ran synchronously. */
  private tail: Promise<void> | undefined;
  /** What to do with the results of chained calls, in call order (see settle). */
  private outcomes: (() => void)[] = [];
  private failure: InvariantViolation | undefined;
  /** Which method first returned a promise (for the error of a synchronous run). */
  private asyncCall = "";

  constructor(
    readonly nodeId: number,
    private readonly make: StateMachineFactory,
  ) {
    this.sm = this.fresh();
  }

  /** True while calls wait behind a promise: the run must await {@link StateMachineDriver.settle}. */
  get pending(): boolean {
    return this.tail !== undefined;
  }

  /** Applies committed entries (in log order, after everything handed over so far). */
  apply(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const batch = entries.map(toApplyEntry);
    const expect = this.given;
    const last = batch[batch.length - 1]!.index;
    this.given = last;
    this.call(
      "apply",
      expect,
      () => this.sm.apply(batch),
      (results) => {
        if (!Array.isArray(results) || results.length !== batch.length) {
          const got = Array.isArray(results) ? `${results.length} results` : typeof results;
          throw this.broken(
            `apply() of entries ${batch[0]!.index}..${last} returned ${got} for ${batch.length}`,
          );
        }
      },
    );
  }

  /**
   * Asks for an image at the current applied index and hands its bytes to `done` (now, or at
   * settle time if the state machine is asynchronous). The image is released once read.
   */
  snapshot(done: (index: number, image: Uint8Array) => void): void {
    const expect = this.given;
    this.call(
      "snapshot",
      expect,
      () => {
        const s = this.sm.snapshot();
        return isPromise(s) ? s.then((x) => this.readImage(x, expect)) : this.readImage(s, expect);
      },
      (image) => done(expect, image),
    );
  }

  /** Replaces the state with the image `bytes`, at `index` (a snapshot restored). */
  restore(index: number, bytes: Uint8Array): void {
    this.given = index;
    this.call(
      "restore",
      -1,
      () => this.sm.restore(index, restoreImage(bytes, this.nodeId + index)),
      () => {},
    );
  }

  /**
   * Replaces the state machine with a fresh one (the state at the bootstrap snapshot, which holds
   * no application state), after the calls queued so far.
   */
  reset(): void {
    this.given = 0;
    this.call(
      "reset",
      -1,
      () => {
        this.sm = this.fresh();
      },
      () => {},
    );
  }

  /**
   * Waits for the chained calls and applies their outcomes in call order. Throws the first
   * InvariantViolation one of them met.
   */
  async settle(): Promise<void> {
    while (this.tail !== undefined) {
      const t = this.tail;
      await t;
      if (this.tail === t) this.tail = undefined;
    }
    const outcomes = this.outcomes;
    this.outcomes = [];
    if (this.failure !== undefined) throw this.failure;
    for (const o of outcomes) o();
  }

  /** Throws unless every call ran synchronously (for runs that cannot await). */
  assertSynchronous(): void {
    if (this.tail === undefined) return;
    throw new AsyncStateMachineError(
      `node ${this.nodeId}'s state machine returned a promise from ${this.asyncCall}(): ` +
        "run the case with runCaseAsync (or Simulation.runAsync / awaitLivenessAsync)",
    );
  }

  /** Drops whatever is still chained (the node crashed: its volatile state machine is gone). */
  abandon(): void {
    this.tail?.catch(() => {});
    this.tail = undefined;
    this.outcomes = [];
  }

  private fresh(): StateMachine<unknown> {
    const sm = this.make(this.nodeId);
    const a = sm.appliedIndex();
    if (a !== 0) {
      throw this.broken(
        `a new state machine reports applied index ${a}: the simulator drives volatile state machines, ` +
          "which start empty (0) and are restored from the node's snapshot",
      );
    }
    return sm;
  }

  /**
   * Calls `f` on the state machine and hands its result to `end`: at once while everything is
   * synchronous, else chained behind the pending calls (and `end` deferred to settle). `expect` is
   * the applied index the state machine must report before the call (-1: any).
   */
  private call<T>(what: string, expect: number, f: () => MaybePromise<T>, end: (v: T) => void): void {
    if (this.tail === undefined) {
      let v: MaybePromise<T>;
      try {
        this.checkIndex(what, expect);
        v = f();
      } catch (e) {
        throw this.asViolation(what, e);
      }
      if (!isPromise(v)) {
        end(v);
        return;
      }
      this.asyncCall = what;
      this.tail = this.finish(what, v, end);
      return;
    }
    this.tail = this.tail.then(() => {
      if (this.failure !== undefined) return;
      let v: MaybePromise<T>;
      try {
        this.checkIndex(what, expect);
        v = f();
      } catch (e) {
        this.failure ??= this.asViolation(what, e);
        return;
      }
      return this.finish(what, v, end);
    });
  }

  /** Awaits a call's promise and queues its outcome (a rejection is the run's failure). */
  private async finish<T>(what: string, v: MaybePromise<T>, end: (v: T) => void): Promise<void> {
    try {
      const x = await v;
      this.outcomes.push(() => end(x));
    } catch (e) {
      this.failure ??= this.asViolation(what, e);
    }
  }

  /** Reads a snapshot's image to the end and releases it. */
  private readImage(snap: StateMachineSnapshot, expect: number): MaybePromise<Uint8Array> {
    if (snap.index !== expect) {
      snap.release();
      throw this.broken(
        `snapshot() made an image at index ${snap.index}, but the applied index is ${expect}`,
      );
    }
    let chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
    try {
      chunks = snap.read();
    } catch (e) {
      snap.release();
      throw e;
    }
    if (Symbol.iterator in chunks) {
      try {
        return concatChunks([...chunks]);
      } finally {
        snap.release();
      }
    }
    const it = chunks;
    return (async () => {
      try {
        const all: Uint8Array[] = [];
        for await (const c of it) all.push(c);
        return concatChunks(all);
      } finally {
        snap.release();
      }
    })();
  }

  private checkIndex(what: string, expect: number): void {
    if (expect < 0) return;
    const a = this.sm.appliedIndex();
    if (a !== expect) {
      throw this.broken(
        `reports applied index ${a} before ${what}(), but it was handed entries up to ${expect}`,
      );
    }
  }

  private broken(detail: string): InvariantViolation {
    return new InvariantViolation("state-machine", `node ${this.nodeId}'s state machine ${detail}`);
  }

  private asViolation(what: string, e: unknown): InvariantViolation {
    if (e instanceof InvariantViolation) return e;
    const err = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return this.broken(`threw in ${what}(): ${err}`);
  }
}
