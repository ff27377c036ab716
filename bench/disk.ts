/**
 * Where the disk-bound benches (wal, cluster) put their files, and the raw fdatasync rate of that
 * directory: the physical limit a synced append cannot beat.
 *
 * fdatasync on tmpfs is a no-op, so a figure measured there says nothing about a disk: the default
 * directory is the OS temp directory unless that is tmpfs, in which case it is `bench/.tmp` in the
 * clone (gitignored). `--dir` overrides both. The file system type is reported with each result.
 */
import { closeSync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, statfsSync, writeSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** statfs f_type magic numbers of the file systems a bench is likely to meet. */
const FS_TYPES: Readonly<Record<number, string>> = {
  16914836: "tmpfs",
  2240043254: "ramfs",
  61267: "ext4",
  1481003842: "xfs",
  2435016766: "btrfs",
  801189825: "zfs",
  2035054128: "overlayfs",
  26985: "nfs",
  4076150800: "f2fs",
};

/** The name of the file system holding `path` (`ext4`, `tmpfs`...), or its statfs magic in hex. */
export function fsTypeOf(path: string): string {
  const t = statfsSync(path).type;
  return FS_TYPES[t] ?? `0x${t.toString(16)}`;
}

/** True for file systems where fdatasync does no I/O. */
export function isMemoryFs(type: string): boolean {
  return type === "tmpfs" || type === "ramfs";
}

/** A fresh directory for one bench run, its file system type, and a cleanup that removes it. */
export interface BenchDir {
  readonly path: string;
  readonly fsType: string;
  cleanup(): Promise<void>;
}

/** Where {@link benchDir} makes its directories: `base`, else the OS temp directory unless tmpfs, else `bench/.tmp`. */
export function benchParent(base: string | undefined): string {
  if (base !== undefined) return base;
  const t = tmpdir();
  return isMemoryFs(fsTypeOf(t)) ? join(dirname(fileURLToPath(import.meta.url)), "..", ".tmp") : t;
}

/**
 * Makes a fresh directory under `base` (`--dir`), else under the OS temp directory, else (when that
 * is tmpfs) under `bench/.tmp` of the clone. Warns on stderr if the result is on a memory file
 * system anyway (an explicit `--dir` is honoured: the caller asked for it).
 */
export async function benchDir(prefix: string, base: string | undefined): Promise<BenchDir> {
  const parent = benchParent(base);
  mkdirSync(parent, { recursive: true });
  const path = await mkdtemp(join(parent, prefix));
  const fsType = fsTypeOf(path);
  if (isMemoryFs(fsType)) {
    process.stderr.write(`bench: WARNING: ${path} is on ${fsType}: fdatasync does no I/O there\n`);
  }
  return { path, fsType, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A raw write + fdatasync loop's outcome. */
export interface RawSyncRate {
  readonly ops: number;
  readonly ms: number;
}

/** Numbers the raw loops' files: each loop writes a fresh file. */
let rawFiles = 0;

/**
 * The physical limit: `count` times, write `bytes` bytes at the end of a sparse file (extended
 * with ftruncate first, as the WAL preallocates its segments) then fdatasync it, with blocking
 * syscalls on this thread, so that nothing but the disk (and the kernel) is measured. The file is
 * left in place until the run's directory is removed: deleting it would charge the freeing of its
 * blocks (a discard, with `-o discard`) to whatever syncs next.
 */
export function rawSyncLoop(dir: string, bytes: number, count: number): RawSyncRate {
  const path = join(dir, `raw-fdatasync-${rawFiles++}.bin`);
  const block = new Uint8Array(bytes).fill(0xa5);
  const fd = openSync(path, "w+", 0o600);
  try {
    ftruncateSync(fd, bytes * count);
    fdatasyncSync(fd);
    let pos = 0;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      writeSync(fd, block, 0, bytes, pos);
      fdatasyncSync(fd);
      pos += bytes;
    }
    return { ops: count, ms: performance.now() - t0 };
  } finally {
    closeSync(fd);
  }
}

/**
 * The same loop through `node:fs/promises` (write, then datasync, each a trip to libuv's thread
 * pool): what a Node program that does not block its event loop gets at best with two calls.
 */
export async function rawAsyncLoop(dir: string, bytes: number, count: number): Promise<RawSyncRate> {
  const path = join(dir, `raw-fdatasync-${rawFiles++}.bin`);
  const block = new Uint8Array(bytes).fill(0xa5);
  const fh = await open(path, "w+", 0o600);
  try {
    await fh.truncate(bytes * count);
    await fh.datasync();
    let pos = 0;
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      await fh.write(block, 0, bytes, pos);
      await fh.datasync();
      pos += bytes;
    }
    return { ops: count, ms: performance.now() - t0 };
  } finally {
    await fh.close();
  }
}

/** Combines loops run before and after a measurement into one rate (ops per second). */
export function rateOf(...loops: RawSyncRate[]): number {
  let ops = 0;
  let ms = 0;
  for (const l of loops) {
    ops += l.ops;
    ms += l.ms;
  }
  return ms > 0 ? ops / (ms / 1000) : 0;
}
