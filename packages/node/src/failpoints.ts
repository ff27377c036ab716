/**
 * Failpoints: faults injected at named points of the storage path, for crash and disk-full testing of
 * real node processes (etcd's gofail, reduced to what the WAL and the snapshotter need). They work by
 * wrapping the {@link FileSystem} the WAL and the snapshotter are given, so the storage code has no
 * test hooks of its own, and cost nothing when unset: {@link fileSystemFromEnv} then returns the
 * file system it was given, unwrapped.
 *
 * Set `TSRAFT_FAILPOINTS` to a `;`-separated list of `point=action[@N][+]`:
 * - points: `wal-write` (before a write to a WAL segment), `wal-before-fsync` / `wal-after-fsync`
 *   (around the fdatasync or fsync of a WAL segment), `snap-before-save` / `snap-after-save` (around
 *   the rename that publishes a `.snap` file: before it the snapshot does not exist, after it it does),
 *   `image-write` (before a write to a state machine image being stored: one per chunk received or
 *   produced);
 * - actions: `crash` (SIGKILL the process itself: no cleanup, no flush, like a power cut that keeps the
 *   OS page cache), `enospc` / `eio` (the operation fails with that errno and does not happen);
 * - `@N`: fire on the N-th time the point is reached (default 1); a trailing `+` fires every time from
 *   the N-th on (a disk that stays full).
 *
 * Example: `TSRAFT_FAILPOINTS="wal-before-fsync=crash@20"`, `TSRAFT_FAILPOINTS="wal-write=enospc@50+"`.
 */
import { writeSync } from "node:fs";
import type { FileHandleLike, FileSystem, OpenMode } from "./file-system.js";

/** Where a failpoint can fire. */
export type FailpointName =
  | "wal-write"
  | "wal-before-fsync"
  | "wal-after-fsync"
  | "snap-before-save"
  | "snap-after-save"
  | "image-write";

/** What a failpoint does when it fires. */
export type FailpointAction = "crash" | "enospc" | "eio";

/** One parsed failpoint. */
export interface Failpoint {
  readonly name: FailpointName;
  readonly action: FailpointAction;
  /** The hit (1-based) at which it fires. */
  readonly at: number;
  /** Whether it keeps firing on every hit after `at`. */
  readonly sticky: boolean;
}

const NAMES: readonly FailpointName[] = [
  "wal-write",
  "wal-before-fsync",
  "wal-after-fsync",
  "snap-before-save",
  "snap-after-save",
  "image-write",
];
const ACTIONS: readonly FailpointAction[] = ["crash", "enospc", "eio"];

/** The environment variable {@link fileSystemFromEnv} reads. */
export const FAILPOINTS_ENV = "TSRAFT_FAILPOINTS";

/** Parses a failpoint list (see the module comment). Throws on anything it does not understand. */
export function parseFailpoints(spec: string): Failpoint[] {
  const out: Failpoint[] = [];
  for (const raw of spec.split(";")) {
    const item = raw.trim();
    if (item === "") continue;
    const m = /^([a-z-]+)=([a-z]+)(?:@(\d+))?(\+)?$/.exec(item);
    if (m === null) throw new Error(`failpoints: cannot parse ${JSON.stringify(item)}`);
    const name = m[1] as FailpointName;
    const action = m[2] as FailpointAction;
    if (!NAMES.includes(name)) throw new Error(`failpoints: unknown point ${JSON.stringify(name)}`);
    if (!ACTIONS.includes(action)) throw new Error(`failpoints: unknown action ${JSON.stringify(action)}`);
    const at = m[3] === undefined ? 1 : Number(m[3]);
    if (!Number.isSafeInteger(at) || at < 1)
      throw new Error(`failpoints: bad count in ${JSON.stringify(item)}`);
    out.push({ name, action, at, sticky: m[4] === "+" });
  }
  return out;
}

/** How a fired `crash` ends the process; tests replace it. */
export type CrashFn = (point: FailpointName) => never;

/** Kills the process at once: SIGKILL cannot be caught, so no handler, flush or close runs. */
const crashProcess: CrashFn = (point) => {
  writeSync(2, `failpoint ${point}: crash (SIGKILL pid ${process.pid})\n`);
  process.kill(process.pid, "SIGKILL");
  // SIGKILL to oneself is delivered before kill(2) returns; this is never reached.
  throw new Error("unreachable");
};

