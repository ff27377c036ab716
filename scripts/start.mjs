#!/usr/bin/env node
// `pnpm start`: builds the tree and runs a 3-node tsraft-kv cluster on raftexample's ports (peers on
// 12379/22379/32379, HTTP on 12380/22380/32380), data under ./data/node-N of the current directory. Each node's log lines are
// printed with a [node-N] prefix, and each node's pid and the command that restarts it by hand. A node
// that dies (kill -9 <pid>) leaves the other two serving. Ctrl-C or SIGTERM stops the nodes it started
// (SIGKILL after 10 s); if this process is killed outright, they see their standard input close and
// stop by themselves. Refuses to start if one of the six ports is in use (another cluster still running).
// Extra arguments are passed to every node, e.g. `pnpm start --log-level debug`.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, relative } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "packages", "kv", "dist", "cli.js");
const ids = [1, 2, 3];
const cluster = ids.map((id) => `ws://127.0.0.1:${id}2379`).join(",");
const httpUrl = (id) => `http://127.0.0.1:${id}2380`;
const extra = process.argv.slice(2).filter((a) => a !== "--");
const KILL_AFTER_MS = 10_000;

/** Resolves true if `port` can be bound on 127.0.0.1 now. */
function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}
// Before anything else: a port in use (a cluster still running, another program) would make a node
// fail, or another process answer in its place.
const ports = ids.flatMap((id) => [id * 10000 + 2379, id * 10000 + 2380]);
const taken = [];
for (const port of ports) if (!(await portFree(port))) taken.push(port);
if (taken.length > 0) {
  console.error(
    `port${taken.length > 1 ? "s" : ""} ${taken.join(", ")} of 127.0.0.1 in use (another cluster still running?): stop it first`,
  );
  process.exit(1);
}

console.log("building (tsc -b)...");
const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-b"], { cwd: root, stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build failed");
  process.exit(1);
}

const LEVELS = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const OMIT = new Set(["level", "time", "msg", "pid", "hostname", "node"]);

/** One pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value ...`; other lines unchanged. */
function pretty(line) {
  let o;
  try {
    o = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof o !== "object" || o === null || !("msg" in o)) return line;
  const time = new Date(o.time ?? Date.now()).toISOString().slice(11, 23);
  const fields = Object.entries(o)
    .filter(([k]) => !OMIT.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time} ${LEVELS[o.level] ?? o.level} ${o.msg}${fields ? ` ${fields}` : ""}`;
}

const children = new Map();
let stopping = false;

/** The command that starts node `id` by hand, from the current directory (as printed). */
function restartCommand(id) {
  const words = [relative(process.cwd(), cli), "--id", id, "--cluster", cluster, "--port", `${id}2380`];
  words.push("--data-dir", join("data", `node-${id}`), ...extra);
  return `node ${words.join(" ")}`;
}

for (const id of ids) {
  const dataDir = join("data", `node-${id}`);
  mkdirSync(dataDir, { recursive: true });
  const args = [cli, "--id", String(id), "--cluster", cluster, "--port", `${id}2380`, "--data-dir", dataDir];
  args.push("--exit-on-stdin-close", ...extra);
  // Own process group: a terminal's Ctrl-C reaches only this supervisor, which stops the nodes in order.
  const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
  children.set(id, child);
  const prefix = `[node-${id}]`;
  console.log(`${prefix} pid ${child.pid}; restart it by hand with: ${restartCommand(id)}`);
  createInterface({ input: child.stdout }).on("line", (l) => console.log(`${prefix} ${pretty(l)}`));
  createInterface({ input: child.stderr }).on("line", (l) => console.error(`${prefix} ${l}`));
  child.on("exit", (code, signal) => {
    children.delete(id);
    console.log(`${prefix} exited (${signal ?? `code ${code}`})`);
    if (stopping) {
      if (children.size === 0) process.exit();
    } else if (children.size > 0) {
      console.error(
        `node ${id} stopped; the other ${children.size} keep serving. Restart it by hand (in another terminal) with:\n  ${restartCommand(id)}`,
      );
    } else {
      console.error("every node stopped");
      process.exit(1);
    }
  });
}

function stop() {
  if (stopping) return;
  stopping = true;
  if (children.size === 0) process.exit();
  for (const child of children.values()) child.kill("SIGTERM");
  setTimeout(() => {
    for (const child of children.values()) child.kill("SIGKILL");
  }, KILL_AFTER_MS).unref();
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
process.on("SIGHUP", stop);

/** Waits until every node reports the same leader, then prints how to use the cluster. */
async function announce() {
  const deadline = Date.now() + 60_000;
  while (!stopping && Date.now() < deadline) {
    const leads = await Promise.all(
      ids.map((id) =>
        fetch(`${httpUrl(id)}/status`)
          .then((r) => r.json())
          .then((s) => s.lead)
          .catch(() => 0),
      ),
    );
    if (leads[0] && leads.every((l) => l === leads[0])) {
      console.log(`
tsraft-kv: 3 nodes up, leader is node ${leads[0]}. HTTP on ${ids.map(httpUrl).join(", ")}.
Pids: ${ids.map((id) => `node ${id} ${children.get(id)?.pid}`).join(", ")} (kill -9 one: the other two keep serving). Try:

  curl -i -X PUT http://127.0.0.1:12380/kv/my-key -d bar            # 204: applied
  curl http://127.0.0.1:22380/kv/my-key                              # bar (linearizable read on node 2)
  curl -i -X PUT 'http://127.0.0.1:12380/kv/my-key?prev=bar' -d baz # 204: compare-and-swap
  curl -i -X PUT 'http://127.0.0.1:12380/kv/my-key?prev=bar' -d qux # 412: value is now baz
  curl -i -X DELETE http://127.0.0.1:32380/kv/my-key                # 204
  curl http://127.0.0.1:12380/status                                 # Raft status (JSON)
  curl http://127.0.0.1:12380/members                                # the members

Ctrl-C stops all three. The README's "Run the cluster" adds and removes a 4th node.
`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!stopping) console.error("no leader after 60 s; see the logs above");
}
announce();
