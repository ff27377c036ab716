import {
  constants,
  fdatasync,
  fdatasyncSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  readSync,
  writeSync,
} from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";

/**
 * An open file, positional I/O only (no file cursor), so the WAL always says where it writes.
 * The methods map one to one onto syscalls (pread, pwrite, fdatasync, fsync, ftruncate, fstat,
 * close): an implementation must not buffer, so that counting calls counts syscalls.
 */
export interface FileHandleLike {
  /** pread: reads up to `length` bytes at `position` into `buf[offset..]`; resolves to the count read. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * The same pread, blocking the calling thread: for the few reads that must answer synchronously
   * (the core's Storage.entries for entries kept only in the WAL, served from the page cache).
   */
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number;
  /** pwrite: writes `buf[offset..offset+length)` at `position`; resolves to the count written. */
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fdatasync: the data written so far (and the size) survives a crash once this resolves. */
  datasync(): Promise<void>;
  /** fsync: like datasync, plus every other inode attribute. */
  sync(): Promise<void>;
  /** ftruncate: sets the size, cutting or extending with zeros. Durable only after a sync. */
  truncate(length: number): Promise<void>;
  /** fstat's size. */
  size(): Promise<number>;
  close(): Promise<void>;
}

/**
 * How a file is opened: `read` (O_RDONLY), `readWrite` (O_RDWR, must exist), `create` (O_RDWR|O_CREAT|
 * O_EXCL: fails if the file exists) or `overwrite` (O_RDWR|O_CREAT|O_TRUNC).
 */
export type OpenMode = "read" | "readWrite" | "create" | "overwrite";

/**
 * Every file-system operation the WAL and the snapshotter perform. The default, {@link nodeFileSystem},
 * is node:fs/promises; tests inject their own (see {@link MemFileSystem}) to count syscalls, inject
 * EIO/ENOSPC, slow the disk down, or "crash" and keep only what was made durable.
 *
 * Errors follow Node's convention: an `Error` with a `code` (`ENOENT`, `EEXIST`, `EIO`, `ENOSPC`...).
 * Directory changes (create, rename, unlink) are durable only after {@link FileSystem.syncDir} on the
 * directory holding them.
 */
export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandleLike>;
  /** The whole content of a file. */
  readFile(path: string): Promise<Uint8Array>;
  /** Names in a directory (not `.`/`..`), in no particular order. */
  readdir(dir: string): Promise<string[]>;
  /** mkdir -p. */
  mkdir(dir: string): Promise<void>;
  /** rename(2): atomic replacement of `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** rm -rf: no error if `path` does not exist. */
  removeAll(path: string): Promise<void>;
  /** Opens the directory and fsyncs it, making the creations, renames and unlinks in it durable. */
  syncDir(dir: string): Promise<void>;
}

class NodeFileHandle implements FileHandleLike {
  constructor(private readonly fh: FileHandle) {}
  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.fh.read(buf, offset, length, position)).bytesRead;
  }
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    return readSync(this.fh.fd, buf, offset, length, position);
  }
  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.fh.write(buf, offset, length, position)).bytesWritten;
  }
  datasync(): Promise<void> {
    return this.fh.datasync();
  }
  sync(): Promise<void> {
    return this.fh.sync();
  }
  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }
  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

/**
 * The same handle with the calls on the WAL's hot path (pwrite, fdatasync, fsync, ftruncate) made
 * as blocking syscalls on the calling thread: no round trip through libuv's thread pool, whose two
 * wake-ups per call (worker, then event loop) cost more than a small write itself. The promise
 * still settles as the interface says (rejected with the system error on failure).
 */
class BlockingNodeFileHandle extends NodeFileHandle {
  protected readonly fd: number;
  constructor(fh: FileHandle) {
    super(fh);
    this.fd = fh.fd;
  }
  override async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return writeSync(this.fd, buf, offset, length, position);
  }
  override async datasync(): Promise<void> {
    fdatasyncSync(this.fd);
  }
  override async sync(): Promise<void> {
    fsyncSync(this.fd);
  }
  override async truncate(length: number): Promise<void> {
    ftruncateSync(this.fd, length);
  }
}

/**
 * Writes (pwrite, ftruncate) as blocking syscalls, but fdatasync and fsync on libuv's thread pool
 * (with node:fs's callback API, the cheapest way there): a write of a WAL record costs microseconds,
 * an fdatasync a round trip to the disk, which the event loop spends serving sockets instead of
 * waiting. Two thread wake-ups per synced save instead of four (the async handle) or none (the
 * blocking one).
 */
