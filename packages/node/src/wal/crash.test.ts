/**
 * Crash consistency. A seeded workload (HardState changes, entry batches of varied sizes, conflicting
 * rewrites of the uncommitted tail, mustSync true and false, segment cuts with a small segment size,
 * snapshot markers and releaseLockTo) runs on an in-memory disk that sees every operation. Before each
 * write, fsync, truncate, rename, unlink and directory sync, the test "crashes": it builds the disk a
 * crash would leave (what was fsynced; or everything written so far; with directory changes synced
 * or not; or a torn prefix of the write about to happen, at every 512-byte step of it and at every
 * sector boundary it crosses), reopens the WAL from that image and checks:
 * - open and readAll never fail (a torn tail is repaired, not refused);
 * - the recovered log and HardState are exactly those after some prefix of the records written that
 *   includes every acknowledged (fsynced) record: nothing acknowledged is lost or altered, the
 *   HardState never goes back, no record appears that was not written;
 * - the repaired WAL accepts a new save and replays it after another reopen.
 */
import { createHash } from "node:crypto";
import { newRandom } from "@tsraft/raft";
import type { Entry, HardState } from "@tsraft/raft/raftpb";
import { describe, expect, it } from "vitest";
import { MemFileSystem, type MemFileSystem as MemFs, type MemFsOp } from "../mem-fs.js";
import type { SnapshotMarker } from "./record.js";
import { WAL } from "./wal.js";

const DIR = "/wal";
const META = new TextEncoder().encode("node 1 of cluster 42");
const EMPTY_CS = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const SECTOR = 512;

type Rec = { kind: "entry"; e: Entry } | { kind: "hs"; hs: HardState } | { kind: "snap"; m: SnapshotMarker };

/** The state a WAL opened at `start` replays from the first `n` records (WAL.readAll's rules). */
function replay(records: readonly Rec[], n: number, start: number): { hs: HardState; ents: Entry[] } {
  let hs: HardState = { term: 0, vote: 0, commit: 0 };
  const ents: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const r = records[i]!;
    if (r.kind === "hs") hs = r.hs;
    else if (r.kind === "entry" && r.e.index > start) {
      ents.length = r.e.index - start - 1;
      ents.push(r.e);
    }
  }
  return { hs, ents };
}

function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.index !== y.index || x.term !== y.term || x.type !== y.type) return false;
    if (Buffer.compare(x.data, y.data) !== 0) return false;
  }
  return true;
}

const sameHs = (a: HardState, b: HardState) =>
  a.term === b.term && a.vote === b.vote && a.commit === b.commit;

/** What the workload had written and acknowledged when a crash image was taken. */
interface Expectation {
  createAcked: boolean;
  /** Records handed to a write so far (including one in progress). */
  written: number;
  /** Records covered by the last completed fsync the caller was told about. */
  acked: number;
  /** The newest marker whose saveSnapshot completed: the snapshot a restart would load. */
  marker: { index: number; term: number };
}

/** A digest of an image's content, to check each distinct disk state once. */
async function fingerprint(fs: MemFs, dir = "/"): Promise<string> {
  const h = createHash("sha1");
  for (const name of (await fs.readdir(dir)).sort()) {
    const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
    let content: Uint8Array;
    try {
      content = await fs.readFile(path);
    } catch {
      h.update(`${path}/[${await fingerprint(fs, path)}]`);
      continue;
    }
    h.update(`${path}:${content.length}:`);
    h.update(content);
  }
  return h.digest("hex");
}

interface Stats {
  points: number;
  distinct: number;
  beforeCreate: number;
  repaired: number;
  /** The first failures, described (all are counted in `failed`). */
  failures: string[];
  failed: number;
}

