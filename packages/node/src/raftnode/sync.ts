/**
 * The few concurrency primitives the node's loops share: a deferred promise, a wake-up signal for
 * a loop that waits for work, and a bounded FIFO between two loops (etcd's channels).
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

/** An already resolved promise (for jobs whose precondition holds at once). */
export const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Wakes a loop that waits for work. `kick` never blocks and is never lost: a kick while the loop
 * is busy makes its next `wait` return at once.
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
 * A FIFO with a capacity between a producer loop and a consumer loop. `push` waits while the queue
 * is full (backpressure, like a buffered Go channel); `shift` waits while it is empty. `close`
 * wakes both: `shift` then returns undefined, and `push` drops.
 */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private readonly notEmpty = new Wakeup();
  private readonly notFull = new Wakeup();
  private closed = false;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length;
  }

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) await this.notFull.wait();
    if (this.closed) return;
    this.items.push(item);
    this.notEmpty.kick();
  }

  async shift(): Promise<T | undefined> {
    while (this.items.length === 0 && !this.closed) await this.notEmpty.wait();
    if (this.closed) return undefined;
    const item = this.items.shift();
    this.notFull.kick();
    return item;
  }

  /** Ends the queue: pending and later `shift`s return undefined; the items left are returned. */
  close(): T[] {
    this.closed = true;
    this.notEmpty.kick();
    this.notFull.kick();
    return this.items.splice(0);
  }
}
