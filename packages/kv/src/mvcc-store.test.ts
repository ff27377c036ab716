/**
 * Revisions, history, reads at a revision and compaction (mvcc-store.ts), through the state
 * machine: per-key revisions as etcd stamps them; every read at every kept revision, paged, equal to
 * a dumb model that copies the whole map at each revision; images carrying it all; databases and
 * images of format 1 still read.
 */
import { join } from "node:path";
import { type ApplyEntry, newRandom } from "@tsraft/raft";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { b, del, imageOf, openSm, put, tempDir, text, useSqliteKit } from "../test/sqlite-kit.js";
import { ImageEncoder } from "./image.js";
import { CHANGES_PER_REVISION, type KeyRange, type KeyValue, prefixRange } from "./mvcc-types.js";
import {
  CompactedError,
  DB_FILE,
  FutureRevisionError,
  type SqliteStateMachine,
} from "./sqlite-state-machine.js";
import type { Txn } from "./txn.js";
import { encodeCompactCommand, encodeTxnCommand } from "./txn-command.js";

useSqliteKit();

const SEED = 0x16e7;
const ALL: KeyRange = { start: new Uint8Array(0), end: undefined };

const txnEntry = (index: number, txn: Txn): ApplyEntry => ({
  index,
  term: 1,
  kind: "normal",
  data: encodeTxnCommand(txn),
});
const compactEntry = (index: number, revision: number): ApplyEntry => ({
  index,
  term: 1,
  kind: "normal",
  data: encodeCompactCommand(revision),
});

/** Every key of `range` at `revision`, read `limit` at a time. */
function readAll(sm: SqliteStateMachine, range: KeyRange, revision: number, limit: number): KeyValue[] {
  const out: KeyValue[] = [];
  let after: Uint8Array | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = sm.range({ range, after, limit, maxBytes: 1 << 20, keysOnly: false, revision });
    out.push(...page.kvs);
    if (!page.more) return out;
    after = page.kvs.at(-1)!.key;
  }
  throw new Error("too many pages");
}

/** Rows of `history` at or below the compact revision (kept values, not history), as committed. */
function valuesBelowHistory(sm: SqliteStateMachine, dir: string): number {
  sm.commit();
  const db = new Database(join(dir, DB_FILE), { readonly: true });
  try {
    return db
      .prepare("SELECT count(*) FROM history WHERE id < ?")
      .pluck()
      .get((sm.compactRevision() + 1) * CHANGES_PER_REVISION) as number;
  } finally {
    db.close();
  }
}

const show = (kvs: KeyValue[]) =>
  kvs.map((kv) => `${text(kv.key)}=${text(kv.value)}@${kv.createRevision}/${kv.modRevision}/v${kv.version}`);

