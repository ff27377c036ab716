/**
 * DESIGN.md §6's package entry points, as a user's program sees them: the built packages (`dist/`,
 * through their `exports` maps) imported by plain Node from a workspace package that depends on
 * them, not the sources vitest aliases. `pnpm test` builds first, so dist/ is current.
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The export names of each specifier, imported by `node` with its working directory in packages/node. */
function exportsOf(...specifiers: string[]): Record<string, string[]> {
  const script = `const out = {};
for (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(await import(s));
console.log(JSON.stringify(out));`;
  const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: join(ROOT, "packages", "node"),
    encoding: "utf8",
  });
  return JSON.parse(stdout) as Record<string, string[]>;
}

const CODEC_TYPES = ["Message", "Entry", "HardState", "ConfState", "Snapshot", "ConfChange", "ConfChangeV2"];

describe("the built packages export DESIGN.md §6's names", () => {
  const got = exportsOf("@tsraft/raft", "@tsraft/raft/raftpb", "@tsraft/raft/rafttest");

  it("@tsraft/raft/raftpb: encodeX/decodeX for every message type, the enums and the helpers", () => {
    const want = [
      ...CODEC_TYPES.flatMap((x) => [`encode${x}`, `decode${x}`]),
      "MessageType",
      "EntryType",
      "ConfChangeType",
      "ConfChangeTransition",
      "isEmptyHardState",
      "isEmptySnap",
      "asV1",
      "asV2",
      "confChangesFromString",
      "confChangesToString",
      "confStateEquivalent",
    ];
    expect(want.filter((n) => !got["@tsraft/raft/raftpb"]?.includes(n))).toEqual([]);
  });

  it("@tsraft/raft: RawNode, MemoryStorage, the errors and the describe functions", () => {
    const want = [
      "RawNode",
      "MemoryStorage",
      "RaftError",
      "ErrCompacted",
      "ErrProposalDropped",
      "describeReady",
    ];
    expect(want.filter((n) => !got["@tsraft/raft"]?.includes(n))).toEqual([]);
  });

  it("@tsraft/raft/rafttest: the interaction harness and the simulator", () => {
    const want = ["InteractionEnv", "runTestData", "Simulation", "Checker"];
    expect(want.filter((n) => !got["@tsraft/raft/rafttest"]?.includes(n))).toEqual([]);
  });
});