async function checkImage(
  image: MemFs,
  exp: Expectation,
  records: readonly Rec[],
  what: string,
  st: Stats,
  segmentSize: number,
) {
  const fail = (msg: string) => {
    st.failed++;
    if (st.failures.length < 20) st.failures.push(`${what}: ${msg}`);
  };
  if (!(await WAL.exists(DIR, image))) {
    if (exp.createAcked) fail("the WAL directory is gone");
    else st.beforeCreate++;
    return;
  }
  const opts = { fs: image, segmentSize };
  let w: WAL | undefined;
  try {
    w = await WAL.open(DIR, exp.marker, opts);
    const r = await w.readAll();
    if (r.repairedFrom !== undefined) st.repaired++;
    if (Buffer.compare(r.metadata, META) !== 0) fail("metadata differs");
    const ackedHs = replay(records, exp.acked, exp.marker.index).hs;
    if (r.hardState.term < ackedHs.term || r.hardState.commit < ackedHs.commit) {
      fail(`HardState went back: ${JSON.stringify(r.hardState)} < acknowledged ${JSON.stringify(ackedHs)}`);
    }
    let matched = -1;
    for (let n = exp.written; n >= exp.acked; n--) {
      const m = replay(records, n, exp.marker.index);
      if (sameHs(m.hs, r.hardState) && sameEntries(m.ents, r.entries)) {
        matched = n;
        break;
      }
    }
    if (matched < 0) {
      const want = replay(records, exp.acked, exp.marker.index);
      fail(
        `recovered hs ${JSON.stringify(r.hardState)} + ${r.entries.length} entries (last ${r.entries.at(-1)?.index}) ` +
          `is no prefix in [${exp.acked}, ${exp.written}] of the records; acked state: hs ${JSON.stringify(want.hs)} ` +
          `+ ${want.ents.length} entries (last ${want.ents.at(-1)?.index})`,
      );
      return;
    }
    // Append after the recovery, then replay again.
    const last = r.entries.at(-1);
    const next: Entry = {
      index: (last?.index ?? exp.marker.index) + 1,
      term: Math.max(r.hardState.term, last?.term ?? 0, 1),
      type: 0,
      data: new TextEncoder().encode("after the crash"),
    };
    const hs2 = { term: next.term, vote: r.hardState.vote, commit: r.hardState.commit };
    await w.save(hs2, [next], true);
    await w.close();
    w = undefined;
    const w2 = await WAL.open(DIR, exp.marker, opts);
    const r2 = await w2.readAll();
    await w2.close();
    if (!sameEntries(r2.entries, [...r.entries, next]) || !sameHs(r2.hardState, hs2)) {
      fail("the save after recovery did not replay");
    }
    if (r2.repairedFrom !== undefined) fail("a second repair was needed");
  } catch (e) {
    fail(`open failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await w?.close().catch(() => {});
  }
}

/**
 * The torn prefixes of a write: every 512 bytes of it, every sector boundary it crosses, its first
 * byte, and two arbitrary lengths (the torn-tail rule does not rely on sector alignment).
 */
function tornPrefixes(op: MemFsOp, random: () => number): number[] {
  const len = op.data!.length;
  const pos = op.position ?? 0;
  const cuts = new Set<number>();
  for (let j = SECTOR; j < len; j += SECTOR) cuts.add(j);
  for (let b = (Math.floor(pos / SECTOR) + 1) * SECTOR; b < pos + len; b += SECTOR) cuts.add(b - pos);
  cuts.add(1);
  if (len > 2) for (let k = 0; k < 2; k++) cuts.add(1 + Math.floor(random() * (len - 1)));
  return [...cuts].sort((a, b) => a - b);
}

interface HarnessConfig {
  seed: number;
  steps: number;
  segmentSize: number;
  /** How often a save that may need an fsync gets mustSync = true. */
  syncProbability: number;
  /** Entry data sizes to pick from. */
  sizes: readonly number[];
}

async function runHarness({
  seed,
  steps,
  segmentSize,
  syncProbability,
  sizes,
}: HarnessConfig): Promise<Stats> {
  const random = newRandom(seed);
  const tearRandom = newRandom(seed ^ 0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const records: Rec[] = [];
  const exp: Expectation = { createAcked: false, written: 0, acked: 0, marker: { index: 0, term: 0 } };
  const st: Stats = { points: 0, distinct: 0, beforeCreate: 0, repaired: 0, failures: [], failed: 0 };
  const seen = new Set<string>();
  const mutating = new Set([
    "write",
    "datasync",
    "sync",
    "truncate",
    "rename",
    "unlink",
    "removeAll",
    "syncDir",
  ]);

  const fs: MemFileSystem = new MemFileSystem();
  const crashAt = async (op: MemFsOp | undefined) => {
    const snapshot = { ...exp, marker: { ...exp.marker } };
    const nrec = records.slice(0, snapshot.written);
    const images: [string, MemFs][] = [
      ["all written", fs.crashImage({ data: "current", dirs: "current" })],
      ["fsynced only", fs.crashImage({ data: "durable", dirs: "durable" })],
      ["fsynced data, all dir changes", fs.crashImage({ data: "durable", dirs: "current" })],
      ["all written, synced dir changes", fs.crashImage({ data: "current", dirs: "durable" })],
    ];
    if (op?.kind === "write") {
      for (const bytes of tornPrefixes(op, tearRandom)) {
        images.push([
          `torn write of ${bytes}/${op.data!.length} bytes`,
          fs.crashImage({ data: "current", dirs: "current", torn: { op, bytes } }),
        ]);
      }
    }
    st.points += images.length;
    for (const [what, image] of images) {
      // The same disk under the same expectations is checked once.
      const fp = `${await fingerprint(image)} ${snapshot.acked} ${snapshot.written} ${snapshot.marker.index}`;
      if (seen.has(fp)) continue;
      seen.add(fp);
      st.distinct++;
      await checkImage(
        image,
        snapshot,
        nrec,
        `before ${op?.kind ?? "end"} ${op?.path ?? ""} (${what})`,
        st,
        segmentSize,
      );
    }
  };
  fs.hook = async (op) => {
    if (mutating.has(op.kind)) await crashAt(op);
  };

  const w = await WAL.create(DIR, META, { fs, segmentSize });
  exp.createAcked = true;
  let term = 1;
  let vote = 1;
  let commit = 0;
  let lastIndex = 0;
  let snapIndex = 0;
  const terms: number[] = [0]; // terms[i] = term of entry i in the model log
  for (let step = 0; step < steps; step++) {
    if (random() < 0.08 && commit > snapIndex) {
      const index = snapIndex + 1 + Math.floor(random() * (commit - snapIndex));
      const m: SnapshotMarker = { index, term: terms[index]!, confState: EMPTY_CS };
      records.push({ kind: "snap", m });
      exp.written = records.length;
      await w.saveSnapshot(m);
      exp.acked = records.length;
      exp.marker = { index: m.index, term: m.term };
      snapIndex = index;
      await w.releaseLockTo(index);
      continue;
    }
    const count = pick([0, 0, 1, 1, 1, 2, 3, 5, 8, 13]);
    let start = lastIndex + 1;
    let hsChanged = false;
    if (count > 0 && lastIndex > commit && random() < 0.15) {
      start = commit + 1 + Math.floor(random() * (lastIndex - commit)); // a new leader rewrites the tail
      term++;
      vote = pick([1, 2, 3]);
      hsChanged = true;
    } else if (random() < 0.1) {
      term++;
      vote = pick([0, 1, 2, 3]);
      hsChanged = true;
    }
    const ents: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const size = pick(sizes);
      const data = new Uint8Array(size);
      if (random() < 0.7) for (let k = 0; k < size; k++) data[k] = Math.floor(random() * 256);
      ents.push({ index: start + i, term, type: pick([0, 0, 0, 1]), data });
    }
    if (count > 0) {
      lastIndex = start + count - 1;
      terms.length = start;
      for (const e of ents) terms.push(e.term);
    }
    if (random() < 0.5 && lastIndex > commit) {
      commit += 1 + Math.floor(random() * (lastIndex - commit));
      hsChanged = true;
    }
    const hs = hsChanged ? { term, vote, commit } : undefined;
    const mustSync = count > 0 || hsChanged ? random() < syncProbability : false;
    for (const e of ents) records.push({ kind: "entry", e });
    if (hs !== undefined) records.push({ kind: "hs", hs });
    exp.written = records.length;
    await w.save(hs, ents, mustSync);
    if (mustSync) exp.acked = records.length;
  }
  await crashAt(undefined);
  await w.close();
  exp.acked = records.length; // close fsyncs
  await crashAt(undefined);
  return st;
}

describe("crash consistency", () => {
  const small = [0, 8, 40, 100, 300, 700, 1500, 3000];
  const configs: [string, HarnessConfig][] = [
    [
      "mostly synced, 8 KiB segments",
      { seed: 20240611, steps: 300, segmentSize: 8192, syncProbability: 0.75, sizes: small },
    ],
    [
      "mostly unsynced, 4 KiB segments",
      { seed: 7, steps: 300, segmentSize: 4096, syncProbability: 0.3, sizes: small },
    ],
    [
      "large entries, 64 KiB segments",
      { seed: 99, steps: 120, segmentSize: 65536, syncProbability: 0.6, sizes: [0, 100, 2000, 9000, 20000] },
    ],
  ];
  for (const [name, config] of configs) {
    it(`${name}: every crash point reopens to a state that keeps every acknowledged record`, async () => {
      const t0 = performance.now();
      const st = await runHarness(config);
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(
        `wal crash harness (${name}): ${st.points} crash points checked, ${st.distinct} distinct disk images ` +
          `reopened (${st.repaired} torn tails repaired, ${st.beforeCreate} before create completed), ` +
          `${st.failed} failures, in ${seconds}s`,
      );
      expect(st.failures).toEqual([]);
      expect(st.points).toBeGreaterThan(5000);
      expect(st.distinct).toBeGreaterThan(2500);
      expect(st.repaired).toBeGreaterThan(1000);
    }, 300_000);
  }
});
