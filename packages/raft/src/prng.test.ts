import { describe, expect, it } from "vitest";
import { mixSeed, newRandom, Prng } from "./prng.js";

const take = (p: Prng, n: number) => Array.from({ length: n }, () => p.u32());

describe("Prng", () => {
  it("is a pure function of (seed, stream)", () => {
    expect(take(new Prng(42), 100)).toEqual(take(new Prng(42), 100));
    expect(take(new Prng(42), 10)).not.toEqual(take(new Prng(43), 10));
    expect(take(new Prng(42, 1), 10)).not.toEqual(take(new Prng(42, 0), 10));
    // Large seeds keep their high bits.
    expect(take(new Prng(2 ** 40), 10)).not.toEqual(take(new Prng(0), 10));
  });

  it("is sfc32 seeded by splitmix32, as a BigInt reference implementation computes it", () => {
    // The reference: the same algorithms written with BigInt arithmetic mod 2^32, independently of
    // the Math.imul / |0 tricks of the implementation.
    const M = (1n << 32n) - 1n;
    const mul = (a: bigint, b: bigint) => (a * b) & M;
    const splitmix = (x: bigint): bigint => {
      let z = (x + 0x9e3779b9n) & M;
      z = mul(z ^ (z >> 16n), 0x85ebca6bn);
      z = mul(z ^ (z >> 13n), 0xc2b2ae35n);
      return z ^ (z >> 16n);
    };
    const mix = (...parts: number[]): bigint => {
      let h = 0x9e3779b9n;
      for (const p of parts) h = splitmix(h ^ (BigInt(p >>> 0) ^ BigInt(Math.floor(p / 2 ** 32))));
      return h;
    };
    const ref = (seed: number, stream: number, n: number): number[] => {
      let [a, b, c, d] = [mix(seed, stream, 1), mix(seed, stream, 2), mix(seed, stream, 3), 1n];
      const next = (): bigint => {
        const t = (a + b + d) & M;
        d = (d + 1n) & M;
        a = b ^ (b >> 9n);
        b = (c + (c << 3n)) & M;
        c = ((c << 21n) | (c >> 11n)) & M;
        c = (c + t) & M;
        return t;
      };
      for (let i = 0; i < 12; i++) next();
      return Array.from({ length: n }, () => Number(next()));
    };
    for (const [seed, stream] of [
      [0, 0],
      [7, 0],
      [7, 1],
      [2 ** 40 + 5, 3],
    ] as const) {
      expect(take(new Prng(seed, stream), 50)).toEqual(ref(seed, stream, 50));
    }
  });

  it("mixSeed folds several numbers into one seed, order and high bits included", () => {
    expect(mixSeed(1, 2, 3)).toBe(mixSeed(1, 2, 3));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(3, 2, 1));
    expect(mixSeed(2 ** 40)).not.toBe(mixSeed(0));
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(mixSeed(7, i));
    expect(seen.size).toBe(1000);
  });

  it("draws in range, roughly uniformly", () => {
    const p = new Prng(9);
    const counts = [0, 0, 0, 0];
    let inRange = true;
    for (let i = 0; i < 40_000; i++) {
      const f = p.float();
      counts[p.int(4)]!++;
      const r = p.range(3, 5);
      inRange &&= f >= 0 && f < 1 && r >= 3 && r <= 5 && Number.isInteger(r);
    }
    expect(inRange).toBe(true);
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(p.int(0)).toBe(0);
  });

  it("chance, weighted and geometric follow their parameters", () => {
    const p = new Prng(3);
    let yes = 0;
    const w = [0, 0, 0];
    let geo = 0;
    let capped = true;
    for (let i = 0; i < 20_000; i++) {
      if (p.chance(0.25)) yes++;
      w[p.weighted([1, 0, 3])]!++;
      const g = p.geometric(3, 10);
      capped &&= g >= 0 && g <= 10;
      geo += p.geometric(2);
    }
    expect(capped).toBe(true);
    expect(Math.abs(yes / 20_000 - 0.25)).toBeLessThan(0.02);
    expect(w[1]).toBe(0);
    expect(Math.abs(w[2]! / 20_000 - 0.75)).toBeLessThan(0.02);
    expect(Math.abs(geo / 20_000 - 2)).toBeLessThan(0.15);
    expect(() => p.weighted([0, 0])).toThrow();
    expect(() => p.pick([])).toThrow();
  });
});

describe("newRandom", () => {
  it("is a Prng's float stream for the same seed", () => {
    const r = newRandom(2 ** 40 + 5);
    const p = new Prng(2 ** 40 + 5);
    expect(Array.from({ length: 20 }, () => r())).toEqual(Array.from({ length: 20 }, () => p.float()));
  });

  it("is reproducible per seed and stays in [0, 1)", () => {
    const a = newRandom(7);
    const b = newRandom(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    const c = newRandom(8);
    expect(Array.from({ length: 10 }, () => c())).not.toEqual(xs.slice(0, 10));
  });

  it("spreads election timeouts evenly enough", () => {
    const r = newRandom(1);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) counts[Math.floor(r() * 10)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    // Seeds beyond 32 bits are not folded onto smaller ones.
    expect(newRandom(2 ** 40 + 1)()).not.toBe(newRandom(1)());
  });
});
