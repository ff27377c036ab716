/**
 * An in-memory {@link FileSystem} that knows what a crash would keep. Every file remembers its
 * content as of its last fsync/fdatasync, every directory its entries as of its last syncDir; a
 * "crash image" is a new MemFileSystem holding only what survives (optionally plus writes that were
 * not synced, and a torn prefix of one write). A hook sees every operation before it runs, to count
 * syscalls, inject errors (throw), slow the disk down (await), or take crash images.
 *
 * Used by the WAL's crash-consistency tests, and usable by any test of code that writes through a
 * FileSystem. Paths are POSIX; relative paths are taken from `/`.
 */
import { posix } from "node:path";
import type { FileHandleLike, FileSystem, OpenMode } from "./file-system.js";

/** The kind of an operation seen by a {@link MemFsHook}. */
export type MemFsOpKind =
  | "open"
  | "read"
  | "write"
  | "datasync"
  | "sync"
  | "truncate"
  | "size"
  | "close"
  | "readFile"
  | "readdir"
  | "mkdir"
  | "rename"
  | "unlink"
  | "removeAll"
  | "syncDir";

/** One operation, as the hook sees it before it runs. */
export interface MemFsOp {
  readonly kind: MemFsOpKind;
  /** The path operated on; for handle operations, the path the file was opened by. */
  readonly path: string;
  /** rename's destination. */
  readonly to?: string;
  /** write/read/truncate: position (or new length for truncate). */
  readonly position?: number;
  /** write: the bytes about to be written (a view: do not keep it past the hook). */
  readonly data?: Uint8Array;
  /** Internal: the file a handle operation targets (for {@link MemFileSystem.crashImage}'s torn write). */
  readonly file?: object;
}

/** Called before each operation; throwing fails the operation (which then has no effect). */
export type MemFsHook = (op: MemFsOp) => void | Promise<void>;

/** What a crash image keeps. */
export interface CrashImageOptions {
  /** `durable`: each file as of its last fsync; `current`: with every write so far (a crash right after them). */
  data: "durable" | "current";
  /** `durable`: directory entries as of each directory's last syncDir; `current`: all renames/creates/unlinks. */
  dirs: "durable" | "current";
  /** A write in progress (the op given to the hook) of which only the first `bytes` bytes land. */
  torn?: { op: MemFsOp; bytes: number };
}

class MemFile {
  readonly kind = "file";
  /** Content is data[0..size). Invariant: when `shared`, `data` must be copied before any mutation. */
  data: Uint8Array;
  size: number;
  shared: boolean;
  /** The content as of the last fsync (never mutated in place). */
  durable: Uint8Array;

  constructor(data: Uint8Array = new Uint8Array(0), shared = false) {
    this.data = data;
    this.size = data.length;
    this.shared = shared;
    this.durable = shared ? data : new Uint8Array(0);
  }

  private own(capacity: number): void {
    if (!this.shared && capacity <= this.data.length) return;
    let cap = Math.max(capacity, this.shared ? this.size : 0, 64);
    if (!this.shared) cap = Math.max(cap, this.data.length * 2);
    const d = new Uint8Array(cap);
    d.set(this.data.subarray(0, this.size));
    this.data = d;
    this.shared = false;
  }

  write(src: Uint8Array, position: number): void {
    const end = position + src.length;
    this.own(end);
    if (position > this.size) this.data.fill(0, this.size, position);
    this.data.set(src, position);
    if (end > this.size) this.size = end;
  }

  truncate(length: number): void {
    if (length > this.size) {
      this.own(length);
      this.data.fill(0, this.size, length);
    } else if (!this.shared) {
      this.data.fill(0, length, this.size);
    }
    this.size = length;
  }

  content(): Uint8Array {
    this.shared = true;
    return this.data.subarray(0, this.size);
  }
}

class MemDir {
  readonly kind = "dir";
  entries = new Map<string, MemFile | MemDir>();
  durable = new Map<string, MemFile | MemDir>();
}

