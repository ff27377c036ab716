import { constants } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";

/**
 * An open file, positional I/O only (no file cursor), so the WAL always says where it writes.
 * The methods map one to one onto syscalls (pread, pwrite, fdatasync, fsync, ftruncate, fstat,
 * close): an implementation must not buffer, so that counting calls counts syscalls.
 */
export interface FileHandleLike {
  /** pread: reads up to `length` bytes at `position` into `buf[offset..]`; resolves to the count read. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
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

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: constants.O_RDONLY,
  readWrite: constants.O_RDWR,
  create: constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
  overwrite: constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
};

/** The real file system (node:fs/promises). Files are created with mode 0600, as etcd's WAL files. */
export const nodeFileSystem: FileSystem = {
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
