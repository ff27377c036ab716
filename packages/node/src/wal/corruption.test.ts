/**
 * The corruption table, on real temp directories: every kind of damage is either refused with a
 * WalCorruptError naming the file and offset, or (only for a torn tail of the last segment) repaired
 * once with the original kept as `.broken`. Never a silent truncation of acknowledged data.
 *
 * The rule under test (README, "Torn tail or corruption"): a single flipped bit is always refused,
 * even in the very last record of the last segment, because a complete frame ends in a non-zero
 * trailer and its length is self-checked, while a torn frame always ends in zeros or at the end of the
 * file. Truncations and zeroed sectors at the tail are indistinguishable from a torn write, so those
 * are repaired; the first two records of a segment (fsynced before the segment got its name) and
 * anything followed by valid data are refused.
 */
import { copyFile, readdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ent, hs, tempDir } from "../../test/storage-helpers.js";
import { type FileSystem, nodeFileSystem } from "../file-system.js";
import { MemFileSystem } from "../mem-fs.js";
import { WalCorruptError } from "./errors.js";
import { FRAME_HEADER_SIZE, frameSize, getU32 } from "./record.js";
import { WAL, type WalReadResult } from "./wal.js";

const META = new TextEncoder().encode("node 1");
/** Big enough for the whole 50-record log in one segment. */
const BIG = 64 * 1024;

let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.cleanup();
});

let dirs = 0;
/** Writes the 47 records after the 3 of create: 41 entries and 6 HardStates, one mustSync save each. */
async function buildLog(segmentSize: number): Promise<string> {
  const dir = join(tmp.path, `wal-${dirs++}`);
  const w = await WAL.create(dir, META, { segmentSize });
  let index = 0;
  for (let i = 1; i <= 47; i++) {
    if (i % 7 === 0) await w.save(hs(1, 1, index), [], true);
    else {
      index++;
      await w.save(undefined, [ent(index, 1, new Uint8Array(10 + ((i * 37) % 150)).fill(i))], true);
    }
  }
  await w.close();
  return dir;
}

/** A {@link buildLog}(BIG) log: its directory, its one segment (name, path) and its bytes. */
async function bigSegment(): Promise<{ dir: string; file: string; path: string; pristine: Buffer }> {
  const dir = await buildLog(BIG);
  const [file] = await segments(dir);
  const path = join(dir, file!);
  return { dir, file: file!, path, pristine: await readFile(path) };
}

/** Writes `data` as the whole content of `path` in `fs`. */
async function putFile(fs: FileSystem, path: string, data: Uint8Array): Promise<void> {
  const fh = await fs.open(path, "overwrite");
  try {
    await fh.write(data, 0, data.length, 0);
  } finally {
    await fh.close();
  }
}

const segments = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith(".wal")).sort();

/** The offsets of the frames in a segment's bytes (stopping at the zero tail). */
function frameOffsets(buf: Uint8Array): number[] {
  const out: number[] = [];
  for (let p = 0; p + FRAME_HEADER_SIZE <= buf.length; ) {
    const len = getU32(buf, p);
    if (len === 0) break;
    out.push(p);
    p += frameSize(len);
  }
  return out;
}

async function openAll(dir: string, fs: FileSystem = nodeFileSystem): Promise<WalReadResult> {
  const w = await WAL.open(dir, { index: 0, term: 0 }, { segmentSize: BIG, fs });
  try {
    return await w.readAll();
  } finally {
    await w.close().catch(() => {});
  }
}

