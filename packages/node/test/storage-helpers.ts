/**
 * Helpers for the WAL and snapshotter tests: real temp directories, entry factories, and a wrapper
 * around any FileSystem that counts syscalls and injects errors.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Entry, HardState } from "../../raft/src/raftpb/index.js";
import type { FileHandleLike, FileSystem, OpenMode } from "../src/file-system.js";
import type { MemFsOpKind } from "../src/mem-fs.js";

/** A fresh directory under os.tmpdir(); `cleanup()` removes it. */
export async function tempDir(
  prefix = "tsraft-wal-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** An EntryNormal at (index, term) with `data` (default: a few bytes derived from the index). */
export function ent(index: number, term: number, data?: Uint8Array): Entry {
  return { term, index, type: 0, data: data ?? new TextEncoder().encode(`entry ${index}@${term}`) };
}

/** Entries `from`..`to` (inclusive) of term `term`, as {@link ent} makes them. */
export function ents(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term));
}

export function hs(term: number, vote: number, commit: number): HardState {
  return { term, vote, commit };
}

/** The operations {@link InstrumentedFileSystem} counts. */
export type FsCallKind = MemFsOpKind;

/** One call seen by {@link InstrumentedFileSystem}. */
export interface FsCall {
  kind: FsCallKind;
  path: string;
  length?: number;
}

/**
 * Wraps a FileSystem: records every call in `calls`, and before each one asks `fault` whether to fail
 * it (return an Error to throw instead of calling through).
 */
export class InstrumentedFileSystem implements FileSystem {
  calls: FsCall[] = [];
  /** Asked before each call: an Error to throw instead of making it. */
  fault: ((call: FsCall) => Error | undefined) | undefined;
  /** Asked before each write: a byte count to cut it to (a short write), or undefined. */
  shortWrite: ((call: FsCall) => number | undefined) | undefined;

  constructor(private readonly inner: FileSystem) {}

  /** Forgets the calls so far. */
  reset(): void {
    this.calls = [];
  }

  /** How many calls of `kind` were made (since the last reset). */
  count(kind: FsCallKind): number {
    return this.calls.filter((c) => c.kind === kind).length;
  }

  /** Records `call` (throwing its fault, if any), then runs it. */
  private async call<T>(call: FsCall, f: () => Promise<T>): Promise<T> {
    this.before(call);
    return f();
  }

  private before(call: FsCall): void {
    this.calls.push(call);
    const err = this.fault?.(call);
    if (err !== undefined) throw err;
  }

  async open(path: string, mode: OpenMode): Promise<FileHandleLike> {
    this.before({ kind: "open", path });
    const inner = await this.inner.open(path, mode);
    const self = this;
    return {
      async read(buf, offset, length, position) {
        self.before({ kind: "read", path, length });
        return inner.read(buf, offset, length, position);
      },
      readSync(buf, offset, length, position) {
        self.before({ kind: "read", path, length });
        return inner.readSync(buf, offset, length, position);
      },
      async write(buf, offset, length, position) {
        const call: FsCall = { kind: "write", path, length };
        self.before(call);
        const n = self.shortWrite?.(call);
        return inner.write(buf, offset, n === undefined ? length : Math.min(n, length), position);
      },
      datasync: () => self.call({ kind: "datasync", path }, () => inner.datasync()),
      sync: () => self.call({ kind: "sync", path }, () => inner.sync()),
      async truncate(length) {
        self.before({ kind: "truncate", path, length });
        return inner.truncate(length);
      },
      size: () => self.call({ kind: "size", path }, () => inner.size()),
      close: () => self.call({ kind: "close", path }, () => inner.close()),
    };
  }
  async readFile(path: string): Promise<Uint8Array> {
    this.before({ kind: "readFile", path });
    return this.inner.readFile(path);
  }
  async readdir(dir: string): Promise<string[]> {
    this.before({ kind: "readdir", path: dir });
    return this.inner.readdir(dir);
  }
  async mkdir(dir: string): Promise<void> {
    this.before({ kind: "mkdir", path: dir });
    return this.inner.mkdir(dir);
  }
  async rename(from: string, to: string): Promise<void> {
    this.before({ kind: "rename", path: from });
    return this.inner.rename(from, to);
  }
  async unlink(path: string): Promise<void> {
    this.before({ kind: "unlink", path });
    return this.inner.unlink(path);
  }
  async removeAll(path: string): Promise<void> {
    this.before({ kind: "removeAll", path });
    return this.inner.removeAll(path);
  }
  async syncDir(dir: string): Promise<void> {
    this.before({ kind: "syncDir", path: dir });
    return this.inner.syncDir(dir);
  }
}

/** Resolves once `cond()` holds (polling every few milliseconds; gives up after 5 s). */
export async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error("until: condition never held");
}

/** A Node-style system error (`code` set), as the real file system throws. */
export function sysError(code: string): Error {
  return Object.assign(new Error(`${code}: injected`), { code });
}
