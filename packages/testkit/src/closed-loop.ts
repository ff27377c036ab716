/**
 * The one closed-loop load generator: `clients` independent clients, each starting its next
 * operation only once its previous one has finished (and an optional pause after it), until the
 * time is up, a condition holds, or the caller stops them. The bench (bench/loadgen.ts) measures
 * with it, the chaos runner (packages/chaos/src/runner/workload.ts) records a history with it: what
 * an operation is and what is kept of it is theirs; how the clients loop and end is here.
 */

/**
 * One client's next operation: runs operation number `seq` (0, 1, ... for this client) and resolves
 * with the pause in ms before the client's next one (0 or undefined: none). It must not reject: an
 * operation's failure is an outcome for the caller to count, not a reason to stop the client.
 */
export type ClientStep = (seq: number) => Promise<number | undefined>;

/** Options of {@link runClosedLoop}. */
export interface ClosedLoopOptions {
  readonly clients: number;
  /**
   * Makes client `index`'s step, with whatever state the client keeps between operations; called
   * once per client, in index order, before any operation starts.
   */
  readonly client: (index: number) => ClientStep;
  /** Ends each client before its next operation once this much time has passed since the start. */
  readonly durationMs?: number | undefined;
  /** Ends each client before its next operation once this returns true. */
  readonly until?: (() => boolean) | undefined;
}

/** The running clients of {@link runClosedLoop}. */
export interface ClosedLoop {
  /**
   * Resolves once every client has ended, with the number of operations each one started (an
   * operation in flight when the loop ends is awaited, and counted).
   */
  readonly finished: Promise<number[]>;
  /** Ends every client before its next operation, then resolves as {@link finished} does. */
  stop(): Promise<number[]>;
}

/**
 * Starts the clients of `o`; each runs `step(0)`, its pause, `step(1)`, ... while none of the end
 * conditions (duration, `until`, {@link ClosedLoop.stop}) holds, checked before each operation.
 */
export function runClosedLoop(o: ClosedLoopOptions): ClosedLoop {
  const steps = Array.from({ length: o.clients }, (_, c) => o.client(c));
  const end = o.durationMs === undefined ? Number.POSITIVE_INFINITY : performance.now() + o.durationMs;
  let stopped = false;
  const goOn = (): boolean => !stopped && performance.now() < end && !(o.until?.() ?? false);
  const run = async (step: ClientStep): Promise<number> => {
    let seq = 0;
    while (goOn()) {
      const pauseMs = await step(seq++);
      if (pauseMs !== undefined && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
    return seq;
  };
  const finished = Promise.all(steps.map(run));
  return {
    finished,
    stop: () => {
      stopped = true;
      return finished;
    },
  };
}
