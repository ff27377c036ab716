/**
 * A small seeded pseudo-random source (splitmix32), so that every schedule — generated histories,
 * fault choices, client workloads — replays exactly from its seed.
 */

/** A deterministic random stream. */
export class Rng {
  private x: number;

  constructor(seed: number) {
    this.x = seed | 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.x = (this.x + 0x9e3779b9) | 0;
    let z = this.x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** A uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Rng.pick: empty array");
    return items[Math.floor(this.float() * items.length)]!;
  }

  /** An independent stream derived from this one (for a sub-task that must not shift the parent's). */
  fork(): Rng {
    return new Rng(this.nextU32());
  }
}