class SyncOffLoopNodeFileHandle extends BlockingNodeFileHandle {
  override datasync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }
  override sync(): Promise<void> {
    return new Promise((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
  }
}

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  readWrite: constants.O_RDWR,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
  overwrite: constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
};

/** Options of {@link createNodeFileSystem}. */
export interface NodeFileSystemOptions {
  /**
   * Write, fdatasync, fsync and ftruncate open files with blocking syscalls on the calling thread
   * (default false: on libuv's thread pool, as the rest of node:fs/promises). Each thread-pool call
   * costs two thread wake-ups, so a synced WAL save (a write, then an fdatasync) pays four; blocking
   * calls pay none, which on a VM took synced 1-entry saves from ~65% to ~90% of the raw fdatasync
   * rate (bench/README.md, `wal`). The price: the event loop runs nothing else while the disk
   * syncs (about 0.1 ms for a small record on that machine, milliseconds for MiBs on slow disks),
   * so timers, sockets and requests wait. Worth it where the loop's work is mostly waiting for
   * that fsync anyway (a node whose Ready loop is the bottleneck); not for a process serving other
   * latency-sensitive work. Opening, reading, renaming and directory fsyncs stay asynchronous.
   * `"writes"`: only pwrite and ftruncate block; fdatasync and fsync go to the thread pool (two
   * wake-ups per synced save, and the loop serves other work while the disk syncs).
   */
  blocking?: boolean | "writes";
}

/**
 * The real file system (node:fs/promises), with or without blocking writes and syncs (see
 * {@link NodeFileSystemOptions.blocking}). Files are created with mode 0600, as etcd's WAL files.
 */
export function createNodeFileSystem(opts: NodeFileSystemOptions = {}): FileSystem {
  const Handle =
    opts.blocking === true
      ? BlockingNodeFileHandle
      : opts.blocking === "writes"
        ? SyncOffLoopNodeFileHandle
        : NodeFileHandle;
  const fs: FileSystem = {
    ...asyncNodeFileSystem,
    async open(path, mode) {
      return new Handle(await open(path, OPEN_FLAGS[mode], 0o600));
    },
  };
  realFileSystems.add(fs);
  return fs;
}

/** The file systems that are the real disk (node:fs), whichever way they call it. */
const realFileSystems = new WeakSet<FileSystem>();

/**
 * True if `fs` is the real file system ({@link nodeFileSystem}, {@link blockingNodeFileSystem}, or
 * one from {@link createNodeFileSystem}), false for an injected one such as MemFileSystem: the node
 * then also uses real paths for what does not go through the interface (snapshot transfers).
 */
export function isNodeFileSystem(fs: FileSystem): boolean {
  return realFileSystems.has(fs);
}

const asyncNodeFileSystem: FileSystem = {
  async open(path, mode) {
    return new NodeFileHandle(await open(path, OPEN_FLAGS[mode], 0o600));
  },
  async readFile(path) {
    return await readFile(path);
  },
  readdir: (dir) => readdir(dir),
  async mkdir(dir) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  },
  rename: (from, to) => rename(from, to),
  unlink: (path) => unlink(path),
  removeAll: (path) => rm(path, { recursive: true, force: true }),
  async syncDir(dir) {
    const fh = await open(dir, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/** The real file system, every call asynchronous (node:fs/promises): the default of the WAL and snapshotter. */
export const nodeFileSystem: FileSystem = asyncNodeFileSystem;
realFileSystems.add(nodeFileSystem);

/** The real file system with blocking writes and syncs: {@link NodeFileSystemOptions.blocking}. */
export const blockingNodeFileSystem: FileSystem = createNodeFileSystem({ blocking: true });

/** Writes all of `buf[offset..offset+length)` at `position`, looping over short writes. */
export async function writeFully(
  fh: FileHandleLike,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  while (length > 0) {
    const n = await fh.write(buf, offset, length, position);
    if (n <= 0) throw Object.assign(new Error("short write"), { code: "EIO" });
    offset += n;
    length -= n;
    position += n;
  }
}

/** The `code` of a Node system error (`ENOENT`, `EIO`...), if it has one. */
export function errorCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e && typeof e.code === "string") return e.code;
  return undefined;
}
