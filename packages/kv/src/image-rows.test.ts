/**
 * Format version 3 of the image (image-format.ts): the database's rows, each value once. Its fixed
 * layout, round trips through arbitrary chunk boundaries, the errors of bad rows, the restore's
 * check that every key's value row is there, and the size: an image of N values of S bytes is about
 * N × S, not twice that (values were in both `kv` and `history` before).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../test/fc.js";
import { b, imageOf, openSm, put, tempDir, useSqliteKit } from "../test/sqlite-kit.js";
import { ImageEncoder, type KeyRevisions } from "./image.js";
import { ImageDecoder } from "./image-decoder.js";
import {
  type ImageHeader,
  type ImageRecord,
  type ImageRowRecord,
  type ImageSummary,
  isImageError,
} from "./image-format.js";
import { CHANGES_PER_REVISION } from "./mvcc-types.js";
import { checkRows } from "./restore-check.js";
import { createSchema } from "./sqlite-database.js";

useSqliteKit();

const SEED = 0x3a03;

type Row = Omit<ImageRowRecord, "kind">;
type Key = [Uint8Array, KeyRevisions, number];

function encode(header: ImageHeader, keys: Key[], rows: Row[], chunkBytes = 64): Buffer {
  const enc = new ImageEncoder(header, chunkBytes);
  const chunks: Uint8Array[] = [];
  for (const [k, r, valueRow] of keys) {
    enc.addKeyRow(k, r, valueRow);
    chunks.push(...enc.take());
  }
  for (const r of rows) {
    enc.addRow(r);
    chunks.push(...enc.take());
  }
  chunks.push(...enc.finish());
  return Buffer.concat(chunks);
}

/** Decodes, copying each record out (views die at the next push). */
function decode(chunks: Iterable<Uint8Array>): { records: ImageRecord[]; version: number } {
  const dec = new ImageDecoder();
  const records: ImageRecord[] = [];
  for (const c of chunks) {
    dec.push(c);
    for (let r = dec.next(); r !== undefined; r = dec.next()) {
      if (r.kind === "row") {
        records.push({ ...r, key: Buffer.from(r.key), value: r.value && Buffer.from(r.value) });
      } else records.push({ ...r, key: Buffer.from(r.key) } as ImageRecord);
    }
  }
  return { records, version: dec.finish().formatVersion };
}