describe("revisions", () => {
  it("stamp create and mod revision and version per key, as etcd does", () => {
    const sm = openSm(tempDir());
    sm.apply([
      put(1, "a", "1"),
      put(2, "b", "1"),
      put(3, "a", "2"),
      del(4, "a"),
      del(5, "zz"),
      put(6, "a", "3"),
    ]);
    expect(sm.revision()).toBe(5); // the delete of an absent key took none
    expect(sm.getKeyValue(b("a"))).toEqual({
      key: b("a"),
      value: Buffer.from("3"),
      createRevision: 5,
      modRevision: 5,
      version: 1,
    });
    expect(sm.getKeyValue(b("b"))).toMatchObject({ createRevision: 2, modRevision: 2, version: 1 });
    // The history, in order: what watches see.
    const changes = sm.changes(1, 100, undefined, 100);
    expect(changes.map((c) => [c.revision, c.sub, text(c.key), text(c.value)])).toEqual([
      [1, 0, "a", "1"],
      [2, 0, "b", "1"],
      [3, 0, "a", "2"],
      [4, 0, "a", undefined],
      [5, 0, "a", "3"],
    ]);
    expect(changes[3]).toMatchObject({ createRevision: 1, version: 2, prevModRevision: 3 });
    expect(sm.changes(3, 5, prefixRange(b("a")), 100).map((c) => c.revision)).toEqual([3, 4]);
  });

  it("a transaction is atomic and takes one revision; its gets see its earlier writes", async () => {
    const sm = openSm(tempDir());
    sm.apply([put(1, "x", "1")]);
    const [r] = (await sm.apply([
      txnEntry(2, {
        compare: [
          { key: b("x"), target: "value", op: "=", value: b("1") },
          { key: b("y"), target: "exists", op: "=", exists: false },
          { key: b("x"), target: "mod", op: "<", number: 2 },
        ],
        success: [
          { op: "put", key: b("y"), value: b("2") },
          { op: "delete", key: b("x") },
          { op: "get", key: b("y") },
          { op: "delete", key: b("nothing") },
        ],
        failure: [{ op: "get", key: b("x") }],
      }),
    ])) as [unknown];
    expect(r).toMatchObject({
      kind: "txn",
      result: {
        succeeded: true,
        revision: 2,
        results: [
          { op: "put" },
          { op: "delete", deleted: true },
          { op: "get", kv: { createRevision: 2, modRevision: 2, version: 1 } },
          { op: "delete", deleted: false },
        ],
      },
    });
    expect(sm.revision()).toBe(2);
    expect(sm.changes(2, 3, undefined, 10).map((c) => [c.sub, text(c.key)])).toEqual([
      [0, "y"],
      [1, "x"],
    ]);
    // The compare fails now: `else` runs, and a transaction that only read takes no revision.
    const [failed] = (await sm.apply([
      txnEntry(3, {
        compare: [{ key: b("x"), target: "version", op: ">", number: 0 }],
        success: [{ op: "put", key: b("z"), value: b("1") }],
        failure: [{ op: "get", key: b("y") }],
      }),
    ])) as [unknown];
    expect(failed).toMatchObject({ kind: "txn", result: { succeeded: false, revision: 2 } });
    expect(sm.revision()).toBe(2);
    expect(sm.get(b("z"))).toBeUndefined();
  });

  it("a transaction that breaks the rules in the log is answered invalid and changes nothing", async () => {
    const sm = openSm(tempDir());
    const data = encodeTxnCommand({
      compare: [],
      success: [{ op: "put", key: b("a"), value: b("1") }],
      failure: [],
    });
    // Patch the encoded put into two puts of the same key.
    const twice = Buffer.concat([
      data.subarray(0, 4),
      Buffer.from([2]),
      data.subarray(5, -1),
      data.subarray(5),
    ]);
    const [r] = await sm.apply([{ index: 1, term: 1, kind: "normal", data: twice }]);
    expect(r).toMatchObject({ kind: "invalid", error: expect.stringMatching(/written twice/) });
    expect(sm.revision()).toBe(0);
    expect(sm.appliedIndex()).toBe(1);
  });

  it("reads at every kept revision equal a model that copied the map at each revision, paged or not", async () => {
    const rand = newRandom(SEED);
    const dir = tempDir();
    const sm = openSm(dir);
    /** The model: the whole map after each revision. */
    const states: Map<string, KeyValue>[] = [new Map()];
    let index = 0;
    const keys = Array.from({ length: 30 }, (_, i) => `k/${String(i).padStart(2, "0")}`);
    const current = () => states[states.length - 1]!;
    const stamp = (m: Map<string, KeyValue>, key: string, value: string | undefined, rev: number) => {
      const old = m.get(key);
      if (value === undefined) m.delete(key);
      else
        m.set(key, {
          key: b(key),
          value: Buffer.from(value),
          createRevision: old?.createRevision ?? rev,
          modRevision: rev,
          version: (old?.version ?? 0) + 1,
        });
    };
    for (let step = 0; step < 600; step++) {
      const key = keys[Math.floor(rand() * keys.length)]!;
      const p = rand();
      const next = new Map(current());
      const rev = states.length;
      let entry: ApplyEntry;
      if (p < 0.55) {
        entry = put(++index, key, `v${step}`);
        stamp(next, key, `v${step}`, rev);
      } else if (p < 0.8) {
        entry = del(++index, key);
        if (!next.has(key)) {
          await sm.apply([entry]);
          continue;
        }
        stamp(next, key, undefined, rev);
      } else {
        // A transaction writing three distinct keys at one revision.
        const ks = [...new Set([key, keys[Math.floor(rand() * 30)]!, keys[Math.floor(rand() * 30)]!])];
        const ops = ks.map((k, i) =>
          i === 1
            ? { op: "delete" as const, key: b(k) }
            : { op: "put" as const, key: b(k), value: b(`t${step}.${i}`) },
        );
        entry = txnEntry(++index, { compare: [], success: ops, failure: [] });
        for (const [i, k] of ks.entries()) stamp(next, k, i === 1 ? undefined : `t${step}.${i}`, rev);
      }
      await sm.apply([entry]);
      // Every command here writes something (a transaction puts its first key): one revision each.
      expect(sm.revision()).toBe(rev);
      states.push(next);
      // Three compactions, each over its own window of the history (mvcc-store.ts `compact`).
      const to = { 200: 60, 300: 100, 400: 150 }[step];
      if (to !== undefined) {
        await sm.apply([compactEntry(++index, to)]);
        expect(sm.compactRevision()).toBe(to);
        // What compaction keeps below the history is at most one value per key ever written.
        expect(valuesBelowHistory(sm, dir)).toBeLessThanOrEqual(keys.length);
      }
    }
    const modelAt = (rev: number, range: KeyRange) =>
      [...states[rev]!.values()]
        .filter(
          (kv) =>
            Buffer.compare(kv.key, range.start) >= 0 &&
            (range.end === undefined || Buffer.compare(kv.key, range.end) < 0),
        )
        .sort((x, y) => Buffer.compare(x.key, y.key));
    const ranges: KeyRange[] = [ALL, prefixRange(b("k/1")), { start: b("k/05"), end: b("k/22") }];
    for (let rev = sm.compactRevision(); rev <= sm.revision(); rev++) {
      for (const range of ranges) {
        const want = show(modelAt(rev, range));
        expect(show(readAll(sm, range, rev, 1000)), `revision ${rev}`).toEqual(want);
        if (rev % 7 === 0)
          expect(show(readAll(sm, range, rev, 3)), `revision ${rev}, pages of 3`).toEqual(want);
        expect(sm.countRange(range, rev)).toBe(want.length);
      }
    }
    expect(() => sm.range({ range: ALL, limit: 1, maxBytes: 1, keysOnly: false, revision: 149 })).toThrow(
      CompactedError,
    );
    expect(() => sm.countRange(ALL, sm.revision() + 1)).toThrow(FutureRevisionError);
    expect(() => sm.changes(150, 200, undefined, 10)).toThrow(/revision 150 is compacted/);
    expect(sm.changes(151, 152, undefined, 10)[0]?.revision).toBe(151);
    // An image carries it all: the restored state machine answers every read the same way.
    const image = await imageOf(sm);
    const copy = openSm(tempDir());
    await copy.restore(image.index, image.chunks);
    expect(copy.stateHash()).toEqual(sm.stateHash());
    for (let rev = sm.compactRevision(); rev <= sm.revision(); rev += 13) {
      expect(show(readAll(copy, ALL, rev, 50))).toEqual(show(modelAt(rev, ALL)));
    }
  });

  it("pages stop at the byte budget, with at least one key, and keys_only leaves the values out", () => {
    const sm = openSm(tempDir());
    sm.apply([put(1, "a", "x".repeat(100)), put(2, "b", "y".repeat(100)), put(3, "c", "z")]);
    const page = sm.range({ range: ALL, limit: 10, maxBytes: 150, keysOnly: false, revision: 3 });
    expect(page.kvs.map((kv) => text(kv.key))).toEqual(["a", "b"]);
    expect(page.more).toBe(true);
    const one = sm.range({ range: ALL, limit: 10, maxBytes: 1, keysOnly: false, revision: 3 });
    expect(one.kvs.length).toBe(1);
    const keysOnly = sm.range({ range: ALL, limit: 10, maxBytes: 1 << 20, keysOnly: true, revision: 1 });
    expect(keysOnly.kvs.map((kv) => [text(kv.key), kv.value.length, kv.modRevision])).toEqual([["a", 0, 1]]);
  });

  it("a compaction beyond the revision stops at it, and one below the last changes nothing", async () => {
    const sm = openSm(tempDir());
    await sm.apply([put(1, "a", "1"), put(2, "a", "2"), compactEntry(3, 99)]);
    expect(sm.compactRevision()).toBe(2);
    expect(sm.stateHash().changes).toBe(0);
    await sm.apply([put(4, "a", "3"), compactEntry(5, 1)]);
    expect(sm.compactRevision()).toBe(2);
    expect(sm.stateHash().changes).toBe(1);
  });
});

