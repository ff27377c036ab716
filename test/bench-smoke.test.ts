/**
 * The core benchmark's workload with a small N, so that a behaviour change on the replication path
 * (an extra message, a Ready more or less, a round of delay) breaks CI rather than only moving a
 * benchmark figure. `pnpm bench` itself does not run in `pnpm test`.
 *
 * The work counters must follow `expectedCounters` (derived in bench/core.ts from how entries flow
 * through the rounds), and that formula must give the reference's own counters at N = 10⁶.
 */
import { describe, expect, test } from "vitest";
import {
  CORE_CONFIGS,
  type CoreConfig,
  coreCaseId,
  expectedCounters,
  REFERENCE,
  REFERENCE_N,
  runCoreWorkload,
} from "../bench/core.js";

const cfg = (voters: number, batch: number, mode: CoreConfig["mode"]): CoreConfig => ({
  voters,
  batch,
  mode,
});

describe("core bench workload", () => {
  test("the counter formulas give etcd-io/raft's counters at N = 10^6", () => {
    for (const c of CORE_CONFIGS) {
      expect(expectedCounters(c, REFERENCE_N), coreCaseId(c)).toEqual(REFERENCE[coreCaseId(c)]!.counters);
    }
  });

  test("the formulas for N = 10^4 by hand (B = 64 leaves a last batch of 16)", () => {
    // 1 voter: P + 1 rounds and Readys; P = N/B rounded up.
    expect(expectedCounters(cfg(1, 1, "propose"), 10_000)).toEqual({
      rounds: 10_001,
      readys: 10_001,
      messages: 0,
    });
    expect(expectedCounters(cfg(1, 64, "step"), 10_000)).toEqual({ rounds: 158, readys: 158, messages: 0 });
    // 3 voters: P + 2 rounds, 3P + 4 Readys; step: 8P − 2 messages; propose: 8N − 2·last.
    expect(expectedCounters(cfg(3, 1, "propose"), 10_000)).toEqual({
      rounds: 10_002,
      readys: 30_004,
      messages: 79_998,
    });
    expect(expectedCounters(cfg(3, 64, "propose"), 10_000)).toEqual({
      rounds: 159,
      readys: 475,
      messages: 79_968,
    });
    expect(expectedCounters(cfg(3, 64, "step"), 10_000)).toEqual({
      rounds: 159,
      readys: 475,
      messages: 1_254,
    });
  });

  for (const c of CORE_CONFIGS) {
    for (const n of [10_000, 1_000 + 37]) {
      test(`${coreCaseId(c)}, N = ${n}: post-conditions hold and the counters follow the formula`, () => {
        // runCoreWorkload throws unless every node applied N and the leader's last index is N + 2.
        const cl = runCoreWorkload(c, n);
        expect(cl.counters).toEqual(expectedCounters(c, n));
        expect(cl.applied).toEqual(Array.from({ length: c.voters }, () => n));
        for (const rn of cl.nodes) expect(rn.raft.raftLog.committed).toBe(n + 2);
      });
    }
  }
});
