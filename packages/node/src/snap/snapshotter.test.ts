import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "@tsraft/raft";
import { encodeSnapshot, type Snapshot } from "@tsraft/raft/raftpb";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/storage-helpers.js";
import { crc32c } from "../crc32c.js";
import { MemFileSystem, type MemFsOp } from "../mem-fs.js";
import { createNodeMetrics } from "../metrics.js";
import { isWalError, WalCorruptError } from "../wal/errors.js";
import { decodeSnapFile, encodeSnapFile, parseSnapName, Snapshotter, snapFileName } from "./snapshotter.js";

function snap(term: number, index: number, data = `state at ${index}`): Snapshot {
  return {
    data: new TextEncoder().encode(data),
    metadata: {
      term,
      index,
      confState: { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
  };
}

function captureLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (m) => warnings.push(m), error() {}, panic() {} };
}

let tmp: { path: string; cleanup: () => Promise<void> };
let dir: string;
beforeEach(async () => {
  tmp = await tempDir("tsraft-snap-");
  dir = join(tmp.path, "snap");
});
afterEach(async () => {
  await tmp.cleanup();
});

describe("snapshot files", () => {
  it("are etcd's snappb.Snapshot: crc = CRC-32C(data) (field 1), data = raftpb Snapshot (field 2)", () => {
    const s = snap(2, 10);
    const data = encodeSnapshot(s);
    const file = encodeSnapFile(s);
    const crc = crc32c(0, data);
    const varint = (v: number) => {
      const out: number[] = [];
      while (v >= 128) {
        out.push((v & 0x7f) | 0x80);
        v = Math.floor(v / 128);
      }
      out.push(v);
      return out;
    };
    expect([...file]).toEqual([0x08, ...varint(crc), 0x12, ...varint(data.length), ...data]);
    expect(decodeSnapFile(file)).toEqual(s);
  });

  it("names are <term:016x>-<index:016x>.snap, parsed only in exactly that form", () => {
    expect(snapFileName(2, 255)).toBe("0000000000000002-00000000000000ff.snap");
    expect(parseSnapName("0000000000000002-00000000000000ff.snap")).toEqual({
      name: "0000000000000002-00000000000000ff.snap",
      term: 2,
      index: 255,
    });
    for (const bad of [
      "../0000000000000002-00000000000000ff.snap",
      "0000000000000002-00000000000000ff.snap/..",
      "sub/0000000000000002-00000000000000ff.snap",
      "2-ff.snap",
      "0000000000000002-00000000000000FF.snap",
      "0000000000000002-00000000000000ff.snap.broken",
      "ffffffffffffffff-0000000000000001.snap", // term beyond 2^53
    ]) {
      expect(parseSnapName(bad), bad).toBeUndefined();
    }
  });
});

