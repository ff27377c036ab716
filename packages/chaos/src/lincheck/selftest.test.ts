import { describe, expect, it } from "vitest";
import { Rng } from "../random.js";
import { checkOperations } from "./checker.js";
import { generateKvHistory, MUTATION_KINDS, mutateKvHistory } from "./generate.js";
import { kvModel } from "./kv-model.js";
import { UNKNOWN_RETURN } from "./model.js";
import { describeResult } from "./report.js";

// The checker's self-test (issue acceptance): valid 10k-operation histories of 10 keys and 16 clients
// pass in under 5 s; each of the four planted bugs is flagged. Seeds are fixed; TSRAFT_LINCHECK_SEEDS
// raises how many are tried.
const SEEDS = Array.from({ length: Number(process.env.TSRAFT_LINCHECK_SEEDS ?? 3) }, (_, i) => 1000 + i);
const SHAPE = { operations: 10_000, keys: 10, clients: 16 };

describe("checker self-test on simulated linearizable stores", () => {
  it.each(SEEDS)("seed %i: a valid 10k-op history passes in < 5 s", (seed) => {
    const gen = generateKvHistory({ seed, ...SHAPE });
    const r = checkOperations(kvModel, gen.history, { timeoutMs: 5_000 });
    if (r.outcome !== "ok") console.log(describeResult(kvModel, r));
    expect(r.outcome).toBe("ok");
    expect(r.elapsedMs).toBeLessThan(5_000);
    expect(r.partitions).toHaveLength(10);
  });

  it.each(SEEDS)("seed %i: a valid history with 0.5%% ambiguous operations passes", (seed) => {
    const gen = generateKvHistory({ seed, ...SHAPE, ambiguous: 0.005 });
    expect(gen.history.filter((o) => o.return === UNKNOWN_RETURN).length).toBeGreaterThan(20);
    const r = checkOperations(kvModel, gen.history, { timeoutMs: 5_000 });
    if (r.outcome !== "ok") console.log(describeResult(kvModel, r));
    expect(r.outcome).toBe("ok");
  });

  for (const kind of MUTATION_KINDS) {
    it.each(SEEDS)(`seed %i: ${kind} is flagged`, (seed) => {
      const gen = generateKvHistory({ seed, ...SHAPE });
      const m = mutateKvHistory(gen, kind, new Rng(seed));
      expect(m, "the generator left no site for this mutation").toBeDefined();
      const r = checkOperations(kvModel, m!.history, { timeoutMs: 10_000 });
      expect(r.outcome, m!.description).toBe("illegal");
      // The failing partition is the mutated key.
      const key = m!.history[m!.changed[0]!]!.input.key;
      expect(r.partitions.filter((p) => p.outcome === "illegal").map((p) => p.name)).toEqual([key]);
    });
  }

  it("a mutation changes outputs only, never inputs or times", () => {
    const gen = generateKvHistory({ seed: 7, ...SHAPE });
    for (const kind of MUTATION_KINDS) {
      const m = mutateKvHistory(gen, kind, new Rng(7))!;
      expect(m.changed.length).toBeGreaterThan(0);
      m.history.forEach((op, i) => {
        const orig = gen.history[i]!;
        expect([op.input, op.call, op.return]).toEqual([orig.input, orig.call, orig.return]);
        expect(op.output !== orig.output).toBe(m.changed.includes(i));
      });
    }
  });
});