function fsError(code: string, op: string, path: string): Error {
  return Object.assign(new Error(`${code}: ${op} '${path}'`), { code, path });
}

function parts(path: string): string[] {
  return posix
    .normalize(`/${path}`)
    .split("/")
    .filter((p) => p !== "" && p !== ".");
}

class MemHandle implements FileHandleLike {
  private closed = false;
  constructor(
    private readonly fs: MemFileSystem,
    readonly file: MemFile,
    readonly path: string,
    private readonly writable: boolean,
  ) {}

  private async op(kind: MemFsOpKind, extra: Partial<MemFsOp> = {}): Promise<void> {
    await this.fs.runHook({ kind, path: this.path, file: this.file, ...extra });
    if (this.closed) throw fsError("EBADF", kind, this.path);
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.op("read", { position });
    const n = Math.max(0, Math.min(length, this.file.size - position));
    buf.set(this.file.data.subarray(position, position + n), offset);
    return n;
  }
  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const data = buf.subarray(offset, offset + length);
    await this.op("write", { position, data });
    if (!this.writable) throw fsError("EBADF", "write", this.path);
    this.file.write(data, position);
    return length;
  }
  async datasync(): Promise<void> {
    await this.op("datasync");
    this.file.durable = this.file.data.slice(0, this.file.size);
  }
  async sync(): Promise<void> {
    await this.op("sync");
    this.file.durable = this.file.data.slice(0, this.file.size);
  }
  async truncate(length: number): Promise<void> {
    await this.op("truncate", { position: length });
    if (!this.writable) throw fsError("EBADF", "truncate", this.path);
    this.file.truncate(length);
  }
  async size(): Promise<number> {
    await this.op("size");
    return this.file.size;
  }
  async close(): Promise<void> {
    await this.op("close");
    this.closed = true;
  }
}

/** See the module comment. */
export class MemFileSystem implements FileSystem {
  /** Sees every operation before it runs (set or replace it at any time). */
  hook: MemFsHook | undefined;
  private root = new MemDir();

  constructor(hook?: MemFsHook) {
    this.hook = hook;
  }

  /** @internal */
  async runHook(op: MemFsOp): Promise<void> {
    if (this.hook !== undefined) await this.hook(op);
  }

