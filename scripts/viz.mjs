#!/usr/bin/env node
// `pnpm viz`: type-checks and builds the tree (tsc -b, which compiles the visualizer's server), then
// builds the visualizer page with Vite and serves it on 127.0.0.1, printing the URL. Arguments go
// to the server: --port N (default 5380), --host H, --no-build.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
console.log("building (tsc -b)...");
const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-b"], { cwd: root, stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build failed");
  process.exit(1);
}
// The server runs in this process (one process to stop with Ctrl-C); it reads its own arguments.
process.argv = [process.argv[0], process.argv[1], ...process.argv.slice(2).filter((a) => a !== "--")];
await import(pathToFileURL(join(root, "packages", "viz", "dist", "server", "cli.js")).href);
