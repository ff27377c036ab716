/**
 * The packages' entry points (docs/architecture.md), as a user's program sees them: the built packages (`dist/`,
 * through their `exports` maps) imported by plain Node from a workspace package that depends on
 * them, not the sources vitest aliases. `pnpm test` builds first, so dist/ is current.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ENTRY_POINTS } from "./packaging/consumer-project.js";

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

describe("the built packages export the entry points' names", () => {
  // Those packages/node resolves: its own and its dependency's (the packaging test imports them all).
  const got = exportsOf(...ENTRY_POINTS.filter((e) => !e.startsWith("@tsraft/kv")));

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
    const want = ["RawNode", "MemoryStorage", "RaftError", "isRaftError", "describeReady"];
    expect(want.filter((n) => !got["@tsraft/raft"]?.includes(n))).toEqual([]);
  });

  it("@tsraft/node: RaftNode and the building blocks, and no test tooling (that is /testing and /trace)", () => {
    const tooling = ["MemFileSystem", "failpointFileSystem", "parseFailpoints", "FAILPOINTS_ENV", "trace"];
    expect(got["@tsraft/node"]).toContain("RaftNode");
    expect(got["@tsraft/node"]).toContain("WAL");
    expect(
      got["@tsraft/node"]!.filter(
        (n) => tooling.includes(n) || /segment(FileName|Name)|failpoint|tracing/i.test(n),
      ),
    ).toEqual([]);
    expect(got["@tsraft/node/testing"]).toEqual(expect.arrayContaining(tooling.slice(0, 4)));
    expect(got["@tsraft/node/trace"]).toEqual(["trace", "tracing"]);
  });

  it("@tsraft/raft/rafttest: the interaction harness and the simulator", () => {
    const want = ["InteractionEnv", "runTestData", "Simulation", "Checker"];
    expect(want.filter((n) => !got["@tsraft/raft/rafttest"]?.includes(n))).toEqual([]);
  });
});

/**
 * The declaration files (or, for a `.js` entry, the modules) `entry` reaches through relative
 * imports, and the packages it imports.
 */
function declarationClosure(entry: string): { files: Set<string>; packages: Set<string> } {
  const ext = entry.endsWith(".d.ts") ? ".d.ts" : ".js";
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, "utf8");
    // In code, only module statements (a string after `from` elsewhere is not an import).
    const imports =
      ext === ".js"
        ? /^(?:import|export)\s[^;"]*?from\s*"([^"]+)"|^import\s*"([^"]+)"/gm
        : /(?:from|import)\s*\(?\s*"([^"]+)"/g;
    for (const m of text.matchAll(imports)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith(".")) visit(join(dirname(file), spec.replace(/\.js$/, ext)));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

/** The value names a built barrel exports, in the order it lists them (namespace objects sort their keys). */
function exportOrder(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const names: string[] = [];
  for (const m of text.matchAll(/export\s*\{([^}]*)\}/g)) {
    for (const spec of m[1]!.split(",")) {
      const name = spec
        .trim()
        .split(/\s+as\s+/)
        .pop();
      if (name) names.push(name);
    }
  }
  return names;
}

describe("barrels a user reads top-down", () => {
  it("@tsraft/raft: the first ten names are the ones a user of RawNode needs", () => {
    const first = exportOrder(join(ROOT, "packages", "raft", "dist", "index.js")).slice(0, 10);
    const rawNodeUser = new Set([
      "RawNode",
      "SnapshotStatus",
      "StateType",
      "ReadOnlyOption",
      "MemoryStorage",
      "RaftError",
      "isRaftError",
      "errCompacted",
      "errUnavailable",
      "errProposalDropped",
      "errSnapOutOfDate",
      "errSnapshotTemporarilyUnavailable",
      "errStepLocalMsg",
      "errStepPeerNotFound",
      "confChangeError",
      "configInvalidError",
      "None",
    ]);
    expect(first).toHaveLength(10);
    expect(first.filter((n) => !rawNodeUser.has(n))).toEqual([]);
    expect(first.slice(0, 1)).toEqual(["RawNode"]);
  });
});

describe("optional peers stay out of the entry points that do not need them", () => {
  const dist = join(ROOT, "packages", "raft", "dist", "rafttest");
  it("@tsraft/raft/rafttest's types never reach fast-check; /rafttest/fast-check's do", () => {
    expect([...declarationClosure(join(dist, "index.d.ts")).packages]).not.toContain("fast-check");
    expect([...declarationClosure(join(dist, "fast-check.d.ts")).packages]).toContain("fast-check");
  });
});

describe("@tsraft/kv/client has no dependency", () => {
  const dist = join(ROOT, "packages", "kv", "dist", "client");
  it("its modules and its types import only each other (no package, no Node.js built-in)", () => {
    const code = declarationClosure(join(dist, "index.js"));
    const types = declarationClosure(join(dist, "index.d.ts"));
    expect([...code.packages, ...types.packages]).toEqual([]);
    expect(code.files.size).toBeGreaterThanOrEqual(4);
  });
});
