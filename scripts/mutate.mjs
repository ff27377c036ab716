#!/usr/bin/env node
// `pnpm mutate`: how well the tests see bugs of the core. Each mutant in test/mutants/*.patch (a
// hand-written bug: a unified diff of packages/raft/src and a header naming it, its class and what
// it breaks) is applied to a temporary copy of the repository (never to this working tree), and
// run against
//   1. the simulation alone: test/sim/sim-3 and sim-5, the suite `pnpm test` runs (safety after
//      every step, then the liveness phase); stopped at its first counterexample;
//   2. the unit tests of packages/raft (not the simulator's own tests, which run simulations) and
//      etcd's conformance corpus (test/conformance).
// It prints the kill matrix: for each mutant, whether and how fast each column fails.
//
//   pnpm mutate [--only id,id...] [--sim-only | --unit-only] [--no-baseline] [--json]
//
// Classes: safety (can produce a wrong committed log, a lost committed entry or a wrong read: the
// simulation alone must catch it), liveness and transfer (the liveness phase must), defense (a
// rule only a faulty peer can breach — the patch says why —: the unit tests must).
// TSRAFT_MUTATE_LONG=1 runs the simulation with TSRAFT_SIM_RUNS=20000 (20× the suite's seeds).
// Exit status 1 if a safety, liveness or transfer mutant survives the simulation, a mutant survives
// both columns, or a patch no longer applies.
import { spawn } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const flag = (f) => args.includes(f);
const optValue = (f) => {
  const i = args.indexOf(f);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = optValue("--only")?.split(",");
const simOnly = flag("--sim-only");
const unitOnly = flag("--unit-only");
const json = flag("--json");
const long = process.env.TSRAFT_MUTATE_LONG === "1";
const SIM_FILES = ["test/sim/sim-3.test.ts", "test/sim/sim-5.test.ts"];
// The unit tests of the core and etcd's corpus; not the simulator's own tests (they run simulations).
const UNIT_FILES = [
  "packages/raft/src",
  "test/conformance",
  "--exclude",
  "packages/raft/src/rafttest/sim/**",
];
/** A run that takes longer than this is stopped and reported as a hang. */
const SIM_TIMEOUT_S = long ? 1800 : 300;
const UNIT_TIMEOUT_S = 300;

/** The mutants, from the patch files: `mutant:`, `class:`, `description:` lines, then the diff. */
function loadMutants() {
  const dir = join(root, "test", "mutants");
  const out = [];
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith(".patch"))
    .sort()) {
    const text = readFileSync(join(dir, f), "utf8");
    const head = {};
    for (const line of text.split("\n")) {
      if (line.startsWith("--- ")) break;
      const m = /^(\w+):\s*(.*)$/.exec(line);
      if (m) head[m[1]] = m[2];
    }
    const file = /^--- a\/(\S+)/m.exec(text)?.[1];
    if (!head.mutant || !head.class || !head.description || !file) {
      throw new Error(`${f}: needs mutant:, class:, description: lines and a unified diff`);
    }
    if (!["safety", "liveness", "transfer", "defense"].includes(head.class))
      throw new Error(`${f}: unknown class ${head.class}`);
    out.push({ id: head.mutant, cls: head.class, description: head.description, file, patch: f, text });
  }
  return out;
}

/**
 * A copy of what the columns need, with node_modules linked: the sources and tests of
 * packages/raft, the simulation and conformance tests, and the configuration (the TypeScript
 * project references cut down to packages/raft, which is all these tests import).
 */
function makeCopy() {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-mutate-"));
  for (const f of ["package.json", "tsconfig.base.json", "vitest.config.ts"])
    copyFileSync(join(root, f), join(dir, f));
  for (const d of [
    "packages/raft/src",
    "packages/raft/test",
    "packages/raft/examples",
    "test/sim",
    "test/conformance",
  ]) {
    cpSync(join(root, d), join(dir, d), { recursive: true });
  }
  for (const f of ["packages/raft/package.json", "packages/raft/tsconfig.json"]) {
    copyFileSync(join(root, f), join(dir, f));
  }
  // The helpers the tests share (fast-check settings, arbitraries, where the corpus is).
  for (const f of readdirSync(join(root, "test")).filter((x) => x.endsWith(".ts"))) {
    copyFileSync(join(root, "test", f), join(dir, "test", f));
  }
  const testConfig = JSON.parse(readFileSync(join(root, "tsconfig.test.json"), "utf8"));
  testConfig.references = [{ path: "packages/raft" }];
  writeFileSync(join(dir, "tsconfig.test.json"), JSON.stringify(testConfig, null, 2));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ files: [], references: [{ path: "packages/raft" }, { path: "tsconfig.test.json" }] }),
  );
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  symlinkSync(join(root, "packages/raft/node_modules"), join(dir, "packages/raft/node_modules"));
  return dir;
}

