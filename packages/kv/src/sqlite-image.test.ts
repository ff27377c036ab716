/**
 * The SQLite state machine's images: snapshots read while writes go on, restores that are atomic
 * across a crash at every step, bad images refused with the old state kept, snapshot lifetimes, and
 * memory that stays bounded whatever the store's size.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type ApplyEntry, newRandom } from "@tsraft/raft";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { b, crashCopy, del, imageOf, openSm, put, tempDir, text, useSqliteKit } from "../test/sqlite-kit.js";
import type { SqliteSnapshot } from "./sqlite-snapshot.js";
import { DB_FILE, type RestoreStep } from "./sqlite-state-machine.js";

useSqliteKit();

const SEED = 0x5eed13;

/** A random log of puts (values up to 2 KiB), overwrites and deletes over 200 keys, entries 1..n. */
function randomLog(seed: number, n: number): ApplyEntry[] {
  const rand = newRandom(seed);
  const log: ApplyEntry[] = [];
  for (let i = 1; i <= n; i++) {
    const key = `key-${Math.floor(rand() * 200)}`;
    if (rand() < 0.15) log.push(del(i, key));
    else log.push(put(i, key, Buffer.alloc(Math.floor(rand() * 2048), i & 0xff)));
  }
  return log;
}

const STEPS: RestoreStep[] = ["built", "checkpointed", "closed", "renamed", "reopened", "done"];
const isAfterRename = (step: RestoreStep) => STEPS.indexOf(step) >= STEPS.indexOf("renamed");

/** A source state (the image's) and the log of another state to restore it over. */
async function fixtures() {
  const src = openSm(tempDir());
  await src.apply(randomLog(SEED, 80));
  const image = await imageOf(src);
  const oldLog = randomLog(SEED + 1, 50);
  const oldHash = (() => {
    const ref = openSm(tempDir());
    ref.apply(oldLog);
    return ref.stateHash();
  })();
  return { image, newHash: src.stateHash(), oldLog, oldHash };
}

