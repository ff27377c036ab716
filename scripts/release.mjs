#!/usr/bin/env node
// `pnpm release [pnpm publish flags]`: publishes @tsraft/raft, @tsraft/node and @tsraft/kv from a
// clean build. Their dist/ directories are deleted first (tsc never deletes the output of a source
// file that is gone, and `files` ships all of dist/), everything is rebuilt with `tsc -b`, then
// `pnpm -r publish` packs each public package (rewriting `workspace:*` into the exact version) and
// publishes the versions not yet on the registry. Extra arguments go to pnpm publish: `--dry-run`
// lists what would be published, `--otp 123456`, `--tag next`. pnpm's own checks apply (clean work
// tree, on main, up to date with its remote; `--no-git-checks` skips them). CONTRIBUTING.md,
// "Releasing", has the whole path.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: "inherit" }).status ?? 1;

for (const dir of ["raft", "node", "kv"])
  rmSync(join(root, "packages", dir, "dist"), { recursive: true, force: true });
console.log("building (tsc -b)...");
if (run(join(root, "node_modules", ".bin", "tsc"), ["-b"]) !== 0) {
  console.error("build failed: nothing published");
  process.exit(1);
}
process.exit(run("corepack", ["pnpm", "-r", "publish", ...process.argv.slice(2).filter((a) => a !== "--")]));
