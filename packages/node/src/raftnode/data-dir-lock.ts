/**
 * One process per data directory (etcd locks its WAL files with flock for the same reason): two
 * processes appending to one WAL, or a second one replaying it while the first writes, corrupt it.
 *
 * Node has no flock or fcntl lock, and a native addon for one would make every embedder of
 * `@tsraft/node` build C++. So the lock is a file, `<dataDir>/LOCK`, that holds who owns it, as
 * PostgreSQL's postmaster.pid does:
 *
 * - **Taking it** is atomic: the owner's description is written to a temporary file, which is then
 *   `link`ed to `LOCK` (link fails if `LOCK` exists), so the file never exists half written.
 * - **Held for the process's life**: removed by {@link DataDirLock.release} (RaftNode.stop), left
 *   behind by a crash or kill -9.
 * - **A lock left behind is stale** when its owner is certainly gone: it was written on this host
 *   (same hostname) and either this host has rebooted since (Linux boot id), or no process has its
 *   pid, or the process with that pid started at another time than the owner did (the pid was
 *   reused; Linux start times), or that pid is this very process (a container restarted: its
 *   process is pid 1 again, PostgreSQL's rule). A stale lock is taken over (renamed away, checked
 *   to be the one judged stale, then replaced), and a line is logged.
 * - **Anything else is refused**: a live owner, or an owner on another host (a shared volume or
 *   another container with its own hostname), whose pid this process cannot check. The error says
 *   who holds it and that the file may be removed by hand once no process uses the directory.
 * - Within one process, a registry of the locks it holds (shared by every copy of this module)
 *   refuses a second RaftNode on the same directory.
 *
 * Limits, written down: two containers that share a volume *and* a hostname and see each other's
 * pid namespace as a different one are not told apart (pid namespaces are invisible here); use the
 * orchestrator's volume exclusivity there, as for any pid file.
 */
import { randomBytes } from "node:crypto";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { RaftNodeError } from "./errors.js";

/** The lock file's name in the data directory. */
export const LOCK_FILE = "LOCK";

/** Who holds a data directory: what the lock file says. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** Linux: /proc/sys/kernel/random/boot_id when the lock was taken. */
  readonly boot?: string;
  /** Linux: the owner's start time, in clock ticks after boot (field 22 of /proc/<pid>/stat). */
  readonly start?: number;
  /** A random tag: tells this lock from a later one with the same pid. */
  readonly nonce: string;
}

/** The locks this process holds, by real path, shared by every copy of this module loaded. */
const held: Set<string> = heldLocks();

function heldLocks(): Set<string> {
  const key = Symbol.for("tsraft.dataDirLocks");
  const g = globalThis as Record<symbol, unknown>;
  if (!(g[key] instanceof Set)) g[key] = new Set<string>();
  return g[key] as Set<string>;
}

/**
 * A held data directory lock. Take one with {@link DataDirLock.acquire}; RaftNode takes its own
 * unless given one (a server that opens other files in the directory first, as tsraft-kv opens its
 * database, takes it before and hands it over).
 */
export class DataDirLock {
  private released = false;

  private constructor(
    /** The data directory, as given. */
    readonly dir: string,
    /** Its real path (the registry's key). */
    readonly realDir: string,
    /** What the lock file holds. */
    readonly owner: LockOwner,
    /** The stale lock this one replaced, if any, and why it was judged stale (for the log). */
    readonly replaced: { readonly owner: LockOwner; readonly reason: string } | undefined,
  ) {}

