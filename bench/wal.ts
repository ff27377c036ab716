/**
 * The WAL benchmark (issue 7, item 3): synced appends per second and MB/s for Readys of 1, 16 and
 * 256 entries of 128 B and 4 KiB, next to the raw fdatasync rate of the same directory measured in
 * the same run (the physical limit), and replay speed.
 *
 * `append-e<E>-<size>[-blocking]`: a WAL on the real file system (bench/disk.ts picks the
 * directory) saves N Readys in a row, each `save(hardState, E entries, mustSync = true)` awaited
 * before the next, as a node's Ready loop does: the HardState's commit advances every Ready, so each
 * save writes E entry frames plus a HardState frame in one write, then one fdatasync. Over
 * node:fs/promises by default; `-blocking` over `blockingNodeFileSystem` (writes and syncs as
 * blocking syscalls, no thread-pool round trips). Untimed before: 200 saves (the JIT, the first
 * preallocation). The timed saves run in {@link SLICES} slices, and between the slices, in the same
 * directory and process, raw loops write the same byte count per call at the end of a fresh sparse
 * file and fdatasync it: with blocking syscalls (`rawSyncPerSec`, the physical limit) and through
 * node:fs/promises (`rawAsyncPerSec`), N/2 calls of each in all. Interleaving matters on a disk
 * whose speed drifts (a VM's virtio disk with a rate limiter). One op = one synced save (a Ready);
 * `ratioToRaw` = saves/s ÷ rawSyncPerSec, the target being ≥ 0.8 at one entry per Ready.
 *
 * `replay-<size>`: N entries saved (untimed) in Readys of 256 without fsync, then a final sync and
 * close; timed: `WAL.open` + `readAll()` of the whole log, from the page cache (the files were just
 * written, as at a restart right after a stop; evicting them needs root). One op = one entry replayed.
 */
import { readdir } from "node:fs/promises";
import type { NodeMetrics } from "@tsraft/node";
import { blockingNodeFileSystem, createNodeMetrics, nodeFileSystem, WAL } from "@tsraft/node";
import { type Entry, EntryType, encodeHardState, entrySize, type HardState } from "@tsraft/raft/raftpb";
import { benchDir, type RawSyncRate, rateOf, rawAsyncLoop, rawSyncLoop } from "./disk.js";
import type { BenchCase, BenchFamily, BenchResult, Measurement } from "./lib.js";
import { findCase, latencyOf, measure, result, round3, sumMeasurements } from "./lib.js";

const KiB = 1024;
/** MB/s figures are in 10^6 bytes per second. */
const MB = 1e6;

/** How the WAL's files are written: node:fs/promises, or blocking syscalls (file-system.ts). */
type Io = "async" | "blocking";

interface AppendCase extends BenchCase {
  readonly kind: "append";
  readonly io: Io;
  readonly entries: number;
  readonly bytes: number;
  readonly defaultN: number;
}

interface ReplayCase extends BenchCase {
  readonly kind: "replay";
  readonly bytes: number;
  readonly defaultN: number;
}

type WalCase = AppendCase | ReplayCase;

const sizeName = (bytes: number): string => (bytes >= KiB ? `${bytes / KiB}KiB` : `${bytes}B`);

function appendCase(entries: number, bytes: number, defaultN: number, io: Io = "async"): AppendCase {
  return {
    kind: "append",
    io,
    id: `append-e${entries}-${sizeName(bytes)}${io === "blocking" ? "-blocking" : ""}`,
    params: { op: "WAL.save+fdatasync", entriesPerReady: entries, entryBytes: bytes, io },
    entries,
    bytes,
    defaultN,
  };
}

function replayCase(bytes: number, defaultN: number): ReplayCase {
  return {
    kind: "replay",
    id: `replay-${sizeName(bytes)}`,
    params: { op: "WAL.open+readAll", entryBytes: bytes, entriesPerReady: 256 },
    bytes,
    defaultN,
  };
}

