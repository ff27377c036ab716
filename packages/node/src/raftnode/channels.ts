/**
 * The few concurrency primitives the node's two loops share (etcd's channels and wait.WaitTime): a
 * deferred promise, a stop signal the loops' waits race against, a wake-up signal for a loop that
 * waits for work, a FIFO from the Ready loop to the apply loop, and waiters for the applied index.
 */

/** A promise with its settle functions. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * A new deferred. Its promise never reports an unhandled rejection: loops race it against the
 * stop signal and may legitimately leave a rejected one unobserved.
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Lets waits end early when the node stops (Go's `select` on a done channel). Not
 * `Promise.race([p, stopped])`: every race leaves a reaction on the never-settling `stopped`
 * promise, and each holds the value its `p` resolved with — a Ready's entries, a whole proposal —
 * so a node that ran for a while held every entry it ever handled (issue 13's growth bench found it:
 * ~1 MiB of memory per MiB written). Here a wait registers its reject function only while it waits.
 */
export class StopSignal {
  private readonly waiting = new Set<(err: unknown) => void>();
  private err: unknown;
  private stopped = false;

  /** Settles as `p` does, or rejects with the stop error once `stop` is called (at once if it was). */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(this.err);
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      p.then(
        (v) => {
          this.waiting.delete(reject);
          resolve(v);
        },
        (e: unknown) => {
          this.waiting.delete(reject);
          reject(e);
        },
      );
    });
  }

  /** Rejects every wait, now and later, with `err`. */
  stop(err: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.err = err;
    for (const reject of [...this.waiting]) reject(err);
    this.waiting.clear();
  }
}

/**
 * Wakes a loop that waits for work. `kick` never blocks and is never lost: a kick while the loop
 * is busy makes its next `wait` return at once. One waiter at a time.
 */
export class Wakeup {
  private pending = false;
  private waiter: Deferred<void> | undefined;

  kick(): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve();
    } else {
      this.pending = true;
    }
  }

  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return RESOLVED;
    }
    this.waiter ??= deferred();
    return this.waiter.promise;
  }
}

/**
 * A FIFO from one producer loop to one consumer loop. `push` never waits (the producer applies
 * backpressure itself by waiting for {@link drainedTo}); `shift` waits while the queue is empty and
 * returns undefined once it is closed.
 */
export class TaskQueue<T> {
  private readonly items: T[] = [];
  private readonly notEmpty = new Wakeup();
  private readonly shrunk = new Wakeup();
  private closed = false;

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.notEmpty.kick();
  }

  async shift(): Promise<T | undefined> {
    while (this.items.length === 0 && !this.closed) await this.notEmpty.wait();
    if (this.closed) return undefined;
    const item = this.items.shift();
    this.shrunk.kick();
    return item;
  }

  /** Resolves once at most `n` items wait (or the queue is closed). One caller at a time. */
  async drainedTo(n: number): Promise<void> {
    while (this.items.length > n && !this.closed) await this.shrunk.wait();
  }

  /** Ends the queue: pending and later `shift`s return undefined. */
  close(): void {
    this.closed = true;
    this.items.length = 0;
    this.notEmpty.kick();
    this.shrunk.kick();
  }
}

/**
 * Callbacks waiting for a monotonically increasing index (the applied index) to reach a value
 * (etcd's wait.WaitTime). `trigger(i)` runs, in index order, every callback waiting for ≤ i.
 */
export class IndexWaiters {
  private reached = 0;
  /** Sorted by index; equal indexes keep their arrival order. */
  private waiting: { index: number; fn: () => void }[] = [];

  /** The highest index triggered so far. */
  get index(): number {
    return this.reached;
  }

  /** Runs `fn` once the index reaches `index` (at once, synchronously, if it has). */
  wait(index: number, fn: () => void): void {
    if (index <= this.reached) {
      fn();
      return;
    }
    let at = this.waiting.length;
    while (at > 0 && this.waiting[at - 1]!.index > index) at--;
    this.waiting.splice(at, 0, { index, fn });
  }

  trigger(index: number): void {
    if (index <= this.reached) return;
    this.reached = index;
    let n = 0;
    while (n < this.waiting.length && this.waiting[n]!.index <= index) n++;
    if (n === 0) return;
    for (const w of this.waiting.splice(0, n)) w.fn();
  }
}