/** Applies a mutant's diff to the copy (git apply works outside a repository too). */
function applyPatch(dir, m) {
  return new Promise((resolve) => {
    const p = spawn("git", ["apply", "--whitespace=nowarn", "-"], {
      cwd: dir,
      stdio: ["pipe", "ignore", "pipe"],
    });
    let err = "";
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("close", (code) => resolve(code === 0 ? undefined : err.trim() || `git apply exited ${code}`));
    p.stdin.end(m.text);
  });
}

/** Puts the mutated file of the copy back as it is in this working tree. */
function restoreFile(dir, m) {
  copyFileSync(join(root, m.file), join(dir, m.file));
}

/**
 * Runs vitest on `files` in the copy. Returns { failed, ms, hang, first } where `first` is the
 * simulation's first counterexample (read from the TSRAFT_SIM_REPORT file as soon as it appears:
 * the run is then stopped, the matrix needs no shrunk case), and `failedTests` the failing tests.
 */
function runVitest(dir, files, { env = {}, timeoutS, stopAtFirst = false, bail = false }) {
  return new Promise((resolve) => {
    const report = join(dir, `sim-report-${process.hrtime.bigint()}.jsonl`);
    const vitest = join(root, "node_modules", ".bin", "vitest");
    // Two workers: the simulation's two files run side by side (else vitest orders them by its cache
    // of past durations, and the time to the first failure depends on which comes first).
    const vargs = ["run", "--reporter=dot", "--maxWorkers=2", ...(bail ? ["--bail=1"] : []), ...files];
    const start = performance.now();
    const p = spawn(vitest, vargs, {
      cwd: dir,
      detached: true,
      env: { ...process.env, ...env, TSRAFT_SIM_REPORT: report, FORCE_COLOR: "0", CI: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      out += d;
    });
    let first;
    let hang = false;
    const kill = () => {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const poll = setInterval(() => {
      if (first === undefined && existsSync(report)) {
        const line = readFileSync(report, "utf8").split("\n")[0];
        if (line) {
          first = { ...JSON.parse(line), atMs: performance.now() - start };
          if (stopAtFirst) kill();
        }
      }
    }, 100);
    const timer = setTimeout(() => {
      hang = true;
      kill();
    }, timeoutS * 1000);
    p.on("close", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      if (first === undefined && existsSync(report)) {
        const line = readFileSync(report, "utf8").split("\n")[0];
        if (line) first = { ...JSON.parse(line), atMs: performance.now() - start };
      }
      const plain = stripAnsi(out);
      const failedTests = [...plain.matchAll(/(?:FAIL|×)\s+(.+)/g)].map((x) => x[1].trim()).slice(0, 3);
      resolve({
        failed: code !== 0 || first !== undefined,
        ms: performance.now() - start,
        hang,
        first,
        failedTests,
        out: plain,
      });
    });
  });
}

/** `s` without ANSI colour codes. */
const stripAnsi = (s) => s.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "");

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

function simCell(r) {
  if (r === undefined) return "-";
  if (r.hang) return `HANG (stopped after ${secs(r.ms)})`;
  if (r.first) return `caught ${secs(r.first.atMs)}: ${r.first.invariant} (${r.first.spec})`;
  if (r.failed) return `failed ${secs(r.ms)} (no counterexample: ${r.failedTests[0] ?? "see output"})`;
  return `survived (${secs(r.ms)})`;
}

function unitCell(r) {
  if (r === undefined) return "-";
  if (r.hang) return `HANG (stopped after ${secs(r.ms)})`;
  if (r.failed) return `caught ${secs(r.ms)}: ${r.failedTests[0] ?? "a test failed"}`;
  return `survived (${secs(r.ms)})`;
}

