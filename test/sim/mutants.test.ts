/**
 * The mutants of `pnpm mutate` (test/mutants/*.patch, run by scripts/mutate.mjs) are well-formed
 * and still apply to the code they mutate: a refactoring that makes one stale fails here, not
 * silently in the matrix. Checked with `git apply --check`, which reads the working tree and writes
 * nothing.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIR = join(ROOT, "test", "mutants");
const CLASSES = ["safety", "liveness", "transfer", "defense"];

const mutants = readdirSync(DIR)
  .filter((f) => f.endsWith(".patch"))
  .sort()
  .map((f) => {
    const text = readFileSync(join(DIR, f), "utf8");
    const head = Object.fromEntries(
      text
        .slice(0, text.indexOf("\n--- "))
        .split("\n")
        .map((l) => /^(\w+):\s*(.*)$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    return { f, text, head, file: /^--- a\/(\S+)/m.exec(text)?.[1] ?? "" };
  });

describe("the mutants of pnpm mutate", () => {
  it("are at least 30, named once each, across the modules where Raft's rules live", () => {
    expect(mutants.length).toBeGreaterThanOrEqual(30);
    expect(new Set(mutants.map((m) => m.head.mutant)).size).toBe(mutants.length);
    const files = new Set(mutants.map((m) => m.file.replace("packages/raft/src/", "")));
    for (const f of [
      "raft.ts",
      "election.ts",
      "log.ts",
      "log-unstable.ts",
      "read-only.ts",
      "membership.ts",
    ]) {
      expect(files.has(f), f).toBe(true);
    }
    for (const prefix of ["step-", "quorum/", "tracker/", "confchange/"]) {
      expect(
        [...files].some((f) => f.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
  });

  for (const m of mutants) {
    it(`${m.f}: a class, a one-line description, and a diff of packages/raft/src that applies`, () => {
      expect(CLASSES).toContain(m.head.class);
      expect(m.head.description?.length ?? 0).toBeGreaterThan(20);
      expect(m.file).toMatch(/^packages\/raft\/src\/.+\.ts$/);
      const r = spawnSync("git", ["apply", "--check", "-"], { cwd: ROOT, input: m.text, encoding: "utf8" });
      expect(r.stderr, `${m.f} no longer applies`).toBe("");
      expect(r.status).toBe(0);
    });
  }
});