describe("format 1", () => {
  it("a version-1 database is migrated at open: its keys written before revisions (0, 0, v1)", () => {
    const dir = tempDir();
    const db = new Database(join(dir, DB_FILE));
    db.exec(`
      CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
      CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO meta (name, value) VALUES ('applied_index', 12), ('revision', 9);
      INSERT INTO kv (key, value) VALUES (x'61', x'31'), (x'62', x'32');
      PRAGMA user_version = 1;
    `);
    db.close();
    const sm = openSm(dir);
    expect(sm.appliedIndex()).toBe(12);
    expect(sm.revision()).toBe(9);
    expect(sm.compactRevision()).toBe(9);
    expect(sm.getKeyValue(b("a"))).toMatchObject({ createRevision: 0, modRevision: 0, version: 1 });
    sm.apply([put(13, "a", "3")]);
    expect(sm.getKeyValue(b("a"))).toMatchObject({ createRevision: 0, modRevision: 10, version: 2 });
    // The state before the change is still readable at revision 9.
    expect(show(readAll(sm, ALL, 9, 10))).toEqual(["a=1@0/0/v1", "b=2@0/0/v1"]);
  });

  it("a version-1 image restores: keys at (0, 0, v1), history empty, compacted at its revision", async () => {
    const enc = new ImageEncoder({ appliedIndex: 5, revision: 4, compactRevision: 4 }, 64, {
      formatVersion: 1,
    });
    enc.add(b("a"), b("1"));
    enc.add(b("b"), b("2"));
    const chunks = [...enc.take(), ...enc.finish()];
    const sm = openSm(tempDir());
    await sm.restore(5, chunks);
    expect(sm.stateHash()).toMatchObject({ revision: 4, compactRevision: 4, keys: 2, changes: 0 });
    expect(sm.getKeyValue(b("b"))).toMatchObject({ createRevision: 0, modRevision: 0, version: 1 });
    sm.apply([del(6, "b")]);
    expect(sm.changes(5, 6, undefined, 10)).toMatchObject([{ revision: 5, version: 1, prevModRevision: 0 }]);
    expect(show(readAll(sm, ALL, 4, 10))).toEqual(["a=1@0/0/v1", "b=2@0/0/v1"]);
  });
});

