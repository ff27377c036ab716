#!/usr/bin/env node
// Chaos runs against real tsraft-kv processes (packages/chaos): each run starts a cluster, drives 8
// clients, injects the fault its seed names, heals, and checks linearizability, durability of every
// acknowledged write and equal state digests. Prints one line per run and a summary; a failing run
// keeps its directory (history, report, node logs and data) and prints the command replaying it.
//
//   node scripts/chaos.mjs --seed 7                 one run (seed 7's schedule)
//   node scripts/chaos.mjs --seed 0 --runs 56       seeds 0..55 (every fault kind, both cluster sizes)
//   node scripts/chaos.mjs --seed 3 --fault pause --nodes 1   override the seed's fault or size
//   node scripts/chaos.mjs --seed 0 --retries       the retrying workload: every ambiguous write is
//                                                   sent again with its Idempotency-Key until definite
//   options: --keep (keep every run directory), --dir D (where run directories go; default the OS temp
//   directory), --json (one JSON line per run), --no-build
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values: v } = parseArgs({
  options: {
    seed: { type: "string", default: "0" },
    runs: { type: "string", default: "1" },
    fault: { type: "string" },
    nodes: { type: "string" },
    keep: { type: "boolean", default: false },
    dir: { type: "string" },
    json: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    retries: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  },
});
if (v.help) {
  console.log(
    "usage: node scripts/chaos.mjs [--seed N] [--runs K] [--fault KIND] [--nodes 1|3] [--retries] [--keep] [--dir D] [--json] [--no-build]",
  );
  process.exit(0);
}
if (!v["no-build"] && !process.env.TSRAFT_NO_BUILD) {
  const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-b"], { cwd: root, stdio: "inherit" });
  if (tsc.status !== 0) process.exit(1);
}
const chaos = await import(pathToFileURL(join(root, "packages/chaos/dist/index.js")).href);
const first = Number(v.seed);
const runs = Number(v.runs);
if (v.fault !== undefined && !chaos.FAULT_KINDS.includes(v.fault)) {
  console.error(`unknown fault ${v.fault}; one of ${chaos.FAULT_KINDS.join(", ")}`);
  process.exit(2);
}

let failed = 0;
const started = performance.now();
for (let seed = first; seed < first + runs; seed++) {
  const base = chaos.specForSeed(seed);
  const spec = {
    ...base,
    ...(v.fault ? { fault: v.fault } : {}),
    ...(v.nodes ? { nodes: Number(v.nodes) } : {}),
    ...(v.retries ? { retries: true } : {}),
  };
  const r = await chaos.runChaos(spec, {
    keep: v.keep ? "always" : "failure",
    ...(v.dir ? { baseDir: v.dir } : {}),
    log: v.json ? undefined : (line) => console.log(line),
  });
  if (!r.ok) failed++;
  const replay = `${r.replay}${v.fault ? ` --fault ${v.fault}` : ""}${v.nodes ? ` --nodes ${v.nodes}` : ""}`;
  if (v.json) {
    console.log(JSON.stringify({ ...r, faultLog: undefined, replay }));
  } else {
    console.log(chaos.formatRunLine(r));
    if (!r.ok) {
      for (const f of r.failures) console.log(`    ${f.split("\n").join("\n    ")}`);
      console.log(`    artifacts: ${r.dir}\n    replay: ${replay}`);
    }
  }
}
const secs = (performance.now() - started) / 1000;
console.log(`chaos: ${runs - failed}/${runs} runs passed in ${secs.toFixed(0)} s`);
process.exit(failed > 0 ? 1 : 0);