  /**
   * Creates `dir` if missing and takes its lock, or throws a RaftNodeError `DataDirInUse` saying who
   * holds it, having changed nothing. Synchronous: nothing else of the process runs in between.
   * Taking over a stale lock is logged as a warning on `logger`.
   */
  static acquire(dir: string, logger?: Logger): DataDirLock {
    if (existsSync(dir) && !statSync(dir).isDirectory()) {
      throw new RaftNodeError(
        "InvalidArgument",
        `raftnode: data directory ${dir} is a file, not a directory`,
      );
    }
    mkdirSync(dir, { recursive: true });
    const realDir = realpathSync(dir);
    const path = join(realDir, LOCK_FILE);
    if (held.has(realDir)) {
      throw new RaftNodeError(
        "DataDirInUse",
        `raftnode: data directory ${dir} is already in use by this process (another RaftNode has it open)`,
      );
    }
    const owner = selfOwner();
    const text = `${JSON.stringify(owner)}\n`;
    let replaced: { owner: LockOwner; reason: string } | undefined;
    // Look before writing: a refused process leaves the directory exactly as it found it.
    for (let round = 0; ; round++) {
      const found = readOwner(path);
      if (found === "missing") {
        if (tryCreate(path, text)) break;
        continue; // another process created it meanwhile: look at theirs
      }
      const why = found === "unreadable" ? undefined : staleReason(found);
      if (found === "unreadable" || why === undefined || round >= 5) throw inUse(dir, path, found);
      if (takeOver(path, found)) replaced = { owner: found, reason: why };
    }
    held.add(realDir);
    if (replaced !== undefined) {
      logger?.warn(
        { file: path, owner: replaced.owner, reason: replaced.reason },
        "replaced a stale data directory lock",
      );
    }
    return new DataDirLock(dir, realDir, owner, replaced);
  }

  /** True until {@link release}. */
  get held(): boolean {
    return !this.released;
  }

  /** Removes the lock file (if it is still this lock's) and forgets the lock. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this.realDir);
    const path = join(this.realDir, LOCK_FILE);
    const found = readOwner(path);
    if (typeof found === "object" && found.nonce === this.owner.nonce) {
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    }
  }
}

/** This process, as a lock file describes it. */
function selfOwner(): LockOwner {
  const boot = linuxBootId();
  const start = linuxStartTime(process.pid);
  return {
    pid: process.pid,
    host: hostname(),
    ...(boot === undefined ? {} : { boot }),
    ...(start === undefined ? {} : { start }),
    nonce: randomBytes(8).toString("hex"),
  };
}

/** Creates `path` holding `text` atomically; false if it exists. */
function tryCreate(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, text, { flag: "wx" });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function readOwner(path: string): LockOwner | "missing" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    return "unreadable";
  }
  try {
    const j = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isSafeInteger(j.pid) || typeof j.host !== "string" || typeof j.nonce !== "string") {
      return "unreadable";
    }
    return j as LockOwner;
  } catch {
    return "unreadable";
  }
}

/** Why the lock of `o` is stale (its owner is certainly gone), or undefined if it may be alive. */
function staleReason(o: LockOwner): string | undefined {
  if (o.host !== hostname()) return undefined; // another host or container: cannot check its pid
  const boot = linuxBootId();
  if (o.boot !== undefined && boot !== undefined && o.boot !== boot) return "the host rebooted since";
  if (o.pid === process.pid) return `its pid ${o.pid} is this process's own (a restarted container)`;
  if (!alive(o.pid)) return `no process has its pid ${o.pid}`;
  if (o.start !== undefined) {
    const start = linuxStartTime(o.pid);
    if (start !== undefined && start !== o.start) return `pid ${o.pid} now belongs to another process`;
  }
  return undefined;
}

/** Renames the stale lock away, checks it is the one judged stale, removes it; false if not. */
function takeOver(path: string, stale: LockOwner): boolean {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  const moved = readOwner(aside);
  if (typeof moved === "object" && moved.nonce === stale.nonce) {
    unlinkSync(aside);
    return true;
  }
  // Another process took the stale lock over first and we moved its fresh lock: put it back.
  try {
    linkSync(aside, path);
  } catch {
    // someone else created one meanwhile; theirs stands
  }
  unlinkSync(aside);
  return false;
}

function inUse(dir: string, path: string, o: LockOwner | "missing" | "unreadable"): RaftNodeError {
  const who =
    typeof o === "object"
      ? `process ${o.pid} on host ${o.host}${o.host === hostname() ? "" : " (another host or container: its pid cannot be checked from here)"}`
      : "a lock file that cannot be read";
  return new RaftNodeError(
    "DataDirInUse",
    `raftnode: data directory ${dir} is in use by ${who}; ` +
      `one process per data directory. If no process uses it, remove ${path}`,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function linuxBootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (start time after boot, in clock ticks); undefined off Linux. */
function linuxStartTime(pid: number): number | undefined {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return undefined;
  try {
    const s = readFileSync(path, "utf8");
    // The command name (field 2) is in parentheses and may hold anything: count after the last ')'.
    const fields = s.slice(s.lastIndexOf(")") + 2).split(" ");
    const v = Number(fields[19]); // field 22 is the 20th after field 2
    return Number.isSafeInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