describe("format 2", () => {
  it("a version-2 image (an older backup) restores into values stored once: the same answers, then the same history", async () => {
    const rand = newRandom(SEED + 2);
    const keys = Array.from({ length: 12 }, (_, i) => `k/${i}`);
    const log: ApplyEntry[] = [];
    const more = (n: number, compactTo: (rev: number) => number, sm: SqliteStateMachine) => {
      let rev = sm.revision();
      for (let i = 0; i < n; i++) {
        const key = keys[Math.floor(rand() * keys.length)]!;
        const index = log.length + 1;
        log.push(rand() < 0.7 ? put(index, key, `v${index}`) : del(index, key));
        rev++; // an upper bound: a delete of an absent key takes none
      }
      log.push(compactEntry(log.length + 1, compactTo(rev)));
    };
    const dirA = tempDir();
    const a = openSm(dirA);
    more(200, (rev) => Math.floor(rev / 2), a);
    await a.apply(log);
    expect(a.compactRevision()).toBeGreaterThan(0);
    // What a release of schema 2 would have imaged: every key with its value, every change with
    // its previous value.
    const enc = new ImageEncoder(
      { appliedIndex: a.appliedIndex(), revision: a.revision(), compactRevision: a.compactRevision() },
      4096,
      { formatVersion: 2 },
    );
    for (const kv of readAll(a, ALL, a.revision(), 1000)) enc.add(kv.key, kv.value, kv);
    for (const c of a.changes(a.compactRevision() + 1, a.revision() + 1, undefined, 100_000))
      enc.addChange(c);
    const chunks = [...enc.take(), ...enc.finish()];
    const dirB = tempDir();
    const b2 = openSm(dirB);
    await b2.restore(a.appliedIndex(), chunks);
    const same = () => {
      expect(b2.stateHash()).toEqual(a.stateHash());
      for (let rev = a.compactRevision(); rev <= a.revision(); rev++) {
        expect(show(readAll(b2, ALL, rev, 5)), `revision ${rev}`).toEqual(show(readAll(a, ALL, rev, 1000)));
      }
    };
    same();
    // The migrated rows (values under negative ids) are compacted like the others.
    const from = log.length;
    more(150, (rev) => rev - 20, a);
    await a.apply(log.slice(from));
    await b2.apply(log.slice(from));
    same();
    expect(valuesBelowHistory(b2, dirB)).toBeLessThanOrEqual(keys.length);
  });
});
