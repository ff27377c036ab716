import { RaftPanic } from "../logger.js";

/** The buffers hold log indexes and byte sizes: safe integers, exact in a Float64Array. */
const EMPTY = new Float64Array(0);

/**
 * Flow control for one follower in StateReplicate: the MsgApps sent to it and not yet acknowledged,
 * each remembered by the index of its last entry and its payload size. The leader checks
 * {@link Inflights.full} before sending, calls {@link Inflights.add} for every MsgApp it sends (with
 * increasing indexes), and {@link Inflights.freeLE} when the follower acknowledges an index.
 *
 * Two limits: `size` messages and, unless `maxBytes` is 0, `maxBytes` bytes. The byte limit is soft:
 * one message may take the total from below the limit to above it.
 *
 * The ring buffer grows on demand (doubling, up to `size`) rather than being allocated up front, as
 * a process may host thousands of Raft groups whose followers mostly sit idle.
 */
export class Inflights {
  /** The most messages in flight at once. */
  readonly size: number;
  /** The most bytes in flight at once (soft: see the class comment); 0 means no byte limit. */
  readonly maxBytes: number;
  /** Invariant: 0 <= #start < max(#capacity, 1); 0 whenever #count is 0. */
  #start = 0;
  /** Invariant: 0 <= #count <= size. */
  #count = 0;
  /** Invariant: the sum of the sizes of the #count messages in flight. */
  #bytes = 0;
  /** Last entry index of each message in flight, a ring from #start. Invariant: increasing. */
  #index: Float64Array = EMPTY;
  /** Payload size of each message in flight, parallel to #index. */
  #sizes: Float64Array = EMPTY;

  /** Allows `size` messages and (if `maxBytes` > 0) `maxBytes` bytes in flight. */
  constructor(size: number, maxBytes: number) {
    this.size = size;
    this.maxBytes = maxBytes;
  }

  /** An Inflights with the same limits and contents that shares no memory with this one. */
  clone(): Inflights {
    const c = new Inflights(this.size, this.maxBytes);
    c.#start = this.#start;
    c.#count = this.#count;
    c.#bytes = this.#bytes;
    c.#index = this.#index.slice();
    c.#sizes = this.#sizes.slice();
    return c;
  }

  /**
   * Records a MsgApp whose last entry is `index` and whose entries take `bytes`. Call
   * {@link Inflights.full} first: adding to a full Inflights is a bug and throws a RaftPanic.
   * Indexes must increase from one call to the next.
   */
  add(index: number, bytes: number): void {
    if (this.full()) throw new RaftPanic("cannot add into a Full inflights");
    let next = this.#start + this.#count;
    if (next >= this.size) next -= this.size;
    if (next >= this.#index.length) this.#grow();
    this.#index[next] = index;
    this.#sizes[next] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  /**
   * Doubles the buffer (to 1 if empty), never past `size`. Slots keep their positions: the ring wraps
   * modulo `size`, not the current capacity, so every message in flight already sits below it.
   */
  #grow(): void {
    const cap = this.#index.length === 0 ? 1 : Math.min(this.#index.length * 2, this.size);
    const index = new Float64Array(cap);
    const sizes = new Float64Array(cap);
    index.set(this.#index);
    sizes.set(this.#sizes);
    this.#index = index;
    this.#sizes = sizes;
  }

  /** Frees every message whose last index is <= `to` (the follower acknowledged `to`). */
  freeLE(to: number): void {
    if (this.#count === 0 || to < this.#index[this.#start]!) return;
    let idx = this.#start;
    let freed = 0;
    let bytes = 0;
    while (freed < this.#count && this.#index[idx]! <= to) {
      bytes += this.#sizes[idx]!;
      freed++;
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.#count -= freed;
    this.#bytes -= bytes;
    // Once empty, restart at 0 so that the buffer does not grow needlessly.
    this.#start = this.#count === 0 ? 0 : idx;
  }

  /** The name older etcd versions used for {@link Inflights.freeLE}; same behaviour. */
  freeTo(to: number): void {
    this.freeLE(to);
  }

  /** True if no more MsgApp may be sent now: the count or the byte limit is reached. */
  full(): boolean {
    return this.#count === this.size || (this.maxBytes !== 0 && this.#bytes >= this.maxBytes);
  }

  /** The number of messages in flight. */
  count(): number {
    return this.#count;
  }

  /** The total payload bytes in flight. */
  bytes(): number {
    return this.#bytes;
  }

  /** Forgets every message in flight (the follower's state was reset). */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }
}
