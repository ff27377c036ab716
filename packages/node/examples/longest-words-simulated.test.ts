// The same LongestWords class, property-tested on a simulated three-node cluster: whatever the
// faults (lost, duplicated and reordered messages, partitions, crashes, restarts that restore it from
// a snapshot), every member ends with the same three longest words.
import { formatFailure, runCaseAsync } from "@tsraft/raft/rafttest";
import { simCaseArbitrary } from "@tsraft/raft/rafttest/fast-check";
import fc from "fast-check";
import { expect, it } from "vitest";
import { LongestWords } from "./longest-words.js";

const WORDS = ["raft", "paxos", "quorum", "leader", "follower", "candidate", "term", "log", "commit"];

it("every member ends with the same three longest words", async () => {
  const cases = simCaseArbitrary(fc, {
    nodes: 3,
    steps: 400,
    command: (rng) => WORDS[rng.int(WORDS.length)]!,
  });
  const options = { stateMachine: () => new LongestWords() };
  await fc.assert(
    fc.asyncProperty(cases, async (c) => {
      const run = await runCaseAsync(c, options); // restore() is async: the async runner
      if (run.violation) throw new Error(formatFailure(run, { runOptions: options }));
      const tops = run.sim.members().map((id) => run.sim.stateMachine<LongestWords>(id).top());
      for (const top of tops) expect(top).toEqual(tops[0]);
    }),
    { seed: 7, numRuns: 30 },
  );
});