// Default N: a few seconds per case on a disk doing ~10k small fdatasyncs/s.
const CASES: readonly WalCase[] = [
  appendCase(1, 128, 10_000),
  appendCase(16, 128, 5_000),
  appendCase(256, 128, 2_000),
  appendCase(1, 4 * KiB, 8_000),
  appendCase(16, 4 * KiB, 2_000),
  appendCase(256, 4 * KiB, 500),
  appendCase(1, 128, 10_000, "blocking"),
  appendCase(16, 128, 5_000, "blocking"),
  appendCase(256, 128, 2_000, "blocking"),
  appendCase(1, 4 * KiB, 8_000, "blocking"),
  appendCase(16, 4 * KiB, 2_000, "blocking"),
  appendCase(256, 4 * KiB, 500, "blocking"),
  replayCase(128, 1_000_000),
  replayCase(4 * KiB, 64_000),
];

const WARMUP_SAVES = 200;
const META = new TextEncoder().encode("bench");

/** A payload of `bytes` bytes (i mod 256), shared by every entry, as the core bench's. */
function payload(bytes: number): Uint8Array {
  const p = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) p[i] = i & 0xff;
  return p;
}

/** The Readys to save: `count` batches of `perReady` entries from index `first`, term 1. */
function makeReadys(first: number, count: number, perReady: number, data: Uint8Array): Entry[][] {
  const out: Entry[][] = [];
  let index = first;
  for (let r = 0; r < count; r++) {
    const ents: Entry[] = [];
    for (let i = 0; i < perReady; i++)
      ents.push({ term: 1, index: index++, type: EntryType.EntryNormal, data });
    out.push(ents);
  }
  return out;
}

/** WAL frame size of a record whose body (type byte + payload) is `body` bytes (record.ts). */
function frameSize(body: number): number {
  return ((12 + body) & ~7) + 8;
}

/** The bytes one save writes: its entry frames and its HardState frame. */
function readyBytes(ents: readonly Entry[], hs: HardState): number {
  let n = frameSize(1 + encodeHardState(hs).length);
  for (const e of ents) n += frameSize(1 + entrySize(e));
  return n;
}

async function counterValue(
  metrics: NodeMetrics,
  name: "walWriteBytes" | "walRecordsWritten",
): Promise<number> {
  return (await metrics[name].get()).values[0]?.value ?? 0;
}

/** Interleaved slices of the timed saves (see the module comment). */
const SLICES = 10;

