/**
 * The real file systems: the default (node:fs/promises) and the blocking one (pwrite, fdatasync,
 * fsync and ftruncate as blocking syscalls) must behave the same through the FileSystem interface:
 * positional I/O, sizes, errors as rejected promises (never a synchronous throw), and a WAL over the
 * blocking one saves, cuts segments and replays exactly as over the default.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ent, hs, InstrumentedFileSystem, tempDir } from "../test/storage-helpers.js";
import {
  blockingNodeFileSystem,
  createNodeFileSystem,
  type FileSystem,
  isNodeFileSystem,
  nodeFileSystem,
} from "./file-system.js";
import { MemFileSystem } from "./mem-fs.js";
import { WAL } from "./wal/wal.js";

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir("tsraft-fs-");
});
afterEach(async () => {
  await tmp.cleanup();
});

const systems: [string, FileSystem][] = [
  ["nodeFileSystem", nodeFileSystem],
  ["blockingNodeFileSystem", blockingNodeFileSystem],
  ["createNodeFileSystem({ blocking: false })", createNodeFileSystem({ blocking: false })],
  ['createNodeFileSystem({ blocking: "writes" })', createNodeFileSystem({ blocking: "writes" })],
];

describe.each(systems)("%s", (_name, fs) => {
  it("writes and reads at positions, syncs, truncates and reports the size", async () => {
    const path = join(tmp.path, "f");
    const fh = await fs.open(path, "create");
    expect(await fh.write(new Uint8Array([1, 2, 3, 4]), 1, 3, 10)).toBe(3);
    await fh.datasync();
    expect(await fh.size()).toBe(13);
    await fh.truncate(4096);
    await fh.sync();
    expect(await fh.size()).toBe(4096);
    const back = new Uint8Array(5);
    expect(await fh.read(back, 0, 5, 9)).toBe(5);
    expect([...back]).toEqual([0, 2, 3, 4, 0]);
    await fh.truncate(12);
    await fh.close();
    expect([...(await fs.readFile(path))]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3]);
    await expect(fs.open(path, "create")).rejects.toMatchObject({ code: "EEXIST" });
  });

  it("reports a failed syscall as a rejected promise with the system error's code", async () => {
    const fh = await fs.open(join(tmp.path, "ro"), "create");
    await fh.close();
    const ro = await fs.open(join(tmp.path, "ro"), "read");
    let p: Promise<unknown> | undefined;
    expect(() => {
      p = ro.write(new Uint8Array(1), 0, 1, 0);
    }).not.toThrow();
    await expect(p).rejects.toMatchObject({ code: "EBADF" });
    await expect(ro.truncate(0)).rejects.toMatchObject({ code: expect.stringMatching(/^(EBADF|EINVAL)$/) });
    await ro.close();
  });

  it("carries a WAL: one write and one fdatasync per synced save, cuts, and the same replay", async () => {
    const dir = join(tmp.path, "wal");
    const counted = new InstrumentedFileSystem(fs);
    const w = await WAL.create(dir, new TextEncoder().encode("m"), { fs: counted, segmentSize: 8192 });
    counted.reset();
    await w.save(hs(1, 1, 0), [ent(1, 1)], true);
    expect(counted.calls.filter((c) => c.path.endsWith(".wal")).map((c) => c.kind)).toEqual([
      "write",
      "datasync",
    ]);
    const data = new Uint8Array(1000).fill(9);
    for (let i = 2; i <= 40; i++) await w.save(hs(1, 1, i - 1), [ent(i, 1, data)], i % 2 === 0);
    await w.close();

    const w2 = await WAL.open(dir, { index: 0, term: 0 }, { fs });
    const r = await w2.readAll();
    expect(r.entries).toEqual([ent(1, 1), ...Array.from({ length: 39 }, (_, k) => ent(k + 2, 1, data))]);
    expect(r.hardState).toEqual(hs(1, 1, 39));
    await w2.close();
    expect((await fs.readdir(dir)).filter((n) => n.endsWith(".wal")).length).toBeGreaterThan(3);
  });
});

describe("isNodeFileSystem", () => {
  it("tells the real disk, called either way, from an injected file system", () => {
    for (const fs of [nodeFileSystem, blockingNodeFileSystem, createNodeFileSystem({ blocking: true })]) {
      expect(isNodeFileSystem(fs)).toBe(true);
    }
    expect(isNodeFileSystem(new MemFileSystem())).toBe(false);
    expect(isNodeFileSystem({ ...nodeFileSystem })).toBe(false);
  });
});

describe("blockingNodeFileSystem", () => {
  it("has written the bytes by the time write() returns, before its promise is awaited", async () => {
    const path = join(tmp.path, "b");
    const fh = await blockingNodeFileSystem.open(path, "create");
    const p = fh.write(new Uint8Array([7, 8, 9]), 0, 3, 2);
    expect([...readFileSync(path)]).toEqual([0, 0, 7, 8, 9]); // no thread-pool round trip happened yet
    expect(await p).toBe(3);
    const t = fh.truncate(1);
    expect(readFileSync(path).length).toBe(1);
    await t;
    await fh.close();
  });
});