/** `image` with its checksum recomputed: a hand-made image that only the rules can refuse. */
function reseal(image: Buffer): Buffer {
  const body = image.subarray(0, -32);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

function errorOf(chunks: Uint8Array[]): { code: string; message: string } {
  try {
    decode(chunks);
  } catch (e) {
    expect(isImageError(e), String(e)).toBe(true);
    return { code: (e as { code: string }).code, message: (e as Error).message };
  }
  throw new Error("decoded without an error");
}

const u64 = (n: number) => {
  const x = Buffer.alloc(8);
  x.writeBigInt64BE(BigInt(n));
  return x;
};

const HEADER: ImageHeader = { appliedIndex: 9, revision: 6, compactRevision: 3 };
const FIRST_CHANGE = (HEADER.compactRevision + 1) * CHANGES_PER_REVISION;
const row = (id: number, over: Partial<Row> = {}): Row => ({
  id,
  key: b("k"),
  value: b("v"),
  createRevision: 1,
  version: 1,
  prevModRevision: 0,
  prevRow: undefined,
  ...over,
});

describe("kv image, format version 3 (rows, each value once)", () => {
  it("has a fixed layout", () => {
    const bytes = encode(
      HEADER,
      [[b("k"), { createRevision: 2, modRevision: 5, version: 3 }, 5 * 1024]],
      [
        row(-1, { value: b("old") }),
        row(5 * 1024, { value: b("vv"), createRevision: 2, version: 3, prevModRevision: 2, prevRow: -1 }),
        row(6 * 1024 + 1, { key: b("x"), value: undefined }),
      ],
    );
    const expected = Buffer.concat([
      Buffer.from("TSRAFTKV"),
      Buffer.from([0, 3, 0, 0]),
      u64(9),
      u64(6),
      u64(3),
      Buffer.from([5, 0, 0, 0, 1]),
      u64(2),
      u64(5),
      u64(3),
      u64(5 * 1024),
      Buffer.from("k"),
      Buffer.from([6]),
      u64(-1),
      Buffer.from([1]),
      u64(1),
      u64(1),
      u64(0),
      u64(0),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 3]),
      Buffer.from("kold"),
      Buffer.from([6]),
      u64(5 * 1024),
      Buffer.from([3]),
      u64(2),
      u64(3),
      u64(2),
      u64(-1),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]),
      Buffer.from("kvv"),
      Buffer.from([6]),
      u64(6 * 1024 + 1),
      Buffer.from([0]),
      u64(1),
      u64(1),
      u64(0),
      u64(0),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]),
      Buffer.from("x"),
      Buffer.from([0xff]),
      u64(4),
    ]);
    expect(bytes.subarray(0, -32)).toEqual(expected);
    const { records, version } = decode([bytes]);
    expect(version).toBe(3);
    expect(records.map((r) => r.kind)).toEqual(["key-row", "row", "row", "row"]);
    expect(records[2]).toMatchObject({ kind: "row", id: 5 * 1024, prevRow: -1, value: Buffer.from("vv") });
    expect(records[3]).toMatchObject({ kind: "row", id: 6 * 1024 + 1, value: undefined, prevRow: undefined });
  });

  it("round-trips random rows through random chunk boundaries", () => {
    const arbRows = fc
      .uniqueArray(fc.integer({ min: -5000, max: 7 * CHANGES_PER_REVISION - 1 }), { maxLength: 30 })
      .chain((ids) =>
        fc.tuple(
          ...ids
            .sort((x, y) => x - y)
            .map((id) =>
              fc.record({
                id: fc.constant(id),
                key: fc.uint8Array({ maxLength: 20 }),
                // A row below the history must be a put.
                value:
                  id < FIRST_CHANGE
                    ? fc.uint8Array({ maxLength: 200 })
                    : fc.option(fc.uint8Array({ maxLength: 200 }), { nil: undefined }),
                createRevision: fc.nat({ max: 1000 }),
                version: fc.nat({ max: 1000 }),
                prevModRevision: fc.nat({ max: 1000 }),
                prevRow: fc.option(fc.integer({ min: -9000, max: id - 1 }), { nil: undefined }),
              }),
            ),
        ),
      );
    fc.assert(
      fc.property(
        arbRows,
        fc.integer({ min: 64, max: 500 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (rows, chunkBytes, cuts) => {
          const keys: Key[] = [[b("a"), { createRevision: 1, modRevision: 2, version: 1 }, -7]];
          const bytes = encode(HEADER, keys, rows, chunkBytes);
          const points = [...new Set(cuts.map((p) => p % (bytes.length + 1)))].sort((x, y) => x - y);
          const chunks: Uint8Array[] = [];
          let from = 0;
          for (const p of points) {
            chunks.push(bytes.subarray(from, p));
            from = p;
          }
          chunks.push(bytes.subarray(from));
          const { records } = decode(chunks);
          expect(records.slice(1).map((r) => ({ ...r, kind: undefined }))).toEqual(
            rows.map((r) => ({
              ...r,
              kind: undefined,
              key: Buffer.from(r.key),
              value: r.value && Buffer.from(r.value),
            })),
          );
        },
      ),
      { seed: SEED, numRuns: runs(200) },
    );
  });

  it("refuses bad rows, rows out of order and keys after rows, from encoder and decoder alike", () => {
    const enc = new ImageEncoder(HEADER);
    expect(() => enc.add(b("a"), b("1"))).toThrow(/version 3 writes keys with addKeyRow/);
    expect(() => enc.addChange({ ...row(FIRST_CHANGE), revision: 4, sub: 0, prevValue: undefined })).toThrow(
      /version 3 has no change records/,
    );
    expect(() => enc.addRow(row(FIRST_CHANGE - 1, { value: undefined }))).toThrow(
      /is a delete at or below the compact revision 3/,
    );
    expect(() => enc.addRow(row(7 * CHANGES_PER_REVISION))).toThrow(
      /a change at revision 7, after the image's 6/,
    );
    enc.addRow(row(FIRST_CHANGE));
    expect(() => enc.addRow(row(FIRST_CHANGE))).toThrow(/strictly increasing id order/);
    expect(() => enc.addKeyRow(b("a"), { createRevision: 1, modRevision: 1, version: 1 }, 1)).toThrow(
      /keys must come before/,
    );

    // The decoder, given hand-made images: valid ones with a field changed and the checksum redone.
    const one = (r: Row) => encode(HEADER, [], [r]);
    const at = 36 + 1; // the first record's fields, after its kind byte
    const deleteBelow = Buffer.from(one(row(FIRST_CHANGE - 1)));
    deleteBelow[at + 8] = 0; // flags: a delete
    deleteBelow.writeUInt32BE(0, at + 45); // without a value (refused from the fixed fields alone)
    expect(errorOf([reseal(deleteBelow)])).toMatchObject({
      code: "BadRecord",
      message: expect.stringMatching(/is a delete at or below the compact revision 3/),
    });
    const flags = Buffer.from(one(row(FIRST_CHANGE)));
    flags[at + 8] = 5;
    expect(errorOf([reseal(flags)])).toMatchObject({
      code: "BadRecord",
      message: expect.stringMatching(/unknown flags 5/),
    });
    const prevWithoutFlag = Buffer.from(one(row(FIRST_CHANGE)));
    prevWithoutFlag.writeBigInt64BE(3n, at + 33);
    expect(errorOf([reseal(prevWithoutFlag)])).toMatchObject({
      code: "BadRecord",
      message: expect.stringMatching(/bad previous row 3/),
    });
    const prevAfter = Buffer.from(one(row(FIRST_CHANGE, { prevRow: FIRST_CHANGE - 1 })));
    prevAfter.writeBigInt64BE(BigInt(FIRST_CHANGE), at + 33);
    expect(errorOf([reseal(prevAfter)])).toMatchObject({
      code: "BadRecord",
      message: expect.stringMatching(/bad previous row/),
    });
    const swapped = Buffer.from(encode(HEADER, [], [row(-2), row(-1)]));
    swapped.writeBigInt64BE(-1n, at);
    expect(errorOf([reseal(swapped)])).toMatchObject({
      code: "OutOfOrder",
      message: expect.stringMatching(/not after the previous row \(-1\)/),
    });
    // A key record after a row: cut the key of an image with both and put it after.
    const both = encode(HEADER, [[b("a"), { createRevision: 1, modRevision: 1, version: 1 }, -1]], [row(-1)]);
    const keyRecord = both.subarray(36, 36 + 1 + 36 + 1);
    const rowRecord = both.subarray(36 + 38, both.length - 32 - 9);
    const reordered = Buffer.concat([
      both.subarray(0, 36),
      rowRecord,
      keyRecord,
      both.subarray(both.length - 32 - 9),
    ]);
    expect(errorOf([reseal(reordered)])).toMatchObject({
      code: "OutOfOrder",
      message: expect.stringMatching(/a key after the changes/),
    });
    // Version 2's kinds are not version 3's.
    const v2kind = Buffer.from(one(row(FIRST_CHANGE)));
    v2kind[36] = 3;
    expect(errorOf([reseal(v2kind)])).toMatchObject({
      code: "UnknownRecordKind",
      message: expect.stringMatching(/unknown record kind 3 in a version-3 image/),
    });
  });

  it("a restore refuses an image whose key names a row it does not hold, and keeps the old state", async () => {
    const sm = openSm(tempDir());
    await sm.apply([put(1, "old", "1")]);
    const before = sm.stateHash();
    const image = encode(
      { appliedIndex: 5, revision: 5, compactRevision: 4 },
      [[b("a"), { createRevision: 5, modRevision: 5, version: 1 }, 5 * 1024]],
      [row(-1, { key: b("a") })],
    );
    await expect(sm.restore(5, [image])).rejects.toSatisfy(
      (e: unknown) =>
        isImageError(e, "BadRecord") && /1 keys or changes name a value row/.test((e as Error).message),
    );
    expect(sm.stateHash()).toEqual(before);
  });

  it("a paced restore (restoreBytesPerSec) takes the image no faster than its rate, and restores it whole", async () => {
    const src = openSm(tempDir());
    const value = Buffer.alloc(16 * 1024, 3);
    await src.apply(Array.from({ length: 48 }, (_, i) => put(i + 1, `key-${i}`, value)));
    const { index, chunks } = await imageOf(src);
    const bytes = chunks.reduce((s, c) => s + c.length, 0);
    const rate = 2 * 1024 * 1024; // ~0.38 s for the ~790 KB image
    const dst = openSm(tempDir(), { restoreBytesPerSec: rate });
    const started = performance.now();
    await dst.restore(index, chunks);
    const ms = performance.now() - started;
    // A lower bound only (a busy machine makes it slower, never faster); the last chunk may go at once.
    const lastChunk = chunks[chunks.length - 1]!.length;
    expect(ms).toBeGreaterThanOrEqual(((bytes - lastChunk) / rate) * 1000 - 5);
    expect(dst.stateHash()).toEqual(src.stateHash());
  });

  it("holds each value once: N fresh values of 16 KiB make an image of about N × 16 KiB", async () => {
    const sm = openSm(tempDir());
    const value = Buffer.alloc(16 * 1024, 7);
    const n = 40;
    await sm.apply(Array.from({ length: n }, (_, i) => put(i + 1, `key-${i}`, value)));
    // Every put is still in the history (nothing compacted) and every key is live.
    expect(sm.changes(1, n + 1, undefined, 1000).length).toBe(n);
    const { chunks } = await imageOf(sm);
    const bytes = chunks.reduce((s, c) => s + c.length, 0);
    expect(bytes / (n * value.length)).toBeLessThan(1.02);
  });
});

