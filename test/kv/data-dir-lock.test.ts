/**
 * One `tsraft-kv` process per data directory, tried as a user would: a second process started on
 * node 1's directory (other ports) exits non-zero at once with a clear one-line message, touches
 * nothing in the directory, and the first keeps serving; a wrong --id on a data directory is one
 * line too, without a stack trace. After a kill -9 the stale lock is taken over by the restart.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { describe, expect, it } from "vitest";
import { CLI, CLI_MISSING, type Cluster, FAST_RAFT, sharedCluster } from "./cluster.js";

/** Every file under `dir` with its size and mtime: what "touches nothing" compares. */
function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        out.set(p, `${st.size}@${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(CLI_MISSING)("one tsraft-kv process per data directory", () => {
  let c: Cluster;
  sharedCluster({ size: 1 }, (started) => {
    c = started;
  });

  it("refuses a second process on a data directory in use, touching nothing", async () => {
    const n1 = c.node(1);
    expect(await c.putRetry(1, "k", "v1")).toBe(204);
    // Pause the first server (alive, holding its lock) so that the tree changes only if the second
    // process changes it.
    n1.proc!.kill("SIGSTOP");
    const before = snapshotTree(n1.dataDir);
    const lockText = readFileSync(join(n1.dataDir, "LOCK"), "utf8");
    const [peer, http] = await freePorts(2);
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        "--id",
        "1",
        "--cluster",
        `ws://127.0.0.1:${peer}`,
        "--port",
        String(http),
        "--data-dir",
        n1.dataDir,
        ...FAST_RAFT,
      ],
      { encoding: "utf8", timeout: 20_000 },
    );
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^tsraft-kv: raftnode: data directory .* is in use by process ${n1.proc!.pid} on host`),
    );
    expect(lines[0]).not.toMatch(/\bat /);
    expect(readFileSync(join(n1.dataDir, "LOCK"), "utf8")).toBe(lockText);
    expect(snapshotTree(n1.dataDir)).toEqual(before);
    n1.proc!.kill("SIGCONT");
    // The first one still serves.
    expect(await c.putRetry(1, "k", "v2")).toBe(204);
    expect(await c.get(1, "k")).toEqual([200, "v2"]);
  });

  it("takes over the lock a kill -9 left behind", async () => {
    const n1 = c.node(1);
    await n1.kill();
    expect(readdirSync(n1.dataDir)).toContain("LOCK");
    n1.start();
    await c.waitForLeader();
    expect(await c.get(1, "k")).toEqual([200, "v2"]);
    expect(n1.output.join("\n")).toMatch(/replaced a stale data directory lock/);
  });

  it("names a data directory of another node in one line, and leaves no lock behind", async () => {
    const n1 = c.node(1);
    await n1.stop();
    expect(readdirSync(n1.dataDir)).not.toContain("LOCK");
    const [http] = await freePorts(1);
    const r = spawnSync(
      process.execPath,
      [CLI, "--id", "2", "--cluster", `2=${n1.peerUrl}`, "--port", String(http), "--data-dir", n1.dataDir],
      { encoding: "utf8", timeout: 20_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^tsraft-kv: raftnode: the WAL in .* belongs to node 1 of cluster \d+, not node 2/,
    );
    expect(readdirSync(n1.dataDir)).not.toContain("LOCK");
  });
});
