/**
 * The data directory lock (data-dir-lock.ts): held, refused with who holds it, released, stale
 * locks taken over only when the owner is certainly gone, a racing start of several processes
 * leaving exactly one owner, and RaftNode refusing a directory in use before it opens anything.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { MapStateMachine } from "../../test/raftnode/harness.js";
import { DataDirLock, LOCK_FILE, type LockOwner } from "./data-dir-lock.js";
import { isRaftNodeError } from "./errors.js";
import { RaftNode } from "./raft-node.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tsraft-lock-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function writeLock(dir: string, o: Partial<LockOwner>): string {
  const text = JSON.stringify({ pid: 1, host: hostname(), nonce: "feedfacefeedface", ...o });
  writeFileSync(join(dir, LOCK_FILE), text);
  return text;
}

/** A pid that no process has (spawned, exited, and not reused in the meantime). */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ["-e", ""]);
  await new Promise((r) => p.once("exit", r));
  return p.pid!;
}

describe("DataDirLock", () => {
  it("refuses a data directory that is a file, in one clear line, leaving it as it was", () => {
    const file = join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    let err: unknown;
    try {
      DataDirLock.acquire(file);
    } catch (e) {
      err = e;
    }
    expect(isRaftNodeError(err, "InvalidArgument"), String(err)).toBe(true);
    expect(String(err)).toMatch(/data directory .*not-a-dir is a file, not a directory/);
    expect(readFileSync(file, "utf8")).toBe("x");
  });

  it("holds the directory, refuses a second holder in this process, and releases", () => {
    const dir = tempDir();
    const lock = DataDirLock.acquire(dir);
    const owner = JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")) as LockOwner;
    expect(owner.pid).toBe(process.pid);
    expect(owner.host).toBe(hostname());
    let err: unknown;
    try {
      DataDirLock.acquire(dir);
    } catch (e) {
      err = e;
    }
    expect(isRaftNodeError(err, "DataDirInUse")).toBe(true);
    expect((err as Error).message).toMatch(/already in use by this process/);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
    DataDirLock.acquire(dir).release();
  });

  it("refuses a live owner, naming it, and changes nothing in the directory", () => {
    const dir = tempDir();
    // The test runner's parent process is alive and is not this process.
    const text = writeLock(dir, { pid: process.ppid });
    const before = statSync(join(dir, LOCK_FILE)).mtimeMs;
    expect(() => DataDirLock.acquire(dir)).toThrow(new RegExp(`in use by process ${process.ppid} on host`));
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(text);
    expect(statSync(join(dir, LOCK_FILE)).mtimeMs).toBe(before);
  });

  it("refuses an owner on another host (its pid cannot be checked) and an unreadable lock", () => {
    const dir = tempDir();
    writeLock(dir, { pid: process.ppid, host: `not-${hostname()}` });
    expect(() => DataDirLock.acquire(dir)).toThrow(/another host or container/);
    writeFileSync(join(dir, LOCK_FILE), "");
    expect(() => DataDirLock.acquire(dir)).toThrow(/a lock file that cannot be read/);
  });

  it("takes over a stale lock: a dead pid, this very pid, a rebooted host, a reused pid", async () => {
    const cases: [string, Partial<LockOwner>, RegExp][] = [
      ["dead pid", { pid: await deadPid() }, /no process has its pid/],
      ["own pid", { pid: process.pid }, /this process's own/],
      ["rebooted", { pid: process.ppid, boot: "00000000-0000-0000-0000-000000000000" }, /rebooted/],
      ["reused pid", { pid: process.ppid, start: 1 }, /belongs to another process/],
    ];
    const linux = process.platform === "linux";
    for (const [name, owner, reason] of cases) {
      if (!linux && (name === "rebooted" || name === "reused pid")) continue; // Linux only
      const dir = tempDir();
      writeLock(dir, owner);
      const lock = DataDirLock.acquire(dir);
      expect(lock.replaced?.reason, name).toMatch(reason);
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), "utf8")).nonce).toBe(lock.owner.nonce);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
      lock.release();
    }
  });

  it("leaves exactly one owner when several processes race for a directory with a stale lock", async () => {
    const dir = tempDir();
    writeLock(dir, { pid: await deadPid() });
    // Children run the built module (node 20 runs no TypeScript); `pnpm test` builds first.
    const module = fileURLToPath(new URL("../../dist/raftnode/data-dir-lock.js", import.meta.url));
    expect(existsSync(module), `${module} (run tsc -b)`).toBe(true);
    // Each child tries at the same moment (a shared start time), and holds what it got for a while.
    const at = Date.now() + 1500;
    const script = `
      import { DataDirLock } from ${JSON.stringify(module)};
      while (Date.now() < ${at}) {}
      try { DataDirLock.acquire(${JSON.stringify(dir)}); console.log("won"); }
      catch (e) { console.log(e.code === "DataDirInUse" ? "refused" : "error " + e.message); }
      setTimeout(() => {}, 1500);
    `;
    const runs = Array.from({ length: 6 }, () => {
      const p = spawn(process.execPath, ["--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      p.stdout.on("data", (d) => {
        out += d;
      });
      return new Promise<string>((resolve) => p.once("exit", () => resolve(out.trim())));
    });
    const results = await Promise.all(runs);
    expect(
      results.filter((r) => r === "won"),
      results.join(","),
    ).toHaveLength(1);
    expect(results.filter((r) => r === "refused")).toHaveLength(5);
  });
});

describe("RaftNode and the data directory lock", () => {
  it("refuses a second RaftNode on a directory in use before opening anything, and frees it at stop", async () => {
    const dir = tempDir();
    const peers = new Map([[1, "ws://127.0.0.1:0"]]);
    const first = await RaftNode.start({
      id: 1,
      clusterId: 1,
      peers,
      dataDir: dir,
      stateMachine: new MapStateMachine(),
    });
    const listing = readdirSync(dir).sort();
    const err = await RaftNode.start({
      id: 2,
      clusterId: 1,
      peers: new Map([[2, "ws://127.0.0.1:0"]]),
      dataDir: dir,
      stateMachine: new MapStateMachine(),
    }).catch((e: unknown) => e);
    expect(isRaftNodeError(err, "DataDirInUse")).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(listing);
    await first.stop();
    expect(readdirSync(dir)).not.toContain(LOCK_FILE);
    const again = await RaftNode.start({
      id: 1,
      clusterId: 1,
      peers,
      dataDir: dir,
      stateMachine: new MapStateMachine(),
    });
    await again.stop();
  });
});