async function main() {
  let mutants = loadMutants();
  if (only) mutants = mutants.filter((m) => only.includes(m.id));
  if (mutants.length === 0) throw new Error("no mutant selected");
  const dir = makeCopy();
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  const simEnv = long ? { TSRAFT_SIM_RUNS: "20000" } : {};
  const log = (s) => {
    if (!json) console.log(s);
  };
  try {
    log(
      `mutation run: ${mutants.length} mutant(s), copy in ${dir}${long ? ", long mode (20,000 seeds)" : ""}`,
    );
    if (!flag("--no-baseline")) {
      // Without a mutant both columns must pass in the copy, or their failures would mean nothing.
      const base = unitOnly
        ? undefined
        : await runVitest(dir, SIM_FILES, { env: simEnv, timeoutS: SIM_TIMEOUT_S });
      if (base !== undefined) {
        log(`baseline (no mutant): simulation ${base.failed ? "FAILED" : "passes"} in ${secs(base.ms)}`);
      }
      const unit = simOnly ? undefined : await runVitest(dir, UNIT_FILES, { timeoutS: UNIT_TIMEOUT_S });
      if (unit !== undefined) {
        log(`baseline (no mutant): unit + conformance ${unit.failed ? "FAIL" : "pass"} in ${secs(unit.ms)}`);
      }
      if (base?.failed || unit?.failed) {
        console.log(base?.failed ? base.out : unit?.out);
        throw new Error("the tests fail without any mutant: fix that first");
      }
    }
    const rows = [];
    for (const m of mutants) {
      const bad = await applyPatch(dir, m);
      if (bad !== undefined) {
        rows.push({ ...m, stale: bad });
        log(`${m.id}: STALE (the patch no longer applies: ${bad.split("\n")[0]})`);
        continue;
      }
      const sim = unitOnly
        ? undefined
        : await runVitest(dir, SIM_FILES, { env: simEnv, timeoutS: SIM_TIMEOUT_S, stopAtFirst: true });
      const unit = simOnly
        ? undefined
        : await runVitest(dir, UNIT_FILES, { timeoutS: UNIT_TIMEOUT_S, bail: true });
      restoreFile(dir, m);
      const row = { ...m, sim, unit };
      rows.push(row);
      log(`${m.id} [${m.cls}]: simulation ${simCell(sim)}; unit+conformance ${unitCell(unit)}`);
    }
    report(rows);
    const simMissed = rows.filter((r) => !r.stale && r.cls !== "defense" && !(r.sim?.first || r.sim?.hang));
    const allMissed = rows.filter((r) => !r.stale && !r.sim?.failed && !r.unit?.failed);
    const stale = rows.filter((r) => r.stale);
    if (json) {
      for (const r of rows) {
        console.log(
          JSON.stringify({
            mutant: r.id,
            class: r.cls,
            file: r.file,
            description: r.description,
            stale: r.stale !== undefined,
            sim: r.sim && {
              caught: !!(r.sim.first || r.sim.hang),
              ms: Math.round(r.sim.first?.atMs ?? r.sim.ms),
              invariant: r.sim.first?.invariant,
              spec: r.sim.first?.spec,
              hang: r.sim.hang,
            },
            unit: r.unit && {
              caught: r.unit.failed,
              ms: Math.round(r.unit.ms),
              test: r.unit.failedTests[0],
              hang: r.unit.hang,
            },
          }),
        );
      }
    }
    const complete = !simOnly && !unitOnly;
    if ((!unitOnly && simMissed.length > 0) || (complete && allMissed.length > 0) || stale.length > 0) {
      process.exitCode = 1;
    }
  } finally {
    cleanup();
  }
}

/** The kill matrix, as a Markdown table, and the totals. */
function report(rows) {
  if (json) return;
  console.log("\n| mutant | class | simulation alone (time to first failure) | unit + conformance |");
  console.log("|---|---|---|---|");
  for (const r of rows) {
    if (r.stale) {
      console.log(`| ${r.id} | ${r.cls} | STALE: patch does not apply | |`);
      continue;
    }
    console.log(
      `| ${r.id} | ${r.cls} | ${simCell(r.sim).replaceAll("|", "\\|")} | ${unitCell(r.unit).replaceAll("|", "\\|")} |`,
    );
  }
  const n = (p) => rows.filter(p).length;
  const simCaught = (r) => !!(r.sim?.first || r.sim?.hang);
  const ran = (col) => rows.some((r) => r[col] !== undefined);
  for (const cls of ["safety", "liveness", "transfer", "defense"]) {
    const of = (r) => r.cls === cls && !r.stale;
    if (n(of) === 0) continue;
    const sim = ran("sim") ? `${n((r) => of(r) && simCaught(r))}/${n(of)}` : "not run";
    const unit = ran("unit") ? `${n((r) => of(r) && r.unit?.failed)}/${n(of)}` : "not run";
    const neither =
      ran("sim") && ran("unit") ? `, ${n((r) => of(r) && !simCaught(r) && !r.unit?.failed)} by neither` : "";
    console.log(`${cls}: ${sim} caught by the simulation alone, ${unit} by unit + conformance${neither}`);
  }
  const times = rows
    .filter(simCaught)
    .map((r) => r.sim.first?.atMs ?? r.sim.ms)
    .sort((a, b) => a - b);
  if (times.length > 0) {
    console.log(
      `time to first failure in the simulation: median ${secs(times[Math.floor(times.length / 2)])}, ` +
        `max ${secs(times[times.length - 1])} (vitest start-up included)`,
    );
  }
}

await main();
