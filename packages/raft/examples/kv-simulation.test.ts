// Property-test a replicated key-value store on a simulated three-node cluster: whatever the faults
// (lost, duplicated, reordered and delayed messages, partitions, paused nodes, crashes with torn
// writes, clock skew), Raft's safety properties hold after every step, and once every fault heals
// all the nodes end up with the same store.

import { formatFailure, KvStateMachine, runCase } from "@tsraft/raft/rafttest";
import { simCaseArbitrary } from "@tsraft/raft/rafttest/fast-check";
import fc from "fast-check";
import { expect, it } from "vitest";

it("the KV store converges on every node, whatever the faults", () => {
  const cases = simCaseArbitrary(fc, {
    nodes: 3,
    steps: 500,
    // Your state machine's commands, drawn from the case's seeded generator.
    command: (rng) => (rng.chance(0.8) ? `put k${rng.int(4)} v${rng.int(100)}` : `del k${rng.int(4)}`),
  });
  const options = { stateMachine: () => new KvStateMachine() };
  fc.assert(
    fc.property(cases, (c) => {
      // Runs the schedule, checking every invariant after every step; then heals every fault and
      // waits until a leader commits a new entry that every member applies.
      const run = runCase(c, options);
      if (run.violation) throw new Error(formatFailure(run, { runOptions: options }));
      const stores = run.sim.members().map((id) => run.sim.stateMachine<KvStateMachine>(id).toJSON());
      expect(stores.length).toBeGreaterThan(1);
      for (const store of stores) expect(store).toEqual(stores[0]);
    }),
    { seed: 42, numRuns: 50 },
  );
});
