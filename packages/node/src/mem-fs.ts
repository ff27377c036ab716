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
  /**
   * The path operated on; for handle operations, the file's current path (after any rename), or the
   * path it was opened by if it has been unlinked.
   */
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

/** Page size of the copy-on-write file content. */
const PAGE = 16 * 1024;

/** A file's content at one moment: pages (undefined = zeros) and a size. Never mutated. */
interface FileImage {
  readonly pages: readonly (Uint8Array | undefined)[];
  readonly size: number;
}

class MemFile {
  readonly kind = "file";
  /**
   * Content: `size` bytes in pages of PAGE bytes; an undefined page reads as zeros. Invariant: bytes
   * past `size` in the last page are zero. Invariant: a page with `owned[i]` false may be shared with
   * a snapshot or an image and is copied before it is written.
   */
  private pages: (Uint8Array | undefined)[];
  private owned: boolean[];
  size: number;
  /** The content as of the last fsync. */
  durable: FileImage;

  constructor(from: FileImage = { pages: [], size: 0 }, durable = false) {
    this.pages = from.pages.slice();
    this.owned = new Array<boolean>(this.pages.length).fill(false);
    this.size = from.size;
    this.durable = durable ? from : { pages: [], size: 0 };
  }

  /** The content now, shared copy-on-write (cheap: copies page pointers only). */
  snapshot(): FileImage {
    this.owned.fill(false);
    return { pages: this.pages.slice(), size: this.size };
  }

  private page(i: number): Uint8Array {
    let p = this.pages[i];
    if (p === undefined || !this.owned[i]) {
      const copy = new Uint8Array(PAGE);
      if (p !== undefined) copy.set(p);
      this.pages[i] = p = copy;
      this.owned[i] = true;
    }
    return p;
  }

  write(src: Uint8Array, position: number): void {
    for (let done = 0; done < src.length; ) {
      const at = position + done;
      const off = at % PAGE;
      const n = Math.min(PAGE - off, src.length - done);
      this.page(Math.floor(at / PAGE)).set(src.subarray(done, done + n), off);
      done += n;
    }
    this.size = Math.max(this.size, position + src.length);
  }

  truncate(length: number): void {
    if (length < this.size) {
      const last = Math.floor(length / PAGE);
      if (length % PAGE !== 0 && this.pages[last] !== undefined) this.page(last).fill(0, length % PAGE);
      const keep = Math.ceil(length / PAGE);
      this.pages.length = Math.min(this.pages.length, keep);
      this.owned.length = this.pages.length;
    }
    this.size = length;
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): number {
    const n = Math.max(0, Math.min(length, this.size - position));
    for (let done = 0; done < n; ) {
      const at = position + done;
      const off = at % PAGE;
      const k = Math.min(PAGE - off, n - done);
      const p = this.pages[Math.floor(at / PAGE)];
      if (p === undefined) buf.fill(0, offset + done, offset + done + k);
      else buf.set(p.subarray(off, off + k), offset + done);
      done += k;
    }
    return n;
  }

  /** The whole content, as a new array. */
  content(): Uint8Array {
    const out = new Uint8Array(this.size);
    this.read(out, 0, this.size, 0);
    return out;
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
    if (this.fs.hook !== undefined) {
      const path = this.fs.pathOf(this.file) ?? this.path;
      await this.fs.runHook({ kind, path, file: this.file, ...extra });
    }
    if (this.closed) throw fsError("EBADF", kind, this.path);
  }

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.op("read", { position });
    return this.file.read(buf, offset, length, position);
  }
  /** A read without the hook (it cannot wait for one). */
  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    if (this.closed) throw fsError("EBADF", "read", this.path);
    return this.file.read(buf, offset, length, position);
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
    this.file.durable = this.file.snapshot();
  }
  async sync(): Promise<void> {
    await this.op("sync");
    this.file.durable = this.file.snapshot();
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

  /** @internal The current path of `file` (a search of the tree), or undefined if it is unlinked. */
  pathOf(file: MemFile): string | undefined {
    const search = (d: MemDir, prefix: string): string | undefined => {
      for (const [name, node] of d.entries) {
        if (node === file) return `${prefix}/${name}`;
        if (node.kind === "dir") {
          const found = search(node, `${prefix}/${name}`);
          if (found !== undefined) return found;
        }
      }
      return undefined;
    };
    return search(this.root, "");
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
      const content = opts.data === "durable" ? f.durable : f.snapshot();
      if (f === tornFile && opts.torn !== undefined) {
        const torn = new MemFile(content);
        const { op, bytes } = opts.torn;
        torn.write(op.data!.subarray(0, bytes), op.position ?? 0);
        out = new MemFile(torn.snapshot(), true);
      } else {
        out = new MemFile(content, true);
      }
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