async function expectCorrupt(
  dir: string,
  file: string,
  offset: number,
  fs: FileSystem = nodeFileSystem,
): Promise<WalCorruptError> {
  const err = await openAll(dir, fs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${file} to be refused at ${offset}`).toBeInstanceOf(WalCorruptError);
  const c = err as WalCorruptError;
  expect([c.file, c.offset], c.message).toEqual([join(dir, file), offset]);
  expect((await fs.readdir(dir)).filter((n) => n.includes(".broken"))).toEqual([]);
  return c;
}

/** The offsets of the entry frames among `offsets`. */
const entryFrames = (buf: Uint8Array, offsets: number[]) =>
  offsets.filter((o) => buf[o + FRAME_HEADER_SIZE] === 2);

/** The byte positions to flip in the frame at p: length, check, crc, type, payload, trailer. */
function flipPositions(buf: Uint8Array, p: number): [string, number][] {
  const len = getU32(buf, p);
  const body = p + FRAME_HEADER_SIZE;
  return [
    ["length", p + 1],
    ["check", p + 6],
    ["crc", p + 9],
    ["type", body],
    ["payload", body + Math.max(1, Math.floor(len / 2))],
    ["trailer", p + frameSize(len) - 1],
  ];
}

describe("bit flips", () => {
  for (const [name, segmentSize] of [
    ["one segment", BIG],
    ["several segments", 1024],
  ] as const) {
    it(`a flipped bit in any field of any record is refused with file and offset (${name})`, async () => {
      const dir = await buildLog(segmentSize);
      const names = await segments(dir);
      if (segmentSize !== BIG) expect(names.length).toBeGreaterThan(3);
      let records = 0;
      let refused = 0;
      for (const file of names) {
        const path = join(dir, file);
        const pristine = await readFile(path);
        const offsets = frameOffsets(pristine);
        records += offsets.length;
        for (const [i, p] of offsets.entries()) {
          for (const [field, pos] of flipPositions(pristine, p)) {
            const bad = Buffer.from(pristine);
            bad[pos]! ^= 1 << ((i + pos) % 8);
            await writeFile(path, bad);
            const err = await expectCorrupt(dir, file, p);
            expect(err.reason, `${file} record ${i} ${field}`).toBeTruthy();
            expect(Buffer.compare(await readFile(path), bad)).toBe(0); // untouched
            refused++;
          }
        }
        await writeFile(path, pristine);
      }
      if (segmentSize === BIG) expect(records).toBe(50);
      expect(refused).toBe(records * 6);
      const r = await openAll(dir);
      expect(r.entries).toHaveLength(41);
    });
  }

  it("a flip in the last record of the last segment is refused, not taken for a torn tail", async () => {
    const { dir, file, path, pristine } = await bigSegment();
    const last = frameOffsets(pristine).at(-1)!;
    const end = last + frameSize(getU32(pristine, last));
    // Every bit of the last frame, one at a time.
    for (let pos = last; pos < end; pos++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(pristine);
        bad[pos]! ^= 1 << bit;
        await writeFile(path, bad);
        await expectCorrupt(dir, file!, last);
      }
    }
  });

  it("a flip in the unused zero tail: next to the last record it reads as a torn header (nothing lost); further on it is refused", async () => {
    const { dir, file, path, pristine } = await bigSegment();
    const offsets = frameOffsets(pristine);
    const last = offsets.at(-1)!;
    const end = last + frameSize(getU32(pristine, last));

    const near = Buffer.from(pristine);
    near[end + 2] = 0x10;
    await writeFile(path, near);
    const r = await openAll(dir);
    expect(r.entries).toHaveLength(41);
    expect(r.repairedFrom).toBe(`${path}.broken`);
    await unlink(`${path}.broken`);

    const far = Buffer.from(pristine);
    far[end + 4000] = 0x10;
    await writeFile(path, far);
    await expectCorrupt(dir, file!, end);
  });
});

describe("truncation and zeroed sectors", () => {
  // About 2,000 opens, each of which may repair and fsync: on the real disk that took over 30 s on a
  // busy machine. The repair logic is what is under test, so the segments are copied into a
  // MemFileSystem (same FileSystem contract) and cut there; the other tests here run on the real disk.
  // What is left is CPU, so its time budget is set by that work (3 min), not by vitest's 30 s default.
  it("truncation at every offset of the last segment: repaired once (.broken kept), clean after", async () => {
    const disk = await buildLog(1024);
    const fs = new MemFileSystem();
    const dir = "/wal";
    await fs.mkdir(dir);
    for (const name of await readdir(disk))
      await putFile(fs, join(dir, name), await readFile(join(disk, name)));
    const names = await segments(disk);
    const file = names.at(-1)!;
    const path = join(dir, file);
    const pristine = await fs.readFile(path);
    const offsets = frameOffsets(pristine);
    const dataEnd = offsets.at(-1)! + frameSize(getU32(pristine, offsets.at(-1)!));
    const preambleEnd = offsets[2] ?? dataEnd; // crc seed and metadata: fsynced before the segment existed
    const full = (await openAll(dir, fs)).entries;
    expect(full).toEqual((await openAll(disk)).entries);
    let repaired = 0;
    let clean = 0;
    let refused = 0;
    for (let x = 0; x <= dataEnd + 16; x++) {
      await putFile(fs, path, pristine.subarray(0, x));
      if (x < preambleEnd && !offsets.includes(x)) {
        await expectCorrupt(dir, file, offsets.filter((o) => o < x).at(-1) ?? 0, fs);
        refused++;
        continue;
      }
      if (x < preambleEnd) {
        await expectCorrupt(dir, file, x, fs); // the preamble cut at a frame boundary: still incomplete
        refused++;
        continue;
      }
      const boundary = offsets.includes(x) || x >= dataEnd;
      const r = await openAll(dir, fs);
      // The entries are those whose frames are whole below the cut.
      const dropped = entryFrames(pristine, offsets).filter((o) => o + frameSize(getU32(pristine, o)) > x);
      const keptEntries = full.slice(0, full.length - dropped.length);
      expect(r.entries, `cut at ${x}`).toEqual(keptEntries);
      const brokens = (await fs.readdir(dir)).filter((n) => n.includes(".broken"));
      if (boundary) {
        expect(r.repairedFrom, `cut at ${x}`).toBeUndefined();
        expect(brokens).toEqual([]);
        clean++;
      } else {
        expect(r.repairedFrom).toBe(`${path}.broken`);
        expect((await fs.readFile(`${path}.broken`)).length).toBe(x); // the original, as found
        const again = await openAll(dir, fs);
        expect(again.repairedFrom).toBeUndefined();
        expect(again.entries).toEqual(keptEntries);
        await fs.unlink(`${path}.broken`);
        repaired++;
      }
    }
    expect(repaired).toBeGreaterThan(100);
    expect(clean).toBeGreaterThan(2);
    expect(refused).toBe(preambleEnd);
  }, 180_000);

  it("a zeroed 512-byte sector in the middle is refused; at the tail it is repaired", async () => {
    const { dir, file, path, pristine } = await bigSegment();
    const offsets = frameOffsets(pristine);
    const dataEnd = offsets.at(-1)! + frameSize(getU32(pristine, offsets.at(-1)!));
    expect(dataEnd).toBeGreaterThan(4 * 512);

    const middle = Buffer.from(pristine);
    middle.fill(0, 1024, 1536);
    await writeFile(path, middle);
    await expectCorrupt(
      dir,
      file!,
      offsets.filter((o) => o < 1536).find((o) => o + frameSize(getU32(pristine, o)) > 1024)!,
    );

    const tailSector = Math.floor((dataEnd - 1) / 512) * 512;
    const tail = Buffer.from(pristine);
    tail.fill(0, tailSector, tailSector + 512);
    await writeFile(path, tail);
    const full = await (async () => {
      await writeFile(path, pristine);
      return (await openAll(dir)).entries;
    })();
    await writeFile(path, tail);
    const r = await openAll(dir);
    const firstHit = offsets.find((o) => o + frameSize(getU32(pristine, o)) > tailSector)!;
    // The records from the first one the sector touches are cut; if it starts inside the sector its
    // header is zero and the log simply ends there.
    expect(r.repairedFrom).toBe(firstHit < tailSector ? `${path}.broken` : undefined);
    const dropped = entryFrames(pristine, offsets).filter((o) => o >= firstHit);
    expect(dropped.length).toBeGreaterThan(0);
    expect(r.entries).toEqual(full.slice(0, full.length - dropped.length));
    const again = await openAll(dir);
    expect(again.repairedFrom).toBeUndefined();
    expect(again.entries).toEqual(r.entries);
  });

  it("a zeroed sector or trailing bytes in a segment other than the last are refused", async () => {
    const dir = await buildLog(1024);
    const names = await segments(dir);
    const file = names[1]!;
    const path = join(dir, file);
    const pristine = await readFile(path);
    const offsets = frameOffsets(pristine);

    const zeroed = Buffer.from(pristine);
    zeroed.fill(0, 512, 1024);
    await writeFile(path, zeroed);
    await expectCorrupt(
      dir,
      file,
      offsets.filter((o) => o < 1024).find((o) => o + frameSize(getU32(pristine, o)) > 512)!,
    );

    await writeFile(path, Buffer.concat([pristine, Buffer.from("garbage!")]));
    await expectCorrupt(dir, file, pristine.length);
    await writeFile(path, Buffer.concat([pristine, Buffer.alloc(64)]));
    await expectCorrupt(dir, file, pristine.length);
    await writeFile(path, pristine);
    expect((await openAll(dir)).entries).toHaveLength(41);
  });
});

describe("segment sequence", () => {
  it("a deleted segment is refused", async () => {
    const dir = await buildLog(1024);
    const names = await segments(dir);
    await unlink(join(dir, names[2]!));
    await expectCorrupt(dir, names[3]!, 0);
  });

  it("a duplicated segment is refused: appended as the next seq, copied over the next one, or under its own seq", async () => {
    const dir = await buildLog(1024);
    const names = await segments(dir);
    const last = names.at(-1)!;
    const seq = Number.parseInt(last.slice(0, 16), 16);
    // Appended after the newest: the newest is no longer last, and its preallocated zeros give it away.
    const copyName = `${(seq + 1).toString(16).padStart(16, "0")}-${last.slice(17)}`;
    await copyFile(join(dir, last), join(dir, copyName));
    const lastBytes = await readFile(join(dir, last));
    const lastOffsets = frameOffsets(lastBytes);
    await expectCorrupt(dir, last, lastOffsets.at(-1)! + frameSize(getU32(lastBytes, lastOffsets.at(-1)!)));
    await unlink(join(dir, copyName));

    // Segment 1's bytes under segment 2's name: its crc seed does not continue segment 1's chain.
    const two = await readFile(join(dir, names[2]!));
    await copyFile(join(dir, names[1]!), join(dir, names[2]!));
    await expectCorrupt(dir, names[2]!, 0);
    await writeFile(join(dir, names[2]!), two);

    // A second file with seq 1.
    const sameSeq = `${names[1]!.slice(0, 17)}${"f".repeat(16)}.wal`;
    await copyFile(join(dir, names[1]!), join(dir, sameSeq));
    await expectCorrupt(dir, sameSeq, 0);
  });

  it("reordered segments are refused", async () => {
    const dir = await buildLog(1024);
    const names = await segments(dir);
    const [a, b] = [join(dir, names[1]!), join(dir, names[2]!)];
    await rename(a, `${a}.x`);
    await rename(b, a);
    await rename(`${a}.x`, b);
    await expectCorrupt(dir, names[1]!, 0);
  });

  it("opening at a snapshot the WAL does not contain is refused", async () => {
    const dir = await buildLog(BIG);
    const w = await WAL.open(dir, { index: 5, term: 1 });
    await expect(w.readAll()).rejects.toMatchObject({ code: "SnapshotNotFound" });
    await w.close().catch(() => {});
  });
});