describe("checkRows, the restore's last check", () => {
  // Keys k0..k(n-1), each with one value row; history ids are revision * CHANGES_PER_REVISION.
  function database(n: number): Database.Database {
    const db = new Database(join(tempDir(), "check.db"));
    createSchema(db);
    const key = db.prepare(
      "INSERT INTO kv (key, create_rev, mod_rev, version, mod_id) VALUES (?, ?, ?, 1, ?)",
    );
    const row = db.prepare(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    db.transaction(() => {
      for (let i = 1; i <= n; i++) {
        const k = b(`k${String(i).padStart(6, "0")}`);
        row.run(i * CHANGES_PER_REVISION, k, b("v"), i, 1, 0, null);
        key.run(k, i, i, i * CHANGES_PER_REVISION);
      }
    })();
    return db;
  }
  const summaryOf = (revision: number, compactRevision: number) =>
    ({ header: { revision, compactRevision }, bytes: 1 }) as unknown as ImageSummary;
  async function turnsWhile(p: Promise<void>): Promise<number> {
    let turns = 0;
    let done = false;
    const settled = p.finally(() => {
      done = true;
    });
    while (!done) {
      await new Promise((r) => setImmediate(r));
      turns++;
    }
    await settled;
    return turns;
  }

  it("checks slice by slice, letting the event loop run between slices, and counts every bad row", async () => {
    const n = 3500; // four slices of keys, four of changes
    const good = database(n);
    expect(await turnsWhile(checkRows(good, summaryOf(n, 0)))).toBeGreaterThanOrEqual(6);
    good.close();
    const bad = database(n);
    // In the third slice of keys: a key naming a row that does not exist, one naming another key's.
    bad.prepare("UPDATE kv SET mod_id = 7 WHERE key = ?").run(b("k002500"));
    bad.prepare("UPDATE kv SET mod_id = ? WHERE key = ?").run(5 * CHANGES_PER_REVISION, b("k002501"));
    // In the second slice of changes: a change whose previous row is another key's; and one
    // before the compaction revision, which the check leaves alone.
    bad
      .prepare("UPDATE history SET prev_id = ? WHERE id = ?")
      .run(3 * CHANGES_PER_REVISION, 1500 * CHANGES_PER_REVISION);
    bad.prepare("UPDATE history SET prev_id = 1 WHERE id = ?").run(10 * CHANGES_PER_REVISION);
    await expect(checkRows(bad, summaryOf(n, 10))).rejects.toSatisfy(
      (e: unknown) =>
        isImageError(e, "BadRecord") &&
        /^kv image: 3 keys or changes name a value row/.test((e as Error).message),
    );
  });
});
