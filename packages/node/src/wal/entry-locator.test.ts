/**
 * Reading saved entries back from the WAL (WAL.readEntries), which serves a follower catching up
 * after a snapshot: across segment cuts, after an overwritten suffix, bounded by size, refused once
 * the segments are released; and read ahead of such a reader, so that it finds them in the page cache.
 */
import { join } from "node:path";
import { encodeEntry } from "@tsraft/raft/raftpb";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { ent, hs, tempDir } from "../../test/storage-helpers.js";
import { createNodeMetrics } from "../metrics.js";
import { frameSize } from "./record.js";
import { WAL } from "./wal.js";

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(() => tmp.cleanup());

const data = (i: number, t: number) => new Uint8Array(700).fill((i * 7 + t) % 251);

it("reads back what this run saved, across cuts and overwrites, until released", async () => {
  const w = await WAL.create(join(tmp.path, "wal"), new Uint8Array([1]), { segmentSize: 8 * 1024 });
  for (let i = 1; i <= 60; i += 3) {
    await w.save(
      hs(1, 1, i),
      [ent(i, 1, data(i, 1)), ent(i + 1, 1, data(i + 1, 1)), ent(i + 2, 1, data(i + 2, 1))],
      true,
    );
  }
  // A new leader in term 2 overwrites 50..62.
  await w.save(hs(2, 2, 49), [ent(50, 2, data(50, 2)), ent(51, 2, data(51, 2))], true);
  for (let i = 52; i <= 62; i++) await w.save(undefined, [ent(i, 2, data(i, 2))], false);
  expect(w.savedEntries()).toEqual({ first: 1, last: 62 });
  const all = w.readEntries(1, 63, Number.MAX_SAFE_INTEGER);
  expect(all.map((e) => e.index)).toEqual(Array.from({ length: 62 }, (_, k) => k + 1));
  for (const e of all)
    expect(e).toEqual(ent(e.index, e.index < 50 ? 1 : 2, data(e.index, e.index < 50 ? 1 : 2)));
  expect(w.savedTerm(49)).toBe(1);
  expect(w.savedTerm(50)).toBe(2);
  // A size limit: whole entries up to it, at least one.
  expect(w.readEntries(10, 40, 2000).length).toBe(2);
  expect(w.readEntries(10, 40, 1).length).toBe(1);

  // Released segments are forgotten (reading them throws); the rest still reads.
  await w.releaseLockTo(40);
  const left = w.savedEntries()!;
  expect(left.first).toBeGreaterThan(1);
  expect(left.last).toBe(62);
  expect(() => w.readEntries(1, 2, Number.MAX_SAFE_INTEGER)).toThrow(/not in the WAL's index/);
  expect(w.readEntries(left.first, 63, Number.MAX_SAFE_INTEGER).length).toBe(63 - left.first);
  await w.close();
  expect(w.savedEntries()).toBeUndefined();
});

it("reads ahead of a sequential reader, off the event loop, each byte once", async () => {
  const metrics = createNodeMetrics();
  const w = await WAL.create(join(tmp.path, "wal"), new Uint8Array([1]), {
    segmentSize: 4 * 1024 * 1024,
    metrics,
  });
  const value = new Uint8Array(16 * 1024).fill(3);
  const n = 1000;
  for (let i = 1; i <= n; i += 100) {
    await w.save(
      hs(1, 1, i),
      Array.from({ length: 100 }, (_, k) => ent(i + k, 1, value)),
      true,
    );
  }
  const aheadBytes = async () => (await metrics.walReadAheadBytes.get()).values[0]?.value ?? 0;
  const frameOf = (i: number) => frameSize(1 + encodeEntry(ent(i, 1, value)).length);
  let rest = 0; // the frames of entries 11..n
  for (let i = 11; i <= n; i++) rest += frameOf(i);

  // The first read starts one read-ahead of 8 MiB of frames after what it returned.
  expect(w.readEntries(1, 11, Number.MAX_SAFE_INTEGER)).toHaveLength(10);
  await vi.waitFor(async () => expect(await aheadBytes()).toBeGreaterThanOrEqual(8 * 1024 * 1024));
  const first = await aheadBytes();
  expect(first).toBeLessThan(8 * 1024 * 1024 + frameOf(n));
  const covered = Math.round(first / frameOf(n)); // entries 11 .. 10 + covered
  // Past its middle: the next one starts where it ended and runs to the last entry.
  const mid = 11 + Math.ceil(covered / 2);
  expect(w.readEntries(11, mid + 1, Number.MAX_SAFE_INTEGER)).toHaveLength(mid + 1 - 11);
  await vi.waitFor(async () => expect(await aheadBytes()).toBe(rest));
  // A reader still in the first half of that one starts nothing more: closing, which waits for a
  // read-ahead in flight, finds none.
  expect(w.readEntries(mid + 1, mid + 11, Number.MAX_SAFE_INTEGER)).toHaveLength(10);
  await w.close();
  expect(await aheadBytes()).toBe(rest);

  // Closing waits for a read-ahead in flight.
  const m2 = createNodeMetrics();
  const w2 = await WAL.create(join(tmp.path, "wal2"), new Uint8Array([1]), { metrics: m2 });
  await w2.save(
    hs(1, 1, 300),
    Array.from({ length: 300 }, (_, k) => ent(k + 1, 1, value)),
    true,
  );
  w2.readEntries(1, 2, Number.MAX_SAFE_INTEGER);
  await w2.close();
  let rest2 = 0;
  for (let i = 2; i <= 300; i++) rest2 += frameOf(i);
  expect((await m2.walReadAheadBytes.get()).values[0]?.value).toBe(rest2);
});