describe("SqliteStateMachine images", () => {
  it("an image read while writes continue is the state at its index", async () => {
    const log = randomLog(SEED, 900);
    // Small chunks and a tiny checkpoint threshold: many chunks, checkpoints while the reader is open.
    const src = openSm(tempDir(), {
      commitIntervalMs: 0,
      imageChunkBytes: 4096,
      walCheckpointBytes: 32 * 1024,
    });
    await src.apply(log.slice(0, 300));
    const snap = await src.snapshot();
    expect(snap.index).toBe(300);
    const atSnapshot = src.stateHash();
    let next = 300;
    const chunks: Uint8Array[] = [];
    for await (const c of snap.read()) {
      chunks.push(c);
      if (next < log.length) {
        await src.apply(log.slice(next, next + 20));
        next += 20;
      }
    }
    snap.release();
    expect(next, "writes went on during the read").toBeGreaterThan(500);
    expect(src.stateHash().hash).not.toBe(atSnapshot.hash);

    const dst = openSm(tempDir());
    await dst.restore(300, chunks);
    expect(dst.stateHash()).toEqual(atSnapshot);
    // The same as a state machine that applied exactly entries 1..300.
    const ref = openSm(tempDir());
    await ref.apply(log.slice(0, 300));
    expect(ref.stateHash()).toEqual(atSnapshot);
  });

  it("restore is atomic across a crash at every step: the old state before the rename, the new one after", async () => {
    const { image, newHash, oldLog, oldHash } = await fixtures();
    const dir = tempDir();
    const copies: [RestoreStep, string][] = [];
    const dst = openSm(dir, {
      commitIntervalMs: 0,
      onRestoreStep: (step) => copies.push([step, crashCopy(dir)]),
    });
    await dst.apply(oldLog);
    await dst.restore(image.index, image.chunks);
    expect(dst.stateHash()).toEqual(newHash);
    expect(copies.map(([s]) => s)).toEqual(STEPS);
    for (const [step, copy] of copies) {
      const sm = openSm(copy);
      const want = isAfterRename(step) ? newHash : oldHash;
      expect(sm.stateHash(), `crash at ${step}`).toEqual(want);
      expect(
        readdirSync(copy).filter((f) => f.includes(".restore")),
        `temp files at ${step}`,
      ).toEqual([]);
      await sm.apply([put(want.appliedIndex + 1, "after", "the crash")]);
      expect(text(sm.get(b("after")))).toBe("the crash");
    }
  });

  it("restore failing at any step leaves a working state machine with the old state or the new one", async () => {
    const { image, newHash, oldLog, oldHash } = await fixtures();
    for (const step of STEPS) {
      const dir = tempDir();
      const dst = openSm(dir, {
        commitIntervalMs: 0,
        onRestoreStep: (s) => {
          if (s === step) throw new Error(`injected failure at ${s}`);
        },
      });
      await dst.apply(oldLog);
      await expect(dst.restore(image.index, image.chunks)).rejects.toThrow(`injected failure at ${step}`);
      const want = isAfterRename(step) ? newHash : oldHash;
      expect(dst.stateHash(), `failure at ${step}`).toEqual(want);
      expect(existsSync(join(dir, `${DB_FILE}.restore`))).toBe(false);
      await dst.apply([put(want.appliedIndex + 1, "after", "the failure")]);
      dst.close();
      const again = openSm(dir);
      expect(again.appliedIndex(), `reopened after a failure at ${step}`).toBe(want.appliedIndex + 1);
      expect(text(again.get(b("after")))).toBe("the failure");
    }
  });

  it("refuses truncated, corrupt and failing images, keeping the old state (uncommitted entries included)", async () => {
    const { image, newHash } = await fixtures();
    const whole = Buffer.concat(image.chunks);
    const corrupt = Buffer.from(whole);
    corrupt[Math.floor(whole.length / 2)]! ^= 0x10;
    async function* failing() {
      yield whole.subarray(0, 1000);
      throw new Error("the leader went away");
    }
    const cases: [string, AsyncIterable<Uint8Array> | Uint8Array[], RegExp][] = [
      ["empty", [], /truncated: the input ended inside the header/],
      ["cut in the middle", [whole.subarray(0, whole.length >> 1)], /truncated/],
      [
        "without its last byte",
        [whole.subarray(0, -1)],
        /truncated: the input ended inside the trailer's checksum/,
      ],
      ["with a byte flipped", [corrupt], /kv image: /],
      ["with a byte more", [whole, Buffer.of(0)], /bytes after the trailer/],
      ["whose source fails", failing(), /the leader went away/],
    ];
    const dir = tempDir();
    const dst = openSm(dir, { commitIntervalMs: 60_000 });
    await dst.apply([put(1, "mine", "1"), put(2, "mine2", "2")]); // applied, not committed
    const before = dst.stateHash();
    for (const [name, source, message] of cases) {
      await expect(dst.restore(image.index, source), name).rejects.toThrow(message);
      expect(dst.stateHash(), name).toEqual(before);
      expect(
        readdirSync(dir).filter((f) => f.includes(".restore")),
        name,
      ).toEqual([]);
    }
    await dst.apply([put(3, "mine3", "3")]);
    expect(dst.appliedIndex()).toBe(3);
    await dst.restore(image.index, image.chunks);
    expect(dst.stateHash()).toEqual(newHash);
  });

  it("a snapshot's read transaction ends with its release (abandoned, or never read) or with the image", async () => {
    const dir = tempDir();
    const sm = openSm(dir, { commitIntervalMs: 0, imageChunkBytes: 1024 });
    for (let i = 1; i <= 40; i++) await sm.apply([put(i, `k${i}`, Buffer.alloc(500, i))]);
    const other = new Database(join(dir, DB_FILE), { timeout: 0 });
    try {
      // A TRUNCATE checkpoint must wait for every reader of the WAL: busy while a snapshot is held.
      const truncate = () => (other.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[])[0]!.busy;
      expect(truncate()).toBe(0);
      const modes = ["never read", "abandoned", "read to the end"] as const;
      for (const [i, mode] of modes.entries()) {
        await sm.apply([put(41 + i, "more", mode)]); // a frame the reader does not see
        const snap = (await sm.snapshot()) as SqliteSnapshot;
        await snap.pinned;
        await sm.apply([put(44 + i, "more", `${mode} after`)]);
        if (mode === "abandoned") {
          for await (const _ of snap.read()) break;
        } else if (mode === "read to the end") {
          for await (const _ of snap.read()) {
          }
          // The worker ends its read transaction with the image.
          await snap.closed;
          expect(truncate(), `${mode}: over`).toBe(0);
          snap.release();
          continue;
        }
        expect(truncate(), `${mode}: held`).toBe(1);
        snap.release();
        snap.release(); // idempotent
        await snap.closed;
        expect(truncate(), `${mode}: released`).toBe(0);
      }
    } finally {
      other.close();
    }
  });

  it("a snapshot is read once, and not after its release or a restore", async () => {
    const { image } = await fixtures();
    const sm = openSm(tempDir(), { commitIntervalMs: 0, imageChunkBytes: 1024 });
    await sm.apply(randomLog(SEED + 2, 60));
    const once = await sm.snapshot();
    once.read();
    expect(() => once.read()).toThrow(/read\(\) called twice/);
    once.release();

    const released = await sm.snapshot();
    const it1 = released.read()[Symbol.asyncIterator]();
    await it1.next();
    released.release();
    await expect(it1.next()).rejects.toThrow(/released/);

    const replaced = await sm.snapshot();
    const it2 = replaced.read()[Symbol.asyncIterator]();
    await it2.next();
    await sm.restore(image.index, image.chunks);
    await expect(it2.next()).rejects.toThrow(/restored from another image/);
    replaced.release();
  });

  it("sync after a restore covers the restored state", async () => {
    const { image, newHash } = await fixtures();
    const dir = tempDir();
    const dst = openSm(dir, { commitIntervalMs: 60_000 });
    await dst.apply([put(1, "x", "1")]);
    await dst.restore(image.index, image.chunks);
    await dst.apply([put(image.index + 1, "y", "2")]);
    expect(await dst.sync()).toBe(image.index + 1);
    const crashed = openSm(crashCopy(dir));
    expect(crashed.appliedIndex()).toBe(image.index + 1);
    expect(text(crashed.get(b("y")))).toBe("2");
    expect(crashed.stateHash().keys).toBe(newHash.keys + 1);
  });
});

