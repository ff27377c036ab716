/**
 * The seeded generator, the shrinker and the fast-check arbitrary of whole cases.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { simCaseArbitrary } from "./arbitraries.js";
import { generateCase } from "./generator.js";
import { formatSeedSpec, parseReplaySpec, runCase } from "./runner.js";
import { type Action, formatAction, formatCase, type SimCase } from "./schedule.js";
import { shrinkCase } from "./shrink.js";

const SEED = 20250608;
const FAULTS = new Set([
  "drop",
  "dup",
  "crash",
  "crashLeader",
  "isolateLeader",
  "pause",
  "partition",
  "cut",
  "skew",
  "replay",
  "disk",
  "splitJoint",
]);

describe("generateCase", () => {
  it("is a pure function of the seed and options", () => {
    expect(formatCase(generateCase(5))).toBe(formatCase(generateCase(5)));
    expect(formatCase(generateCase(5))).not.toBe(formatCase(generateCase(6)));
    const c = generateCase(9, { steps: 300, nodes: 5, options: { preVote: true, maxInflightMsgs: 2 } });
    expect(c.schedule.length).toBe(300);
    expect(c.cluster.nodes).toBe(5);
    expect(c.options.preVote).toBe(true);
    expect(c.options.maxInflightMsgs).toBe(2);
    expect(generateCase(9, { command: (rng, n) => `put k${rng.int(3)} ${n}` }).schedule).toContainEqual(
      expect.objectContaining({ kind: "propose", data: expect.stringMatching(/^put k[0-2] \d+$/) }),
    );
  });

  it("varies clusters, options and fault mixes across seeds (swarm testing); noFaults has none", () => {
    const cases = Array.from({ length: 200 }, (_, i) => generateCase(i, { steps: 400 }));
    const kinds = new Set(cases.flatMap((c) => c.schedule.map((a) => a.kind)));
    for (const k of ["tick", "deliver", "sync", "propose", "confChange", "read", "snapshot", "transfer"]) {
      expect(kinds.has(k as Action["kind"]), k).toBe(true);
    }
    for (const k of FAULTS) expect(kinds.has(k as Action["kind"]), k).toBe(true);
    // Held links, late snapshots and the episodes' targeted actions are drawn too.
    const texts = new Set(cases.flatMap((c) => c.schedule.map(formatAction)));
    for (const re of [
      / hold$/,
      /^replay snap \d+ to \d+$/,
      /^isolate leader with \d+$/,
      /^read (leader|isolated)$/,
    ]) {
      expect(
        [...texts].some((t) => re.test(t)),
        String(re),
      ).toBe(true);
    }
    const count = (p: (c: SimCase) => boolean) => cases.filter(p).length;
    expect(count((c) => c.cluster.nodes === 3)).toBeGreaterThan(50);
    expect(count((c) => c.cluster.learners.length > 0)).toBeGreaterThan(20);
    expect(count((c) => c.options.asyncStorageWrites)).toBeGreaterThan(40);
    expect(count((c) => c.options.leaseReads && c.options.checkQuorum)).toBeGreaterThan(10);
    expect(count((c) => c.options.leaseReads && !c.options.checkQuorum)).toBe(0);
    // Some cases crash nothing at all, some crash a lot.
    const crashes = cases.map(
      (c) => c.schedule.filter((a) => a.kind === "crash" || a.kind === "crashLeader").length,
    );
    expect(Math.min(...crashes)).toBe(0);
    expect(Math.max(...crashes)).toBeGreaterThan(2);
    const calm = Array.from({ length: 30 }, (_, i) => generateCase(i, { steps: 300, noFaults: true }));
    expect(calm.flatMap((c) => c.schedule).filter((a) => FAULTS.has(a.kind))).toEqual([]);
  });

  it("seed specs name a generated case", () => {
    const gen = { nodes: 3, steps: 100, broken: ["apply-before-commit" as const] };
    const spec = formatSeedSpec(77, gen);
    expect(spec).toBe("seed:77,nodes=3,steps=100,broken=apply-before-commit");
    expect(parseReplaySpec(spec)).toEqual(generateCase(77, gen));
    expect(parseReplaySpec("seed:8,nofaults")).toEqual(generateCase(8, { noFaults: true }));
    expect(() => parseReplaySpec("seed:x")).toThrow();
    expect(() => parseReplaySpec("seed:1,turbo=1")).toThrow();
  });
});

describe("shrinkCase", () => {
  const c = generateCase(3, { steps: 64 });

  it("first cuts after the failing step, then tries options off, then removes chunks, then simplifies", () => {
    const cands = [...shrinkCase(c, 20)];
    expect(cands[0]!.schedule).toEqual(c.schedule.slice(0, 20));
    expect(cands.every((x) => x.seed === c.seed && x.cluster === c.cluster)).toBe(true);
    const removals = cands.filter((x) => x.schedule.length < c.schedule.length && x.options === c.options);
    expect(removals.map((x) => x.schedule.length)).toContain(32);
    expect(removals.map((x) => x.schedule.length)).toContain(63);
    expect([...shrinkCase(c)].some((x) => x.schedule.length === 20)).toBe(false);
  });

  it("reaches a minimal schedule under fast-check: here, the one crash with a torn write", () => {
    // A property that fails as soon as a schedule crashes a node keeping part of a write.
    const torn = (x: SimCase) => x.schedule.some((a) => a.kind === "crash" && a.torn > 0);
    const r = fc.check(
      fc.property(simCaseArbitrary(fc, { steps: 400 }), (x) => !torn(x)),
      { seed: SEED, numRuns: 200 },
    );
    expect(r.failed).toBe(true);
    const min = r.counterexample![0];
    expect(min.schedule.length).toBe(1);
    expect(min.schedule[0]).toMatchObject({ kind: "crash", torn: 1 });
    // fast-check prints a case as its one-line text.
    expect(fc.stringify(min)).toMatch(/^sim seed=\d+ nodes=\d .*; crash \d torn=1$/);
  });

  it("shrinks a real violation to a short replayable schedule", () => {
    const r = fc.check(
      fc.property(
        simCaseArbitrary(fc, { broken: ["apply-before-commit"], maxShrinkRuns: 200 }),
        (x) => runCase(x).violation === undefined,
      ),
      { seed: SEED, numRuns: 5 },
    );
    expect(r.failed).toBe(true);
    const min = r.counterexample![0];
    expect(min.schedule.length).toBeLessThan(10);
    expect(runCase(min).violation?.invariant).toBe("state-machine-safety");
  });
});
