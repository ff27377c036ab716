/**
 * The chaos runner's view of tsraft's one seeded generator (`Prng`, packages/raft/src/prng.ts), so
 * that every schedule — generated histories, fault choices, client workloads — replays exactly from
 * its seed. A thin adapter: the API the runner was written against (inclusive integer ranges,
 * `fork`), no generator of its own.
 */
import { Prng } from "@tsraft/raft";

/** A deterministic random stream. */
export class Rng {
  private readonly p: Prng;

  constructor(seed: number) {
    this.p = new Prng(seed);
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    return this.p.u32();
  }

  /** A uniform float in [0, 1). */
  float(): number {
    return this.p.float();
  }

  /** A uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return this.p.range(lo, hi);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.p.chance(p);
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return this.p.pick(items);
  }

  /** An independent stream derived from this one (for a sub-task that must not shift the parent's). */
  fork(): Rng {
    return new Rng(this.p.u32());
  }
}