  private lookup(path: string): MemFile | MemDir | undefined {
    let node: MemFile | MemDir = this.root;
    for (const p of parts(path)) {
      if (node.kind !== "dir") return undefined;
      const next: MemFile | MemDir | undefined = node.entries.get(p);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private parent(path: string, op: string): { dir: MemDir; name: string } {
    const ps = parts(path);
    const name = ps.pop();
    if (name === undefined) throw fsError("EINVAL", op, path);
    const dir = this.lookup(ps.join("/"));
    if (dir === undefined) throw fsError("ENOENT", op, path);
    if (dir.kind !== "dir") throw fsError("ENOTDIR", op, path);
    return { dir, name };
  }

  async open(path: string, mode: OpenMode): Promise<FileHandleLike> {
    await this.runHook({ kind: "open", path });
    const { dir, name } = this.parent(path, "open");
    let file = dir.entries.get(name);
    if (file?.kind === "dir") throw fsError("EISDIR", "open", path);
    if (file !== undefined && mode === "create") throw fsError("EEXIST", "open", path);
    if (file === undefined) {
      if (mode === "read" || mode === "readWrite") throw fsError("ENOENT", "open", path);
      file = new MemFile();
      dir.entries.set(name, file);
    } else if (mode === "overwrite") {
      file.truncate(0);
    }
    return new MemHandle(this, file, path, mode !== "read");
  }

  async readFile(path: string): Promise<Uint8Array> {
    await this.runHook({ kind: "readFile", path });
    const f = this.lookup(path);
    if (f === undefined) throw fsError("ENOENT", "readFile", path);
    if (f.kind === "dir") throw fsError("EISDIR", "readFile", path);
    return f.content();
  }

  async readdir(path: string): Promise<string[]> {
    await this.runHook({ kind: "readdir", path });
    const d = this.lookup(path);
    if (d === undefined) throw fsError("ENOENT", "readdir", path);
    if (d.kind !== "dir") throw fsError("ENOTDIR", "readdir", path);
    return [...d.entries.keys()];
  }

  async mkdir(path: string): Promise<void> {
    await this.runHook({ kind: "mkdir", path });
    let node: MemDir = this.root;
    for (const p of parts(path)) {
      let next = node.entries.get(p);
      if (next === undefined) {
        next = new MemDir();
        node.entries.set(p, next);
      } else if (next.kind !== "dir") {
        throw fsError("ENOTDIR", "mkdir", path);
      }
      node = next;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    await this.runHook({ kind: "rename", path: from, to });
    const src = this.parent(from, "rename");
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw fsError("ENOENT", "rename", from);
    const dst = this.parent(to, "rename");
    const existing = dst.dir.entries.get(dst.name);
    if (existing !== undefined && existing.kind !== node.kind) throw fsError("EISDIR", "rename", to);
    if (existing?.kind === "dir" && existing.entries.size > 0) throw fsError("ENOTEMPTY", "rename", to);
    src.dir.entries.delete(src.name);
    dst.dir.entries.set(dst.name, node);
  }

  async unlink(path: string): Promise<void> {
    await this.runHook({ kind: "unlink", path });
    const { dir, name } = this.parent(path, "unlink");
    const node = dir.entries.get(name);
    if (node === undefined) throw fsError("ENOENT", "unlink", path);
    if (node.kind === "dir") throw fsError("EISDIR", "unlink", path);
    dir.entries.delete(name);
  }

  async removeAll(path: string): Promise<void> {
    await this.runHook({ kind: "removeAll", path });
    const ps = parts(path);
    const name = ps.pop();
    if (name === undefined) throw fsError("EINVAL", "removeAll", path);
    const dir = this.lookup(ps.join("/"));
    if (dir?.kind === "dir") dir.entries.delete(name);
  }

  async syncDir(path: string): Promise<void> {
    await this.runHook({ kind: "syncDir", path });
    const d = this.lookup(path);
    if (d === undefined) throw fsError("ENOENT", "syncDir", path);
    if (d.kind !== "dir") throw fsError("ENOTDIR", "syncDir", path);
    d.durable = new Map(d.entries);
  }

  /**
   * A new file system holding what a crash right now would leave (see {@link CrashImageOptions}).
   * Cheap: file contents are shared copy-on-write. The image has no hook; every file in it is durable.
   */
  crashImage(opts: CrashImageOptions): MemFileSystem {
    const image = new MemFileSystem();
    const tornFile = opts.torn?.op.file;
    const files = new Map<MemFile, MemFile>();
    const copyFile = (f: MemFile): MemFile => {
      let out = files.get(f);
      if (out !== undefined) return out;
      let data: Uint8Array;
      if (opts.data === "durable") {
        data = f.durable;
      } else {
        f.shared = true;
        data = f.data.subarray(0, f.size);
      }
      if (f === tornFile && opts.torn !== undefined) {
        const { op, bytes } = opts.torn;
        const pos = op.position ?? 0;
        const end = Math.max(data.length, pos + bytes);
        const d = new Uint8Array(end);
        d.set(data);
        d.set(op.data!.subarray(0, bytes), pos);
        data = d;
      }
      out = new MemFile(data, true);
      files.set(f, out);
      return out;
    };
    const copyDir = (d: MemDir, into: MemDir): void => {
      for (const [name, node] of opts.dirs === "durable" ? d.durable : d.entries) {
        if (node.kind === "file") {
          into.entries.set(name, copyFile(node));
        } else {
          const sub = new MemDir();
          copyDir(node, sub);
          into.entries.set(name, sub);
        }
      }
      into.durable = new Map(into.entries);
    };
    copyDir(this.root, image.root);
    return image;
  }

  /** A deep copy of the current state (every file and entry as it is now, all of it durable). */
  clone(): MemFileSystem {
    return this.crashImage({ data: "current", dirs: "current" });
  }
}
