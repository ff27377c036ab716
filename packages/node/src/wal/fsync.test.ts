/**
 * Syscall accounting and fail-stop behaviour, counted through an instrumented FileSystem: a save is
 * one write plus one fdatasync when mustSync (none otherwise); a failed write or fsync (EIO, ENOSPC)
 * stops the WAL for good, and a reopen shows what was acknowledged.
 */
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ent,
  type FsCall,
  hs,
  InstrumentedFileSystem,
  sysError,
  tempDir,
  until,
} from "../../test/storage-helpers.js";
import { nodeFileSystem } from "../file-system.js";
import { MemFileSystem } from "../mem-fs.js";
import { isWalError, WalFailedError } from "./errors.js";
import { WAL } from "./wal.js";

const META = new TextEncoder().encode("meta");
const SEGMENT = 64 * 1024;

let tmp: { path: string; cleanup: () => Promise<void> };
let dir: string;
let fs: InstrumentedFileSystem;
beforeEach(async () => {
  tmp = await tempDir();
  dir = join(tmp.path, "wal");
  fs = new InstrumentedFileSystem(nodeFileSystem);
});
afterEach(async () => {
  await tmp.cleanup();
});

/** The calls made on the WAL's own files (not the background preallocation of `<n>.tmp`). */
const walCalls = (calls: FsCall[]) => calls.filter((c) => !c.path.endsWith(".tmp"));

describe("syscalls per save", () => {
  it("mustSync=false: one write, no fsync; mustSync=true: one write then one fdatasync, nothing else", async () => {
    const w = await WAL.create(dir, META, { fs, segmentSize: SEGMENT });
    fs.reset();
    await w.save(hs(1, 1, 0), [ent(1, 1), ent(2, 1), ent(3, 1, new Uint8Array(10_000))], false);
    expect(walCalls(fs.calls).map((c) => c.kind)).toEqual(["write"]);

    fs.reset();
    await w.save(hs(1, 1, 2), [ent(4, 1), ent(5, 1)], true);
    expect(walCalls(fs.calls).map((c) => c.kind)).toEqual(["write", "datasync"]);

    fs.reset();
    await w.save(hs(1, 1, 3), [], false); // commit-only change: raft's mustSync is false
    expect(walCalls(fs.calls).map((c) => c.kind)).toEqual(["write"]);

    fs.reset();
    await w.save(undefined, [], true); // nothing to write: no syscall at all
    await w.save({ term: 0, vote: 0, commit: 0 }, [], true);
    expect(walCalls(fs.calls)).toEqual([]);

    fs.reset();
    await w.saveSnapshot({
      index: 3,
      term: 1,
      confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    });
    expect(walCalls(fs.calls).map((c) => c.kind)).toEqual(["write", "datasync"]);
    await w.close();
  });

  it("a save that fills the segment cuts: seal the old tail, then fsynced preamble, rename, dir fsync", async () => {
    const w = await WAL.create(dir, META, { fs, segmentSize: 4096 });
    await w.save(hs(1, 1, 0), [ent(1, 1, new Uint8Array(1000))], true);
    // Let the background preallocation of 0.tmp finish before counting.
    await until(() => fs.calls.some((c) => c.kind === "datasync" && c.path.endsWith("0.tmp")));
    await new Promise((r) => setTimeout(r, 20));
    fs.reset();
    await w.save(hs(1, 1, 1), [ent(2, 1, new Uint8Array(4000))], false);
    const seq = fs.calls
      .filter((c) => c.kind !== "open" && c.kind !== "close" && !c.path.endsWith("1.tmp"))
      .map((c) => `${c.kind} ${c.path.split("/").pop()}`);
    expect(seq).toEqual([
      "write 0000000000000000-0000000000000000.wal",
      "truncate 0000000000000000-0000000000000000.wal",
      "sync 0000000000000000-0000000000000000.wal",
      "write 0.tmp",
      "datasync 0.tmp",
      `rename 0.tmp`,
      `syncDir wal`,
    ]);
    await w.close();
  });
});

describe("a slow disk", () => {
  it("saves issued without waiting are serialized in call order, and close waits for them", async () => {
    const writes: [string, number][] = [];
    const mem = new MemFileSystem(async (op) => {
      if (op.path.endsWith(".tmp")) return;
      if (op.kind === "write" || op.kind === "datasync") {
        await new Promise((r) => setTimeout(r, op.kind === "datasync" ? 3 : 1));
        if (op.kind === "write") writes.push([op.path, op.position ?? 0]);
      }
    });
    const w = await WAL.create("/wal", META, { fs: mem, segmentSize: 4096 });
    writes.length = 0;
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 30; i++)
      saves.push(w.save(hs(1, 1, i - 1), [ent(i, 1, new Uint8Array(200))], i % 3 === 0));
    const closed = w.close();
    await Promise.all(saves);
    await closed;
    // One write per save (plus one per cut); in each segment, each lands after the previous one.
    expect(writes.length).toBeGreaterThanOrEqual(30);
    for (const [i, [path, pos]] of writes.entries()) {
      const before = writes.slice(0, i).filter(([p]) => p === path);
      if (before.length > 0) expect(pos).toBeGreaterThan(before.at(-1)![1]);
    }
    const w2 = await WAL.open("/wal", { index: 0, term: 0 }, { fs: mem, segmentSize: 4096 });
    const r = await w2.readAll();
    expect(r.entries.map((e) => e.index)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(r.hardState).toEqual(hs(1, 1, 29));
    await w2.close();
  });
});

