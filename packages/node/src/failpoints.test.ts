import type { Snapshot } from "@tsraft/raft/raftpb";
import { describe, expect, it } from "vitest";
import { ent, hs } from "../test/storage-helpers.js";
import {
  type CrashFn,
  type FailpointName,
  failpointFileSystem,
  fileSystemFromEnv,
  parseFailpoints,
} from "./failpoints.js";
import { MemFileSystem } from "./mem-fs.js";
import { Snapshotter } from "./snap/snapshotter.js";
import { isWalError } from "./wal/errors.js";
import { WAL } from "./wal/wal.js";

const META = new TextEncoder().encode("node=1");

/** A crash that records where it happened and aborts the operation, as a SIGKILL would. */
class Crashed extends Error {
  constructor(readonly point: FailpointName) {
    super(`crashed at ${point}`);
  }
}
const crash: CrashFn = (point) => {
  throw new Crashed(point);
};
/** The WAL wraps what its file system throws (fail-stop); a simulated crash is found in the causes. */
const crashed = (e: unknown): boolean => {
  for (let c = e; c instanceof Error; c = c.cause) if (c instanceof Crashed) return true;
  return false;
};

const snap = (index: number): Snapshot => ({
  data: new TextEncoder().encode(`state ${index}`),
  metadata: {
    term: 1,
    index,
    confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
  },
});

/** The indexes of the entries the WAL at /wal holds after a crash of `mem` (what was durable). */
async function durableIndexes(mem: MemFileSystem): Promise<number[]> {
  const image = mem.crashImage({ data: "durable", dirs: "durable" });
  const r = await (await WAL.open("/wal", { index: 0, term: 0 }, { fs: image })).readAll();
  return r.entries.map((e) => e.index);
}

describe("parseFailpoints", () => {
  it("parses points, actions, counts and stickiness", () => {
    expect(parseFailpoints("wal-before-fsync=crash@5; wal-write=enospc@3+;snap-after-save=eio")).toEqual([
      { name: "wal-before-fsync", action: "crash", at: 5, sticky: false },
      { name: "wal-write", action: "enospc", at: 3, sticky: true },
      { name: "snap-after-save", action: "eio", at: 1, sticky: false },
    ]);
    expect(parseFailpoints("")).toEqual([]);
  });

  it("refuses what it does not know", () => {
    expect(() => parseFailpoints("wal-fsync=crash")).toThrow(/unknown point/);
    expect(() => parseFailpoints("wal-write=explode")).toThrow(/unknown action/);
    expect(() => parseFailpoints("wal-write=crash@0")).toThrow(/bad count/);
    expect(() => parseFailpoints("wal-write crash")).toThrow(/cannot parse/);
  });
});

describe("fileSystemFromEnv", () => {
  it("returns the base file system itself when TSRAFT_FAILPOINTS is unset or empty (zero cost)", () => {
    const base = new MemFileSystem();
    expect(fileSystemFromEnv(base, {})).toBe(base);
    expect(fileSystemFromEnv(base, { TSRAFT_FAILPOINTS: " " })).toBe(base);
  });
});

describe("failpoints on a real WAL and snapshotter", () => {
  it("wal-before-fsync crashes before the N-th fdatasync: that save is not durable", async () => {
    const mem = new MemFileSystem();
    await (await WAL.create("/wal", META, { fs: mem })).close();
    // Count fsyncs from the reopened log on.
    const fs = failpointFileSystem(mem, parseFailpoints("wal-before-fsync=crash@2"), crash);
    const w2 = await WAL.open("/wal", { index: 0, term: 0 }, { fs });
    await w2.readAll();
    await w2.save(hs(1, 1, 0), [ent(1, 1)], true); // fsync #1
    await expect(w2.save(hs(1, 1, 1), [ent(2, 1)], true)).rejects.toSatisfy(crashed);
    expect(await durableIndexes(mem)).toEqual([1]);
  });

  it("wal-after-fsync crashes once the save is durable", async () => {
    const mem = new MemFileSystem();
    const fs = failpointFileSystem(mem, parseFailpoints("wal-after-fsync=crash@2"), crash);
    const w = await WAL.create("/wal", META, { fs }); // fsync #1 (the new segment)
    await expect(w.save(hs(1, 1, 0), [ent(1, 1)], true)).rejects.toSatisfy(crashed);
    expect(await durableIndexes(mem)).toEqual([1]);
  });

  it("wal-write=enospc@N+ fails the N-th write on and makes the WAL fail-stop", async () => {
    const mem = new MemFileSystem();
    const w = await WAL.create("/wal", META, { fs: mem });
    await w.close();
    const fs = failpointFileSystem(mem, parseFailpoints("wal-write=enospc@2+"), crash);
    const o = await WAL.open("/wal", { index: 0, term: 0 }, { fs });
    await o.readAll();
    await o.save(hs(1, 1, 0), [ent(1, 1)], true);
    const err = await o.save(hs(1, 1, 0), [ent(2, 1)], true).catch((e: unknown) => e);
    expect(String(err)).toMatch(/ENOSPC/);
    await expect(o.save(hs(1, 1, 0), [ent(3, 1)], true)).rejects.toSatisfy((e) => isWalError(e, "Failed"));
  });

  it("snap-before-save crashes with the snapshot unpublished, snap-after-save with it published", async () => {
    for (const [point, expected] of [
      ["snap-before-save", []],
      ["snap-after-save", ["0000000000000001-0000000000000007.snap"]],
    ] as const) {
      const mem = new MemFileSystem();
      const fs = failpointFileSystem(mem, parseFailpoints(`${point}=crash`), crash);
      await expect(new Snapshotter("/snap", { fs }).save(snap(7))).rejects.toSatisfy(crashed);
      const names = (await mem.readdir("/snap")).filter((n) => n.endsWith(".snap"));
      expect(names, point).toEqual(expected);
    }
  });

  it("a non-sticky failpoint fires once; other files are untouched", async () => {
    const mem = new MemFileSystem();
    const fs = failpointFileSystem(mem, parseFailpoints("wal-write=eio@1"), crash);
    const fh = await fs.open("/notes.txt", "create");
    await fh.write(new Uint8Array([1]), 0, 1, 0); // not a WAL file: no hit
    const w = await WAL.create("/wal", META, { fs }).catch((e: unknown) => e);
    expect(String(w)).toMatch(/EIO/);
    const w2 = await WAL.create("/wal2", META, { fs });
    await w2.save(hs(1, 1, 0), [ent(1, 1)], true);
  });
});