describe("Snapshotter", () => {
  it("saves atomically (no temp file left) and loads the newest snapshot", async () => {
    const metrics = createNodeMetrics();
    const s = new Snapshotter(dir, { metrics });
    expect(await s.load()).toBeUndefined();
    await s.save(snap(1, 10));
    await s.save(snap(1, 20));
    await s.save(snap(2, 15)); // a newer term wins even at a lower index (etcd's name order)
    await s.save(snap(0, 0)); // empty: not saved
    expect((await readdir(dir)).sort()).toEqual([
      "0000000000000001-000000000000000a.snap",
      "0000000000000001-0000000000000014.snap",
      "0000000000000002-000000000000000f.snap",
    ]);
    expect(await s.load()).toEqual(snap(2, 15));
    expect((await metrics.snapshotsSaved.get()).values[0]!.value).toBe(3);
  });

  it("loadNewestAvailable takes the newest snapshot the WAL has a marker for", async () => {
    const s = new Snapshotter(dir);
    for (const [t, i] of [
      [1, 10],
      [1, 20],
      [2, 30],
    ] as const) {
      await s.save(snap(t, i));
    }
    expect(
      await s.loadNewestAvailable([
        { term: 1, index: 10 },
        { term: 1, index: 20 },
      ]),
    ).toEqual(snap(1, 20));
    expect(await s.loadNewestAvailable([{ term: 3, index: 30 }])).toBeUndefined();
  });

  it("a snapshot failing its checksum is skipped with a warning, renamed .broken, and the previous one used", async () => {
    const logger = captureLogger();
    const s = new Snapshotter(dir, { logger });
    await s.save(snap(1, 10));
    await s.save(snap(1, 20, "x".repeat(500)));
    const newest = join(dir, snapFileName(1, 20));
    const bytes = await readFile(newest);
    bytes[bytes.length - 100]! ^= 0x04;
    await writeFile(newest, bytes);

    const markers = [
      { term: 1, index: 10 },
      { term: 1, index: 20 },
    ];
    expect(await s.loadNewestAvailable(markers)).toEqual(snap(1, 10));
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toMatch(/crc mismatch/);
    expect((await readdir(dir)).sort()).toEqual([
      "0000000000000001-000000000000000a.snap",
      "0000000000000001-0000000000000014.snap.broken",
    ]);
    // Looked at once: the next load does not see it again.
    expect(await s.loadNewestAvailable(markers)).toEqual(snap(1, 10));
    expect(logger.warnings).toHaveLength(1);
  });

  it("an empty, truncated or mislabelled snapshot file is skipped the same way", async () => {
    const logger = captureLogger();
    const s = new Snapshotter(dir, { logger });
    await s.save(snap(1, 10));
    await s.save(snap(1, 20));
    await writeFile(join(dir, snapFileName(1, 30)), new Uint8Array(0));
    await writeFile(
      join(dir, snapFileName(1, 40)),
      (await readFile(join(dir, snapFileName(1, 20)))).subarray(0, 20),
    );
    // A valid file under another snapshot's name (e.g. renamed by hand).
    await writeFile(join(dir, snapFileName(1, 50)), await readFile(join(dir, snapFileName(1, 20))));
    expect(await s.load()).toEqual(snap(1, 20));
    expect(logger.warnings).toHaveLength(3);
    expect((await readdir(dir)).filter((n) => n.endsWith(".broken"))).toHaveLength(3);
  });

  it("refuses a snapshot file name that is not of the exact form, e.g. with ../", async () => {
    const s = new Snapshotter(dir);
    await s.save(snap(1, 10));
    await writeFile(join(tmp.path, "0000000000000001-000000000000000a.snap"), encodeSnapFile(snap(9, 9)));
    for (const bad of ["../0000000000000001-000000000000000a.snap", "..", "x.snap", "/etc/passwd"]) {
      await expect(s.read(bad)).rejects.toSatisfy((e) => isWalError(e, "InvalidName"));
    }
    expect(await s.read("0000000000000001-000000000000000a.snap")).toEqual(snap(1, 10));
    // Files in the directory with other names ending .snap are ignored with a warning, not read.
    const logger = captureLogger();
    await writeFile(join(dir, "1-a.snap"), "junk");
    expect(await new Snapshotter(dir, { logger }).load()).toEqual(snap(1, 10));
    expect(logger.warnings[0]).toMatch(/not a snapshot file name/);
  });

  it("read reports a corrupt file with its path", async () => {
    const s = new Snapshotter(dir);
    await s.save(snap(1, 10));
    const path = join(dir, snapFileName(1, 10));
    const bytes = await readFile(path);
    bytes[3]! ^= 1;
    await writeFile(path, bytes);
    await expect(s.read(snapFileName(1, 10))).rejects.toSatisfy(
      (e) => e instanceof WalCorruptError && e.file === path,
    );
  });

  it("releaseSnapshots keeps the newest N and removes leftover temp files", async () => {
    const s = new Snapshotter(dir);
    for (let i = 1; i <= 5; i++) await s.save(snap(1, i * 10));
    await writeFile(join(dir, `${snapFileName(1, 60)}.tmp`), "half written");
    expect(await s.releaseSnapshots(2)).toEqual([
      snapFileName(1, 30),
      snapFileName(1, 20),
      snapFileName(1, 10),
    ]);
    expect((await readdir(dir)).sort()).toEqual([snapFileName(1, 40), snapFileName(1, 50)]);
    await expect(s.releaseSnapshots(0)).rejects.toBeInstanceOf(RangeError);
  });

  it("a crash at any point of a save leaves the old snapshot or the new one, never a broken one", async () => {
    const fs = new MemFileSystem();
    const s = new Snapshotter("/snap", { fs });
    await s.save(snap(1, 10));
    await fs.syncDir("/");
    let saved = false;
    let points = 0;
    const check = async (image: MemFileSystem) => {
      points++;
      const logger = captureLogger();
      const got = await new Snapshotter("/snap", { fs: image, logger }).load();
      expect(logger.warnings).toEqual([]);
      if (saved) expect(got).toEqual(snap(1, 20, "new".repeat(1000)));
      else expect([snap(1, 10), snap(1, 20, "new".repeat(1000))]).toContainEqual(got);
    };
    fs.hook = async (op: MemFsOp) => {
      for (const data of ["durable", "current"] as const) {
        for (const dirs of ["durable", "current"] as const) await check(fs.crashImage({ data, dirs }));
      }
      if (op.kind === "write") {
        for (let b = 1; b < op.data!.length; b += 512) {
          await check(fs.crashImage({ data: "current", dirs: "current", torn: { op, bytes: b } }));
        }
      }
    };
    await s.save(snap(1, 20, "new".repeat(1000)));
    fs.hook = undefined;
    saved = true;
    await check(fs.crashImage({ data: "durable", dirs: "durable" }));
    expect(points).toBeGreaterThan(20);
  });
});