/**
 * Store size of the memory test, in MB of 16 KiB values. The default keeps the test near 10 s on a
 * small machine and is already several times the bound; TSRAFT_KV_IMAGE_MB=300 is the size of
 * issue 13's report.
 */
const IMAGE_MB = Number(process.env.TSRAFT_KV_IMAGE_MB ?? 160);
/**
 * What producing or restoring may add to the RSS, whatever the store's size: producing runs a worker
 * thread (its isolate and SQLite cache, ~10 MiB) and moves 512 KiB chunks to the event loop's
 * thread, where they are freed at its next collection, which V8 starts after ~64 MiB of such
 * external memory (measured here: +104 MiB for a 160 MB store, +116 MiB for a 480 MB one).
 */
const RSS_BOUND = 160 * 1024 * 1024;

describe("SqliteStateMachine image memory", () => {
  it(`produces and restores the image of a ${IMAGE_MB} MB store with RSS growing by less than 160 MiB`, async () => {
    const srcDir = tempDir();
    const src = openSm(srcDir, { commitEntries: 2000 });
    const value = Buffer.alloc(16 * 1024);
    const n = Math.ceil((IMAGE_MB * 1e6) / value.length);
    const buildStart = performance.now();
    for (let i = 1; i <= n; i += 64) {
      const batch: ApplyEntry[] = [];
      for (let j = i; j < Math.min(i + 64, n + 1); j++) {
        value.writeUInt32BE(j, 0);
        batch.push(put(j, `key-${String(j).padStart(8, "0")}`, value));
      }
      await src.apply(batch);
    }
    src.commit();
    const buildMs = performance.now() - buildStart;
    const fileBytes = (f: string) => (existsSync(join(srcDir, f)) ? statSync(join(srcDir, f)).size : 0);
    const dbBytes = fileBytes(DB_FILE) + fileBytes(`${DB_FILE}-wal`);

    const loop = monitorEventLoopDelay({ resolution: 1 });
    const measure = async (what: string, run: (sample: () => void) => Promise<number>) => {
      globalThis.gc?.();
      const base = process.memoryUsage.rss();
      let peak = base;
      const sample = () => {
        peak = Math.max(peak, process.memoryUsage.rss());
      };
      const timer = setInterval(sample, 5);
      loop.reset();
      loop.enable();
      const start = performance.now();
      const elu0 = performance.eventLoopUtilization();
      try {
        const bytes = await run(sample);
        const elu = Math.round(performance.eventLoopUtilization(elu0).utilization * 1000) / 1000;
        return { what, bytes, ms: Math.round(performance.now() - start), base, peak, elu };
      } finally {
        loop.disable();
        clearInterval(timer);
        sample();
      }
    };

    const produce = await measure("produce", async (sample) => {
      const snap = await src.snapshot();
      let bytes = 0;
      for await (const c of snap.read()) {
        bytes += c.length;
        sample();
      }
      snap.release();
      return bytes;
    });
    const produceLoopMaxMs = loop.max / 1e6;

    const stepAt = new Map<string, number>();
    const dst = openSm(tempDir(), { onRestoreStep: (step) => stepAt.set(step, performance.now()) });
    await dst.apply([put(1, "old", "state")]);
    const restore = await measure("restore", async (sample) => {
      const snap = await src.snapshot();
      let bytes = 0;
      async function* tap() {
        for await (const c of snap.read()) {
          bytes += c.length;
          sample();
          yield c;
        }
      }
      try {
        await dst.restore(snap.index, tap());
      } finally {
        snap.release();
      }
      return bytes;
    });
    const restoreLoopMaxMs = loop.max / 1e6;
    const mib = (x: number) => Math.round((x / 1024 / 1024) * 10) / 10;
    console.log(
      JSON.stringify({
        test: "kv-image-memory",
        storeMB: IMAGE_MB,
        records: n,
        dbMiB: mib(dbBytes),
        buildMs: Math.round(buildMs),
        imageMiB: mib(produce.bytes),
        produceMs: produce.ms,
        produceRssBaseMiB: mib(produce.base),
        produceRssPeakMiB: mib(produce.peak),
        produceRssGrowthMiB: mib(produce.peak - produce.base),
        produceLoopMaxMs,
        produceLoopUtilization: produce.elu,
        restoreMs: restore.ms,
        restoreRssBaseMiB: mib(restore.base),
        restoreRssPeakMiB: mib(restore.peak),
        restoreRssGrowthMiB: mib(restore.peak - restore.base),
        restoreLoopMaxMs,
        // The synchronous part of the swap: close, remove -wal/-shm, rename, reopen.
        restoreSwapMs:
          Math.round(((stepAt.get("reopened") ?? 0) - (stepAt.get("checkpointed") ?? 0)) * 100) / 100,
      }),
    );
    expect(produce.bytes).toBeGreaterThan(IMAGE_MB * 1e6);
    // A worker thread produces (image-worker.ts): read as fast as possible, the image still leaves
    // most of the event loop idle, for the writes a leader serves.
    expect(produce.elu, "event loop utilization while producing").toBeLessThan(0.4);
    expect(restore.bytes).toBe(produce.bytes);
    expect(produce.peak - produce.base).toBeLessThan(RSS_BOUND);
    expect(restore.peak - restore.base).toBeLessThan(RSS_BOUND);
    expect(dst.appliedIndex()).toBe(n);
    expect(dst.count()).toBe(n);
    expect(dst.stateHash()).toEqual(src.stateHash());
  }, 600_000);
});