async function runAppend(c: AppendCase, n: number, dirBase: string | undefined): Promise<BenchResult> {
  const dir = await benchDir("tsraft-bench-wal-", dirBase);
  try {
    const data = payload(c.bytes);
    const metrics = createNodeMetrics();
    const fs = c.io === "blocking" ? blockingNodeFileSystem : nodeFileSystem;
    const w = await WAL.create(`${dir.path}/wal`, META, { metrics, fs });
    const warm = makeReadys(1, WARMUP_SAVES, c.entries, data);
    let commit = 0;
    for (const ents of warm) {
      await w.save({ term: 1, vote: 1, commit }, ents, true);
      commit = ents[ents.length - 1]!.index;
    }
    const readys = makeReadys(commit + 1, n, c.entries, data);
    const perReady = readyBytes(readys[n >> 1]!, { term: 1, vote: 1, commit: commit + (n >> 1) * c.entries });

    const bytes0 = await counterValue(metrics, "walWriteBytes");
    const lat = new Float64Array(n);
    const slices: Measurement[] = [];
    const raw: RawSyncRate[] = [];
    const rawAsync: RawSyncRate[] = [];
    const rawLoops = async (count: number) => {
      raw.push(rawSyncLoop(dir.path, perReady, count));
      rawAsync.push(await rawAsyncLoop(dir.path, perReady, count));
    };
    let next = 0;
    for (let s = 0; s < SLICES; s++) {
      const end = Math.round((n * (s + 1)) / SLICES);
      const count = Math.max(1, (end - next) >> 1);
      if (s % 2 === 0) await rawLoops(count);
      slices.push(
        await measure(async () => {
          for (; next < end; next++) {
            const ents = readys[next]!;
            const t = performance.now();
            await w.save({ term: 1, vote: 1, commit }, ents, true);
            lat[next] = performance.now() - t;
            commit = ents[ents.length - 1]!.index;
          }
        }),
      );
      if (s % 2 === 1) await rawLoops(count);
    }
    const m = sumMeasurements(slices);
    const walBytes = (await counterValue(metrics, "walWriteBytes")) - bytes0;
    await w.close();

    const rawSync = rateOf(...raw);
    const secs = m.wallMs / 1000;
    const saves = n / secs;
    const entries = n * c.entries;
    return result(family.name, { id: c.id, params: { ...c.params, n } }, n, m, {
      counters: { readys: n, entries, payloadBytes: entries * c.bytes, walBytes, bytesPerRawSync: perReady },
      figures: {
        entriesPerSec: Math.round(entries / secs),
        payloadMBps: round3((entries * c.bytes) / MB / secs),
        writtenMBps: round3(walBytes / MB / secs),
        rawSyncPerSec: Math.round(rawSync),
        rawAsyncPerSec: Math.round(rateOf(...rawAsync)),
        ratioToRaw: round3(saves / rawSync),
      },
      latency: latencyOf(lat, "us", "one save (write + fdatasync)", 1e3, true),
      notes: [`dir ${dir.path} on ${dir.fsType}`],
    });
  } finally {
    await dir.cleanup();
  }
}

async function runReplay(c: ReplayCase, n: number, dirBase: string | undefined): Promise<BenchResult> {
  const dir = await benchDir("tsraft-bench-wal-", dirBase);
  try {
    const walDir = `${dir.path}/wal`;
    const data = payload(c.bytes);
    const metrics = createNodeMetrics();
    const w = await WAL.create(walDir, META, { metrics });
    const perReady = 256;
    let index = 1;
    while (index <= n) {
      const k = Math.min(perReady, n - index + 1);
      const ents = makeReadys(index, 1, k, data)[0]!;
      await w.save({ term: 1, vote: 1, commit: index - 1 }, ents, false);
      index += k;
    }
    await w.close(); // fdatasyncs the tail
    const walBytes = await counterValue(metrics, "walWriteBytes");

    const segments = (await readdir(walDir)).filter((f) => f.endsWith(".wal")).length;
    let replayed = 0;
    const m = await measure(async () => {
      const r = await WAL.open(walDir, { index: 0, term: 0 });
      const { entries } = await r.readAll();
      replayed = entries.length;
      await r.close();
    });
    if (replayed !== n) throw new Error(`replayed ${replayed} entries, saved ${n}`);
    const secs = m.wallMs / 1000;
    return result(family.name, { id: c.id, params: { ...c.params, n } }, n, m, {
      counters: { entries: n, walBytes, segments },
      figures: {
        walMBps: round3(walBytes / MB / secs),
        payloadMBps: round3((n * c.bytes) / MB / secs),
      },
      notes: [`dir ${dir.path} on ${dir.fsType}`, "replayed from the page cache (files just written)"],
    });
  } finally {
    await dir.cleanup();
  }
}

async function run(
  caseId: string,
  opts: { n?: number | undefined; dir?: string | undefined },
): Promise<BenchResult> {
  findCase(family, caseId);
  const c = CASES.find((x) => x.id === caseId)!;
  const n = opts.n ?? c.defaultN;
  return c.kind === "append" ? runAppend(c, n, opts.dir) : runReplay(c, n, opts.dir);
}

/** The wal family: synced appends next to the raw fdatasync rate, and replay. */
export const family: BenchFamily = {
  name: "wal",
  summary: "WAL synced appends/s and MB/s vs the raw fdatasync rate of the same directory; replay MB/s",
  cases: () => CASES.map((c) => ({ id: c.id, params: c.params })),
  run,
};
