/**
 * A FIFO bounded both in items and in bytes, the per-peer send queue. `push` refuses an item rather
 * than grow past either limit, so a slow or stuck peer costs at most `maxItems` items and `maxBytes`
 * bytes (as the caller sizes them). Invariant: 0 ≤ length ≤ maxItems and 0 ≤ bytes ≤ maxBytes.
 */
export class BoundedQueue<T> {
  private items: (T | undefined)[] = [];
  private sizes: number[] = [];
  /** Index of the oldest item in `items`. */
  private head = 0;
  private total = 0;

  constructor(
    readonly maxItems: number,
    readonly maxBytes: number,
  ) {}

  /** Items queued. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Bytes queued (the sum of the sizes given to `push`). */
  get bytes(): number {
    return this.total;
  }

  /** Appends `item` of `size` bytes; returns false (and keeps nothing) if either limit would be exceeded. */
  push(item: T, size: number): boolean {
    if (this.length >= this.maxItems || this.total + size > this.maxBytes) return false;
    this.items.push(item);
    this.sizes.push(size);
    this.total += size;
    return true;
  }

  /**
   * Removes and returns the oldest items whose sizes sum to at most `byteLimit` — but always at least
   * one item when any is queued, so an item larger than the limit still leaves the queue.
   */
  shiftBatch(byteLimit: number): T[] {
    const out: T[] = [];
    let sum = 0;
    while (this.head < this.items.length) {
      const size = this.sizes[this.head]!;
      if (out.length > 0 && sum + size > byteLimit) break;
      out.push(this.items[this.head] as T);
      this.items[this.head] = undefined; // let the message be collected once sent
      this.head++;
      sum += size;
    }
    this.total -= sum;
    this.compact();
    return out;
  }

  /** Empties the queue; returns how many items were dropped. */
  clear(): number {
    const n = this.length;
    this.items = [];
    this.sizes = [];
    this.head = 0;
    this.total = 0;
    return n;
  }

  /** Drops the consumed prefix once it is at least half the array (amortized O(1) per item). */
  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.sizes = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }
}
