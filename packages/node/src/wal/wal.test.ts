import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ent, ents, hs, tempDir } from "../../test/storage-helpers.js";
import { createNodeMetrics } from "../metrics.js";
import { isWalError, WalCorruptError } from "./errors.js";
import { parseSegmentName } from "./segment.js";
import { WAL } from "./wal.js";

const META = new TextEncoder().encode("node=1 cluster=7");
const EMPTY_CS = { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

let tmp: { path: string; cleanup: () => Promise<void> };
let dir: string;
beforeEach(async () => {
  tmp = await tempDir();
  dir = join(tmp.path, "wal");
});
afterEach(async () => {
  await tmp.cleanup();
});

async function reopen(at = { index: 0, term: 0 }, segmentSize?: number) {
  const w = await WAL.open(dir, at, segmentSize === undefined ? {} : { segmentSize });
  const r = await w.readAll();
  return { w, r };
}

const segmentsIn = async (d: string) => (await readdir(d)).filter((n) => n.endsWith(".wal")).sort();

describe("WAL create/save/open/readAll", () => {
  it("replays metadata, the last HardState and the entries saved", async () => {
    const w = await WAL.create(dir, META);
    await w.save(hs(1, 1, 0), [ent(1, 1), ent(2, 1)], true);
    await w.save(hs(1, 1, 2), [], false);
    await w.save(undefined, [ent(3, 1, new Uint8Array(5000).fill(7))], true);
    await w.close();

    const { w: w2, r } = await reopen();
    expect(r.metadata).toEqual(META);
    expect(r.hardState).toEqual(hs(1, 1, 2));
    expect(r.entries).toEqual([ent(1, 1), ent(2, 1), ent(3, 1, new Uint8Array(5000).fill(7))]);
    expect(r.snapshots).toEqual([{ index: 0, term: 0, confState: EMPTY_CS }]);
    expect(r.repairedFrom).toBeUndefined();
    await w2.close();
    expect(await segmentsIn(dir)).toEqual(["0000000000000000-0000000000000000.wal"]);
  });

  it("continues the log after a reopen (the crc chain carries on)", async () => {
    const w = await WAL.create(dir, META);
    await w.save(hs(1, 0, 0), [ent(1, 1)], true);
    await w.close();
    for (let i = 2; i <= 4; i++) {
      const { w: wi } = await reopen();
      await wi.save(hs(1, 0, i - 1), [ent(i, 1)], true);
      await wi.close();
    }
    const { w: w5, r } = await reopen();
    expect(r.entries.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    expect(r.hardState).toEqual(hs(1, 0, 3));
    await w5.close();
  });

  it("later entries overwrite conflicting earlier ones (Raft figure 7), dropping the old suffix", async () => {
    const w = await WAL.create(dir, META);
    await w.save(hs(1, 1, 1), ents(1, 5, 1), true);
    await w.save(hs(2, 2, 1), [ent(3, 2), ent(4, 2)], true);
    await w.close();
    const { w: w2, r } = await reopen();
    expect(r.entries).toEqual([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2)]);
    await w2.close();
  });

  it("refuses a log whose entries leave a gap", async () => {
    const w = await WAL.create(dir, META);
    await w.save(hs(1, 1, 0), [ent(1, 1), ent(2, 1)], true);
    await w.save(undefined, [ent(4, 1)], true);
    await w.close();
    const w2 = await WAL.open(dir, { index: 0, term: 0 });
    await expect(w2.readAll()).rejects.toThrow(/entry 4 leaves a gap after index 2/);
    await w2.close().catch(() => {});
  });

  it("refuses to create over an existing WAL, and opening a missing one is NotFound", async () => {
    const w = await WAL.create(dir, META);
    await w.close();
    expect(await WAL.exists(dir)).toBe(true);
    await expect(WAL.create(dir, META)).rejects.toSatisfy((e) => isWalError(e, "Exists"));
    expect(await WAL.exists(join(tmp.path, "nope"))).toBe(false);
    await expect(WAL.open(join(tmp.path, "nope"), { index: 0, term: 0 })).rejects.toSatisfy((e) =>
      isWalError(e, "NotFound"),
    );
    expect(await readdir(tmp.path)).toEqual(["wal"]); // no wal.tmp left behind
  });

  it("rejects appends before readAll and every call after close", async () => {
    const w = await WAL.create(dir, META);
    await w.close();
    await expect(w.save(hs(1, 0, 0), [], true)).rejects.toSatisfy((e) => isWalError(e, "Usage"));
    const w2 = await WAL.open(dir, { index: 0, term: 0 });
    await expect(w2.save(hs(1, 0, 0), [ent(1, 1)], true)).rejects.toSatisfy((e) => isWalError(e, "Usage"));
    await w2.readAll();
    await expect(w2.readAll()).rejects.toSatisfy((e) => isWalError(e, "Usage"));
    await w2.close();
  });

  it("updates the WAL metrics", async () => {
    const metrics = createNodeMetrics();
    const w = await WAL.create(dir, META, { metrics });
    await w.save(hs(1, 1, 0), [ent(1, 1), ent(2, 1)], true);
    await w.save(hs(1, 1, 1), [], false);
    await w.close();
    const get = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values;
    expect((await get("tsraft_wal_records_total"))[0]!.value).toBe(4);
    expect((await get("tsraft_wal_write_bytes_total"))[0]!.value).toBeGreaterThan(0);
    const fsyncCount = (await metrics.walFsyncSeconds.get()).values.find((v) =>
      (v as { metricName?: string }).metricName?.endsWith("_count"),
    );
    expect(fsyncCount?.value).toBe(2); // the mustSync save and close
  });
});

describe("segments", () => {
  it("cuts segments at the segment size, names them by first index, and replays across them", async () => {
    const w = await WAL.create(dir, META, { segmentSize: 4096 });
    for (let i = 1; i <= 60; i++)
      await w.save(hs(1, 1, i - 1), [ent(i, 1, new Uint8Array(300).fill(i))], true);
    // The next segment is preallocated while the WAL is open.
    expect((await readdir(dir)).some((n) => n.endsWith(".tmp"))).toBe(true);
    await w.close();
    expect((await readdir(dir)).some((n) => n.endsWith(".tmp"))).toBe(false);

    const names = await segmentsIn(dir);
    expect(names.length).toBeGreaterThan(3);
    const parsed = names.map((n) => parseSegmentName(n)!);
    expect(parsed.map((s) => s.seq)).toEqual(parsed.map((_, i) => i));
    for (let i = 1; i < parsed.length; i++) expect(parsed[i]!.index).toBeGreaterThan(parsed[i - 1]!.index);
    // Every closed segment was cut at or after the size, and truncated to its records.
    for (const n of names.slice(0, -1))
      expect((await readFile(join(dir, n))).length).toBeGreaterThanOrEqual(4096);

    const { w: w2, r } = await reopen({ index: 0, term: 0 }, 4096);
    expect(r.entries.map((e) => e.index)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(r.hardState).toEqual(hs(1, 1, 59));
    await w2.close();
  });

  it("opens at a snapshot marker, replays only what follows, and checks the marker's term", async () => {
    const w = await WAL.create(dir, META, { segmentSize: 4096 });
    for (let i = 1; i <= 40; i++) await w.save(hs(2, 1, i), [ent(i, 2, new Uint8Array(200))], true);
    const cs = { ...EMPTY_CS, voters: [1, 2, 3] };
    await w.saveSnapshot({ index: 30, term: 2, confState: cs });
    for (let i = 41; i <= 45; i++) await w.save(hs(2, 1, i), [ent(i, 2)], true);
    await w.close();

    const { w: w2, r } = await reopen({ index: 30, term: 2 });
    expect(r.entries.map((e) => e.index)).toEqual([
      31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45,
    ]);
    expect(r.snapshots.at(-1)).toEqual({ index: 30, term: 2, confState: cs });
    await w2.close();

    const w3 = await WAL.open(dir, { index: 30, term: 3 });
    await expect(w3.readAll()).rejects.toSatisfy((e) => isWalError(e, "SnapshotMismatch"));
    await w3.close().catch(() => {});
    const w4 = await WAL.open(dir, { index: 31, term: 2 });
    await expect(w4.readAll()).rejects.toSatisfy((e) => isWalError(e, "SnapshotNotFound"));
    await w4.close().catch(() => {});
    expect((await WAL.readSnapshotMarkers(dir)).map((m) => m.index)).toEqual([0, 30]);
  });

  it("readSnapshotMarkers only lists markers at or below the saved commit index", async () => {
    const w = await WAL.create(dir, META);
    await w.save(hs(1, 1, 3), ents(1, 5, 1), true);
    await w.saveSnapshot({ index: 3, term: 1, confState: EMPTY_CS });
    await w.saveSnapshot({ index: 5, term: 1, confState: EMPTY_CS }); // beyond commit: not yet loadable
    await w.close();
    expect((await WAL.readSnapshotMarkers(dir)).map((m) => m.index)).toEqual([0, 3]);
  });

  it("releaseLockTo deletes the segments before the snapshot's, keeping one more (etcd's rule)", async () => {
    const w = await WAL.create(dir, META, { segmentSize: 2048 });
    for (let i = 1; i <= 50; i++) await w.save(hs(1, 1, i), [ent(i, 1, new Uint8Array(300))], true);
    const before = (await segmentsIn(dir)).map((n) => parseSegmentName(n)!);
    await w.saveSnapshot({ index: 40, term: 1, confState: EMPTY_CS });
    await w.releaseLockTo(40);
    const after = (await segmentsIn(dir)).map((n) => parseSegmentName(n)!);
    // Kept: from the segment before the first one starting at or after index 40.
    const firstAtOrAfter = before.findIndex((s) => s.index >= 40);
    expect(after).toEqual(before.slice(firstAtOrAfter - 1));
    expect(after[0]!.index).toBeLessThan(40);
    await w.close();

    const { w: w2, r } = await reopen({ index: 40, term: 1 }, 2048);
    expect(r.entries.map((e) => e.index)).toEqual([41, 42, 43, 44, 45, 46, 47, 48, 49, 50]);
    await w2.close();
    await expect(WAL.open(dir, { index: 0, term: 0 })).rejects.toSatisfy((e) => isWalError(e, "NotFound"));
    // The markers still on disk: the released segments held the zero snapshot's.
    expect((await WAL.readSnapshotMarkers(dir)).map((m) => m.index)).toEqual([40]);
  });

  it("releaseLockTo also deletes older segments this WAL was not opened with", async () => {
    const w = await WAL.create(dir, META, { segmentSize: 2048 });
    for (let i = 1; i <= 30; i++) await w.save(hs(1, 1, i), [ent(i, 1, new Uint8Array(300))], true);
    await w.saveSnapshot({ index: 20, term: 1, confState: EMPTY_CS });
    await w.close();
    const before = (await segmentsIn(dir)).map((n) => parseSegmentName(n)!);
    const { w: w2 } = await reopen({ index: 20, term: 1 }, 2048);
    for (let i = 31; i <= 60; i++) await w2.save(hs(1, 1, i), [ent(i, 1, new Uint8Array(300))], true);
    await w2.saveSnapshot({ index: 55, term: 1, confState: EMPTY_CS });
    await w2.releaseLockTo(55);
    await w2.close();
    const after = (await segmentsIn(dir)).map((n) => parseSegmentName(n)!);
    // w2 held segments from the one covering index 20; those before it went too.
    const openedAt = before.filter((s) => s.index <= 20).at(-1)!.seq;
    expect(openedAt).toBeGreaterThan(0);
    expect(after[0]!.seq).toBeGreaterThan(openedAt);
    expect(after.map((s) => s.seq)).toEqual(after.map((_, i) => after[0]!.seq + i));
    const { w: w3, r } = await reopen({ index: 55, term: 1 }, 2048);
    expect(r.entries.map((e) => e.index)).toEqual([56, 57, 58, 59, 60]);
    await w3.close();
  });

  it("refuses a segment file name that is not of the exact form", async () => {
    const w = await WAL.create(dir, META);
    await w.close();
    await writeFile(join(dir, "0000000000000001-0000000000000001.WAL.wal"), "x");
    await expect(WAL.open(dir, { index: 0, term: 0 })).rejects.toBeInstanceOf(WalCorruptError);
  });
});
