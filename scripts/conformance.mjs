#!/usr/bin/env node
// `pnpm conformance [--json] [dir]`: runs a folder of etcd-format datadriven scripts through tsraft's
// harnesses — the top-level *.txt through the interaction harness, quorum/*.txt and confchange/*.txt
// through their own — and reports every file. A file whose harness is missing counts as failed.
// Default folder: $TSRAFT_ETCD_TESTDATA, else ../shared/etcd-raft-testdata beside the checkout.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const json = args.includes("--json");
const verbose = args.includes("--verbose") || args.includes("-v");
const positional = args.filter((a) => !a.startsWith("-"));
const dir = resolve(
  positional[0] ?? process.env.TSRAFT_ETCD_TESTDATA ?? join(root, "..", "shared", "etcd-raft-testdata"),
);
if (!existsSync(dir)) {
  console.error(`conformance: no such folder ${dir}`);
  process.exit(2);
}

if (!process.env.TSRAFT_NO_BUILD) {
  const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-b", "packages/raft"], {
    cwd: root,
    stdio: "inherit",
  });
  if (tsc.status !== 0) process.exit(1);
}
const rafttest = await import(pathToFileURL(join(root, "packages/raft/dist/rafttest/index.js")).href);

// Which harness runs a file: by the folder it sits in, as etcd's own tests are laid out.
const harnesses = {
  quorum: rafttest.quorumDatadrivenHandler,
  confchange: rafttest.confchangeDatadrivenHandler,
  "": rafttest.interactionDatadrivenHandler,
};

const files = [];
for (const sub of ["", "quorum", "confchange"]) {
  const d = join(dir, sub);
  if (!existsSync(d)) continue;
  for (const f of readdirSync(d).sort()) if (f.endsWith(".txt")) files.push({ sub, path: join(d, f) });
}

let passedFiles = 0;
for (const { sub, path } of files) {
  const name = relative(dir, path);
  const text = readFileSync(path, "utf8");
  const factory = harnesses[sub];
  let cases = rafttest.parseTestData(text, name).length;
  let passed = 0;
  let detail = "";
  if (typeof factory !== "function") {
    detail = "no harness for this folder yet";
  } else {
    try {
      const r = rafttest.runTestData(text, factory(), name);
      cases = r.cases;
      passed = r.passed;
      if (passed !== cases) detail = rafttest.describeFailure(r);
    } catch (e) {
      detail = `harness error: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  const ok = cases > 0 && passed === cases;
  if (ok) passedFiles++;
  if (json) {
    console.log(JSON.stringify({ file: name, cases, passed }));
  } else {
    console.log(`${ok ? "PASS" : "FAIL"} ${name} (${passed}/${cases})`);
    if (!ok && verbose) console.log(detail.replace(/^/gm, "    "));
  }
}
console.log(`conformance: ${passedFiles}/${files.length} files passed`);
process.exit(passedFiles === files.length ? 0 : 1);
