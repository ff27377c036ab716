/**
 * Replaying a simulation run, in one command from the repository root:
 *
 *     TSRAFT_SIM_REPLAY='<case>' corepack pnpm test test/sim/replay
 *
 * where `<case>` is what a failure prints: the one-line case (`sim seed=... ; tick; deliver 0; ...`),
 * a seed spec (`seed:123,nodes=3,broken=...`: the generator rebuilds the case), or `@file` (a
 * case's text, one action per line). It prints the transcript and fails with the report if an
 * invariant breaks.
 *
 * Without TSRAFT_SIM_REPLAY, this file tests that replays are exact — a recorded run and its replay
 * produce the same transcript, character for character — and that the printed command works.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { GenerateOptions, SimCase } from "../../packages/raft/src/rafttest/index.js";
import {
  formatCase,
  formatCaseOneLine,
  formatFailure,
  formatSeedSpec,
  generateCase,
  parseCase,
  parseReplaySpec,
  REPLAY_TEST,
  replayCommand,
  runCase,
} from "../../packages/raft/src/rafttest/index.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SPEC = process.env.TSRAFT_SIM_REPLAY ?? "";

if (SPEC !== "") {
  describe("replay", () => {
    it("the case in TSRAFT_SIM_REPLAY", () => {
      const c = parseReplaySpec(SPEC.startsWith("@") ? readFileSync(SPEC.slice(1), "utf8") : SPEC);
      const run = runCase(c, { trace: true });
      console.log(`${formatCase(c)}\n\n${run.transcript}`);
      if (run.violation !== undefined) throw new Error(formatFailure(run, { transcriptLines: 0 }));
      console.log(`no invariant violated in ${c.schedule.length} steps; live after healing`);
    }, 600_000);
  });
} else {
  /** A recorded run of `c`: its transcript and final counters. */
  const record = (c: SimCase) => {
    const run = runCase(c, { trace: true });
    return {
      transcript: run.transcript!,
      stats: JSON.stringify(run.stats),
      violation: run.violation?.message,
    };
  };

  describe("replays are exact", () => {
    const cases: [string, GenerateOptions][] = [
      ["3 nodes", { nodes: 3 }],
      ["5 nodes", { nodes: 5 }],
      ["async storage writes", { options: { asyncStorageWrites: true } }],
      ["lease reads", { options: { checkQuorum: true, leaseReads: true } }],
    ];
    for (const [name, gen] of cases) {
      it(`${name}: a run replays bit for bit from its seed, its text and its one-line form`, () => {
        const seed = 4242;
        const c = generateCase(seed, gen);
        const recorded = record(c);
        expect(recorded.transcript.split("\n").length).toBeGreaterThan(c.schedule.length);
        expect(record(generateCase(seed, gen))).toEqual(recorded);
        expect(record(parseCase(formatCase(c)))).toEqual(recorded);
        expect(record(parseReplaySpec(formatCaseOneLine(c)))).toEqual(recorded);
        // The text round-trips exactly.
        expect(formatCase(parseCase(formatCase(c)))).toBe(formatCase(c));
      });
    }

    it("a failing run replays to the same violation, from its seed spec and from its one-liner", () => {
      const gen: GenerateOptions = { nodes: 3, broken: ["send-before-persist"] };
      let seed = 1;
      while (runCase(generateCase(seed, gen), { liveness: false }).violation === undefined) seed++;
      const c = generateCase(seed, gen);
      const recorded = record(c);
      expect(recorded.violation).toBeDefined();
      expect(recorded.transcript).toContain(`VIOLATION ${recorded.violation}`);
      expect(record(parseReplaySpec(formatSeedSpec(seed, gen)))).toEqual(recorded);
      expect(record(parseReplaySpec(formatCaseOneLine(c)))).toEqual(recorded);
    });

    it("the printed replay command is a real one-liner: it runs the case and fails with its report", () => {
      // A one-step failure (applying before commit), so the command's own run is quick.
      const c = parseCase(
        `sim seed=7 nodes=3 voters=1,2,3 learners= broken=apply-before-commit; campaign 1; flush; sync; flush; sync; propose 1 "it's x"`,
      );
      const expected = runCase(c).violation;
      expect(expected?.invariant).toBe("state-machine-safety");
      const cmd = replayCommand(c);
      expect(cmd).toMatch(new RegExp(`^TSRAFT_SIM_REPLAY='[^'\\n]*' corepack pnpm test ${REPLAY_TEST}$`));
      const env = { ...process.env };
      delete env.TSRAFT_SIM_REPLAY;
      const out = spawnSync("sh", ["-c", cmd], { cwd: ROOT, env, encoding: "utf8", timeout: 300_000 });
      const text = `${out.stdout}${out.stderr}`;
      expect(out.status, text).not.toBe(0);
      expect(text).toContain(`Simulation violated state-machine-safety at step ${expected!.step}`);
      expect(text).toContain(expected!.detail);
      expect(text).toContain('0006 propose 1 "it\\u0027s x"');
      expect(text).toMatch(/0 passed, 1 failed/);
    }, 300_000);
  });
}
