#!/usr/bin/env node
// `pnpm viz`: type-checks and builds the tree (tsc -b, which compiles the visualizer's server), then
// builds the visualizer page with Vite and serves it on 127.0.0.1, printing the URL. Arguments go
// to the server: --port N (default 5380), --host H, --no-build.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
console.log("building (tsc -b)...");
const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-b"], { cwd: root, stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build failed");
  process.exit(1);
}
const args = process.argv.slice(2).filter((a) => a !== "--");
const cli = join(root, "packages", "viz", "dist", "server", "cli.js");
const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
