/**
 * tsraft's one seeded pseudo-random generator (sfc32, seeded through splitmix32): the core's default
 * `Config.random` ({@link newRandom}), the simulator's schedules and nodes, the chaos runner's fault
 * plans and workloads, the linearizability checker's hash keys, and the tests' generated data all
 * draw from it. Pure integer arithmetic, so the same seed yields the same stream in Node and in a
 * browser, on every platform: a run replays bit for bit from its seed. Not for cryptography.
 */

/** Mixes integers (any safe integers) into one 32-bit seed (splitmix32 over each part). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    // Fold the part's high bits into the low 32 so that large seeds keep their entropy.
    h = splitmix32(h ^ (p >>> 0) ^ Math.floor(p / 0x100000000));
  }
  return h >>> 0;
}

function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seeded pseudo-random generator (sfc32: small, fast, passes PractRand to 2^40+ bytes). Not for
 * cryptography. Two generators built from the same seed produce the same numbers.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for `seed` (any safe integer); `stream` picks an independent stream of that seed. */
  constructor(seed: number, stream = 0) {
    this.a = mixSeed(seed, stream, 1);
    this.b = mixSeed(seed, stream, 2);
    this.c = mixSeed(seed, stream, 3);
    this.d = 1;
    // Discard the first outputs, as sfc32's authors recommend.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** The next 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A number in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n); 0 if n <= 0. */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** An element of a non-empty array. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from an empty array");
    return xs[this.int(xs.length)]!;
  }

  /** An index drawn with probability proportional to `weights[i]` (all >= 0, not all 0). */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let x = this.float() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    // Rounding: the last index with a positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
    throw new Error("weighted: all weights are zero");
  }

  /**
   * A geometric count >= 0 with the given mean (small values likely, long tails possible), capped
   * at `max`. Drawn by repeated trials rather than with Math.log, whose last bits may differ between
   * JavaScript engines.
   */
  geometric(mean: number, max = 1000): number {
    if (mean <= 0) return 0;
    const p = mean / (mean + 1);
    let n = 0;
    while (n < max && this.chance(p)) n++;
    return n;
  }

  /** A `[0, 1)` function drawing from this generator (the shape of `Config.random`). */
  asRandom(): () => number {
    return () => this.float();
  }
}

/**
 * A seeded source of numbers in [0, 1), the shape of `Config.random`: a {@link Prng}'s `float()`.
 * The core uses one, seeded from the node id, when the caller gives none, so that a run is
 * reproducible: the same seed always yields the same election timeouts.
 */
export function newRandom(seed: number): () => number {
  return new Prng(seed).asRandom();
}