const isWalFile = (path: string): boolean => /\.wal(\.tmp)?$/.test(path);
const isSnapTmp = (path: string): boolean => /\.snap\.tmp$/.test(path);
const isImageTmp = (path: string): boolean => /\.image\.tmp-[0-9a-f]+$/.test(path);

/** Which failpoints a file's writes reach. */
type FileKind = "wal" | "image" | "other";

class Trigger {
  private readonly hits = new Map<FailpointName, number>();

  constructor(
    private readonly points: readonly Failpoint[],
    private readonly crash: CrashFn,
  ) {}

  /** Counts a hit of `name` and fires whatever failpoint is due. */
  hit(name: FailpointName): void {
    const n = (this.hits.get(name) ?? 0) + 1;
    this.hits.set(name, n);
    for (const fp of this.points) {
      if (fp.name !== name || n < fp.at || (n > fp.at && !fp.sticky)) continue;
      if (fp.action === "crash") this.crash(name);
      const code = fp.action === "enospc" ? "ENOSPC" : "EIO";
      const text = code === "ENOSPC" ? "no space left on device" : "i/o error";
      throw Object.assign(new Error(`${code}: ${text} (failpoint ${name})`), { code });
    }
  }
}

class FailpointHandle implements FileHandleLike {
  constructor(
    private readonly inner: FileHandleLike,
    private readonly trigger: Trigger,
    private readonly kind: FileKind,
  ) {}
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.inner.read(buf, offset, length, position);
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    return this.inner.readSync(buf, offset, length, position);
  }
  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    if (this.kind === "wal") this.trigger.hit("wal-write");
    else if (this.kind === "image") this.trigger.hit("image-write");
    return this.inner.write(buf, offset, length, position);
  }
  datasync(): Promise<void> {
    return this.synced(() => this.inner.datasync());
  }
  sync(): Promise<void> {
    return this.synced(() => this.inner.sync());
  }
  truncate(length: number): Promise<void> {
    return this.inner.truncate(length);
  }
  size(): Promise<number> {
    return this.inner.size();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  private async synced(op: () => Promise<void>): Promise<void> {
    if (this.kind !== "wal") return op();
    this.trigger.hit("wal-before-fsync");
    await op();
    this.trigger.hit("wal-after-fsync");
  }
}

/**
 * Wraps `base` so that `points` fire as described in the module comment. `crash` defaults to
 * SIGKILLing the process.
 */
export function failpointFileSystem(
  base: FileSystem,
  points: readonly Failpoint[],
  crash: CrashFn = crashProcess,
): FileSystem {
  const trigger = new Trigger(points, crash);
  return {
    async open(path: string, mode: OpenMode) {
      const kind: FileKind = isWalFile(path) ? "wal" : isImageTmp(path) ? "image" : "other";
      return new FailpointHandle(await base.open(path, mode), trigger, kind);
    },
    readFile: (path) => base.readFile(path),
    readdir: (dir) => base.readdir(dir),
    mkdir: (dir) => base.mkdir(dir),
    async rename(from, to) {
      const snap = isSnapTmp(from);
      if (snap) trigger.hit("snap-before-save");
      await base.rename(from, to);
      if (snap) trigger.hit("snap-after-save");
    },
    unlink: (path) => base.unlink(path),
    removeAll: (path) => base.removeAll(path),
    syncDir: (dir) => base.syncDir(dir),
  };
}

/**
 * The file system a node should hand its WAL and snapshotter: `base` itself unless
 * `TSRAFT_FAILPOINTS` is set, in which case `base` wrapped with those failpoints (and a warning on
 * stderr, so a log shows the node was running with faults armed).
 */
export function fileSystemFromEnv(base: FileSystem, env: NodeJS.ProcessEnv = process.env): FileSystem {
  const spec = env[FAILPOINTS_ENV];
  if (spec === undefined || spec.trim() === "") return base;
  const points = parseFailpoints(spec);
  writeSync(2, `failpoints armed: ${spec}\n`);
  return failpointFileSystem(base, points);
}
