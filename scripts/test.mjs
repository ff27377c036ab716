#!/usr/bin/env node
// `pnpm test`: type-check and build every package, run the whole vitest suite, and close with the
// plain `N passed, N failed[, N skipped]` line CI reads. Extra arguments go to vitest (a file filter,
// `-t name`, ...). Exits non-zero if the build or any test fails.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: "inherit" }).status ?? 1;

const args = process.argv.slice(2);
if (run(bin("tsc"), ["-b"]) !== 0) {
  console.log("build failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const out = join(root, "node_modules", ".cache", "vitest-results.json");
rmSync(out, { force: true });
const status = run(bin("vitest"), [
  "run",
  "--reporter=default",
  "--reporter=json",
  `--outputFile.json=${out}`,
  ...args,
]);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(out)) {
  const r = JSON.parse(readFileSync(out, "utf8"));
  passed = r.numPassedTests;
  failed = r.numFailedTests;
  skipped = r.numPendingTests + r.numTodoTests;
  // A suite that fails to load counts as a failure even though it ran no test.
  for (const f of r.testResults ?? []) {
    if (f.status === "failed" && (f.assertionResults ?? []).length === 0) failed += 1;
  }
}
if (status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(status !== 0 || failed > 0 ? 1 : 0);