describe("fail-stop", () => {
  const cases = [
    ["write", "ENOSPC"],
    ["write", "EIO"],
    ["datasync", "EIO"],
    ["datasync", "ENOSPC"],
  ] as const;
  for (const [kind, code] of cases) {
    it(`${code} on ${kind}: the save fails, nothing later is accepted, a reopen shows what was acknowledged`, async () => {
      const w = await WAL.create(dir, META, { fs, segmentSize: SEGMENT });
      await w.save(hs(1, 1, 0), [ent(1, 1), ent(2, 1)], true);
      await w.save(hs(1, 1, 2), [ent(3, 1)], true);
      fs.fault = (c) => (c.kind === kind && c.path.endsWith(".wal") ? sysError(code) : undefined);
      const err = await w.save(hs(2, 2, 2), [ent(4, 2), ent(5, 2)], true).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WalFailedError);
      expect((err as WalFailedError).cause).toMatchObject({ code });
      expect(w.failed).toMatchObject({ code });
      fs.fault = undefined; // even with the disk healthy again, the WAL stays failed
      for (const call of [
        () => w.save(hs(2, 2, 3), [ent(4, 2)], true),
        () => w.save(hs(2, 2, 3), [], false),
        () => w.saveSnapshot({ index: 1, term: 1, confState: emptyCs() }),
        () => w.sync(),
        () => w.releaseLockTo(1),
      ]) {
        await expect(call()).rejects.toBeInstanceOf(WalFailedError);
      }
      fs.reset();
      await expect(w.close()).rejects.toSatisfy((e) => isWalError(e, "Failed"));
      expect(walCalls(fs.calls).filter((c) => c.kind === "datasync" || c.kind === "write")).toEqual([]); // close did not retry the fsync
      expect(fs.count("close")).toBeGreaterThan(0); // but released the file

      const w2 = await WAL.open(dir, { index: 0, term: 0 });
      const r = await w2.readAll();
      const acked = [ent(1, 1), ent(2, 1), ent(3, 1)];
      if (kind === "write") {
        expect(r.entries).toEqual(acked);
        expect(r.hardState).toEqual(hs(1, 1, 2));
      } else {
        // The write reached the page cache before the fsync failed: after a restart without a crash
        // the unacknowledged batch may be there (as after a crash between write and fsync), whole.
        expect([acked, [...acked, ent(4, 2), ent(5, 2)]]).toContainEqual(r.entries);
      }
      await w2.close();
    });
  }

  it("after an fsync error, a crash keeps exactly what was acknowledged (in-memory disk)", async () => {
    let failSync = false;
    const mem = new MemFileSystem((op) => {
      if (failSync && op.kind === "datasync" && op.path.endsWith(".wal")) throw sysError("EIO");
    });
    const w = await WAL.create("/wal", META, { fs: mem });
    await w.save(hs(1, 1, 1), [ent(1, 1)], true);
    failSync = true;
    await expect(w.save(hs(1, 1, 2), [ent(2, 1)], true)).rejects.toBeInstanceOf(WalFailedError);
    const image = mem.crashImage({ data: "durable", dirs: "durable" });
    const w2 = await WAL.open("/wal", { index: 0, term: 0 }, { fs: image });
    const r = await w2.readAll();
    expect(r.entries).toEqual([ent(1, 1)]);
    expect(r.hardState).toEqual(hs(1, 1, 1));
    await w2.close();
    await w.close().catch(() => {});
  });

  it("a short write then ENOSPC: fail-stop, and the partial batch is a torn tail cut at reopen", async () => {
    const w = await WAL.create(dir, META, { fs, segmentSize: SEGMENT });
    await w.save(hs(1, 1, 0), [ent(1, 1), ent(2, 1)], true);
    let writes = 0;
    fs.shortWrite = (c) => (c.path.endsWith(".wal") && ++writes === 1 ? 100 : undefined);
    fs.fault = (c) =>
      c.kind === "write" && c.path.endsWith(".wal") && writes >= 1 ? sysError("ENOSPC") : undefined;
    const err = await w
      .save(hs(1, 1, 1), [ent(3, 1, new Uint8Array(3000).fill(1)), ent(4, 1)], true)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalFailedError);
    expect((err as WalFailedError).cause).toMatchObject({ code: "ENOSPC" });
    expect(writes).toBe(1); // the retry of the rest was refused
    await w.close().catch(() => {});
    fs.fault = undefined;
    fs.shortWrite = undefined;

    const w2 = await WAL.open(dir, { index: 0, term: 0 });
    const r = await w2.readAll();
    expect(r.entries).toEqual([ent(1, 1), ent(2, 1)]);
    expect(r.repairedFrom).toMatch(/0000000000000000-0000000000000000\.wal\.broken$/);
    await w2.save(hs(1, 1, 2), [ent(3, 1)], true);
    await w2.close();
    const w3 = await WAL.open(dir, { index: 0, term: 0 });
    const r3 = await w3.readAll();
    expect(r3.entries).toEqual([ent(1, 1), ent(2, 1), ent(3, 1)]);
    expect(r3.repairedFrom).toBeUndefined();
    await w3.close();
  });
});

function emptyCs() {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}
