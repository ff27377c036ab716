import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { RaftPanic } from "../logger.js";
import { Inflights } from "./inflights.js";

const SEED = 0x5eed_0002;

const state = (in_: Inflights) => ({ count: in_.count(), bytes: in_.bytes(), full: in_.full() });

describe("Inflights", () => {
  // etcd's TestInflightsAdd, observed from outside: counts and bytes as the ring fills.
  it("adds up to its size, counting messages and bytes", () => {
    const in_ = new Inflights(10, 0);
    for (let i = 0; i < 5; i++) in_.add(i, 100 + i);
    expect(state(in_)).toEqual({ count: 5, bytes: 510, full: false });
    for (let i = 5; i < 10; i++) in_.add(i, 100 + i);
    expect(state(in_)).toEqual({ count: 10, bytes: 1045, full: true });
  });

  // etcd's TestInflightFreeTo, including the wrap-around of the ring.
  it("frees every message up to an index, across the wrap of the ring", () => {
    const in_ = new Inflights(10, 0);
    for (let i = 0; i < 10; i++) in_.add(i, 100 + i);
    in_.freeLE(0);
    expect(state(in_)).toEqual({ count: 9, bytes: 945, full: false });
    in_.freeLE(4);
    expect(state(in_)).toEqual({ count: 5, bytes: 535, full: false });
    in_.freeLE(8);
    expect(state(in_)).toEqual({ count: 1, bytes: 109, full: false });
    // These land in slots 0..4, before the remaining message in slot 9.
    for (let i = 10; i < 15; i++) in_.add(i, 100 + i);
    expect(state(in_)).toEqual({ count: 6, bytes: 109 + 110 + 111 + 112 + 113 + 114, full: false });
    in_.freeLE(12);
    expect(state(in_)).toEqual({ count: 2, bytes: 227, full: false });
    in_.freeLE(14);
    expect(state(in_)).toEqual({ count: 0, bytes: 0, full: false });
  });

  it("ignores acknowledgements below the window", () => {
    const in_ = new Inflights(4, 0);
    in_.add(5, 1);
    in_.add(7, 1);
    in_.freeLE(4);
    expect(in_.count()).toBe(2);
    in_.freeLE(6);
    expect(in_.count()).toBe(1);
    in_.freeTo(7); // the older name
    expect(in_.count()).toBe(0);
  });

  // etcd's TestInflightsFull.
  it.each([
    { name: "always-full", size: 0, maxBytes: 0, fullAt: 0, freeLE: 0, againAt: 0 },
    { name: "single-entry", size: 1, maxBytes: 0, fullAt: 1, freeLE: 1, againAt: 2 },
    { name: "single-entry-overflow", size: 1, maxBytes: 10, fullAt: 1, freeLE: 1, againAt: 2 },
    { name: "multi-entry", size: 15, maxBytes: 0, fullAt: 15, freeLE: 6, againAt: 22 },
    { name: "slight-overflow", size: 8, maxBytes: 400, fullAt: 4, freeLE: 2, againAt: 7 },
    { name: "exact-max-bytes", size: 8, maxBytes: 406, fullAt: 4, freeLE: 3, againAt: 8 },
    { name: "larger-overflow", size: 15, maxBytes: 408, fullAt: 5, freeLE: 1, againAt: 6 },
  ])("full: $name", ({ size, maxBytes, fullAt, freeLE, againAt }) => {
    const in_ = new Inflights(size, maxBytes);
    const addUntilFull = (begin: number, end: number) => {
      for (let i = begin; i < end; i++) {
        expect(in_.full(), `full at ${i}, want ${end}`).toBe(false);
        in_.add(i, 100 + i);
      }
      expect(in_.full(), `not full at ${end}`).toBe(true);
    };
    addUntilFull(0, fullAt);
    in_.freeLE(freeLE);
    addUntilFull(fullAt, againAt);
    expect(() => in_.add(100, 1024)).toThrow(RaftPanic);
    expect(() => in_.add(100, 1024)).toThrow("cannot add into a Full inflights");
  });

  // etcd's TestInflightsReset: bytes must not leak across resets.
  it("reset forgets messages and bytes", () => {
    const in_ = new Inflights(10, 1000);
    let index = 0;
    for (let epoch = 0; epoch < 100; epoch++) {
      in_.reset();
      for (let i = 0; i < 5; i++) {
        expect(in_.full()).toBe(false);
        index++;
        in_.add(index, 16);
      }
      in_.freeLE(index - 2);
      expect(in_.full()).toBe(false);
      expect(in_.count()).toBe(2);
    }
    in_.freeLE(index);
    expect(in_.count()).toBe(0);
    expect(in_.bytes()).toBe(0);
  });

  it("clones into an independent copy", () => {
    const a = new Inflights(3, 0);
    a.add(1, 10);
    a.add(2, 20);
    const b = a.clone();
    b.freeLE(1);
    b.add(3, 30);
    expect(state(a)).toEqual({ count: 2, bytes: 30, full: false });
    expect(state(b)).toEqual({ count: 2, bytes: 50, full: false });
    a.add(3, 1);
    expect(a.full()).toBe(true);
    b.freeLE(3);
    expect(state(b)).toEqual({ count: 0, bytes: 0, full: false });
  });
});

describe("Inflights against a plain queue (fixed seed)", () => {
  type Op = { kind: "add"; bytes: number } | { kind: "free"; back: number } | { kind: "reset" };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.integer({ min: 0, max: 50 }).map((bytes) => ({ kind: "add" as const, bytes })),
    },
    {
      weight: 3,
      arbitrary: fc.integer({ min: -2, max: 6 }).map((back) => ({ kind: "free" as const, back })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
  );

  it("matches count, bytes and fullness after every operation", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 0, max: 120 }),
        fc.array(opArb, { maxLength: 80 }),
        (size, maxBytes, ops) => {
          const in_ = new Inflights(size, maxBytes);
          let queue: { index: number; bytes: number }[] = [];
          let last = 0;
          const full = () =>
            queue.length === size || (maxBytes !== 0 && queue.reduce((s, m) => s + m.bytes, 0) >= maxBytes);
          for (const op of ops) {
            if (op.kind === "add") {
              if (full()) {
                // Refused, and nothing changes.
                expect(() => in_.add(last + 1, op.bytes)).toThrow(RaftPanic);
              } else {
                last += 1 + (op.bytes % 3);
                in_.add(last, op.bytes);
                queue.push({ index: last, bytes: op.bytes });
              }
            } else if (op.kind === "free") {
              const to = last - op.back;
              in_.freeLE(to);
              queue = queue.filter((m) => m.index > to);
            } else {
              in_.reset();
              queue = [];
            }
            expect(state(in_)).toEqual({
              count: queue.length,
              bytes: queue.reduce((s, m) => s + m.bytes, 0),
              full: full(),
            });
          }
        },
      ),
      { seed: SEED, numRuns: runs(1000) },
    );
  });
});
