import { describe, expect, it } from "vitest";
import { Rng } from "../random.js";
import { FAULT_KINDS, planFault, SINGLE_NODE_FAULTS } from "./faults.js";
import { specForSeed } from "./run.js";

describe("schedules from seeds", () => {
  it("seeds 0-13 cover every fault kind on 3 nodes; 42-55 the 1-node variant", () => {
    const three = Array.from({ length: 14 }, (_, s) => specForSeed(s));
    expect(new Set(three.map((s) => s.fault))).toEqual(new Set(FAULT_KINDS));
    expect(three.every((s) => s.nodes === 3)).toBe(true);
    const one = Array.from({ length: 14 }, (_, i) => specForSeed(42 + i));
    expect(one.every((s) => s.nodes === 1 && SINGLE_NODE_FAULTS.includes(s.fault))).toBe(true);
    expect(new Set(one.map((s) => s.fault))).toEqual(new Set(SINGLE_NODE_FAULTS));
  });

  it("a plan is a pure function of its seed, within the issue's ranges", () => {
    for (const kind of FAULT_KINDS) {
      for (let seed = 0; seed < 50; seed++) {
        const p = planFault(kind, new Rng(seed));
        expect(planFault(kind, new Rng(seed))).toEqual(p);
        if (kind === "pause") expect(p.durationMs >= 1000 && p.durationMs <= 5000).toBe(true);
        if (kind.startsWith("crash") || kind === "enospc")
          expect(p.failpoints).toMatch(/^[a-z-]+=(crash|enospc)@\d+\+?$/);
        if (kind === "kill-leader") expect(p.victim).toBe("leader");
        if (kind === "kill-follower") expect(p.victim).toBe("follower");
      }
    }
  });
});
