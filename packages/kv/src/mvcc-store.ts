/**
 * The revisioned key space of the KV state machine, on its SQLite connection: etcd's MVCC model
 * (etcd's `mvcc` package) in two tables, each value stored once.
 *
 * **Revisions.** The store has a revision, the last one a change was applied at; it starts at 0 and
 * every applied command that changes the store (a put, a delete of a present key, a transaction
 * whose chosen branch changed something) takes the next one, whatever number of keys it changes
 * (a transaction is one revision). Commands that change nothing (a delete of an absent key, a
 * failed compare-and-swap, a transaction that only reads) take none. Each key keeps, as etcd's do,
 * its create revision (when it was last created), its mod revision (when it was last changed) and
 * its version (changes since it was created: 1 after the create; a delete ends it). The state
 * machine owns the store's revision (sqlite-state-machine.ts); this class stamps what it is given.
 *
 * **Rows**: `history`, one row per changed key per revision, written in the same transaction as the
 * change, keyed by `id = revision * 1024 + sub` (`sub` numbers the changes of one revision, in the
 * order the transaction made them; a revision changes each key at most once). A row holds the key,
 * the new value (NULL for a delete; Invariant: non-NULL for a put), the key's create revision and
 * version after a put (the deleted key's, for a delete), and what the key held before: its mod
 * revision (`prev_mod_rev`) and the row holding that value (`prev_id`; NULL when the key did not
 * exist). The value lives only there, as etcd keeps it only in its revision-keyed bucket: a put
 * writes its value once, and an overwrite does not copy the old one.
 *
 * **Keys**: `kv(key, create_rev, mod_rev, version, mod_id)`, one row per live key: its revisions and
 * the row holding its value (`mod_id`), the in-database counterpart of etcd's key index. Reading a
 * value is a lookup of the key and one of its row.
 *
 * **History and compaction.** The changes after the compact revision are the rows with `id` above
 * `(compactRevision + 1) * 1024 - 1`; watches read them in `id` order, and a read at a past revision
 * R rebuilds each key's state at R from the key's first change after R (its "before" half), or takes
 * the current row when the key has not changed since R. Compacting up to revision C drops the
 * history at or below C but keeps, as etcd's compaction does, each key's last put at or below C
 * while it is still the key's value or the "before" of a later change: it deletes the rows a newer
 * row of the same key at or below C points to (`prev_id`) and the deletes at or below C. Rows below
 * the compact revision are values, not history (nothing lists them as changes). A database migrated
 * from schema 2 (sqlite-database.ts) holds values whose row was compacted away under rows with
 * negative ids; they are values like the others.
 *
 * The history has no index on `key`: one costs more than the rest of a put's history (7 of 12 µs
 * more per put, measured), and only reads at a past revision would use it. Such a read scans the
 * history after its revision once per page (at most `--history-entries` rows; reads at a recent
 * revision, the paging case, scan little).
 *
 * Compaction is a replicated command like a write (the leader's compactor proposes it,
 * history-compactor.ts), so every node holds the same history at the same applied index, images
 * carry it, and `stateHash` covers it.
 */
import type Database from "better-sqlite3";
import {
  CHANGES_PER_REVISION,
  type KeyRange,
  type KeyValue,
  type KvChange,
  keySuccessor,
  type RangePage,
  type RangeRequest,
} from "./mvcc-types.js";
import type { StateHasher } from "./state-hash.js";

/** Keys read from `kv` per query while walking a range. */
const BATCH = 256;
/** Keys changed after a past revision read per scan of the history (one scan per this many). */
const CHANGED_BATCH = 4096;
const EMPTY = new Uint8Array(0);

interface KvRow {
  key: Buffer;
  value: Buffer | null;
  create_rev: number;
  mod_rev: number;
  version: number;
}

interface ChangeRow {
  id: number;
  key: Buffer;
  value: Buffer | null;
  create_rev: number;
  version: number;
  prev_mod_rev: number;
  prev_value: Buffer | null;
}

/**
 * The store on one connection (the state machine's writer: it reads what is applied, committed or
 * not). Writes must run inside the state machine's apply transaction.
 */
export class MvccStore {
  private readonly stmt: ReturnType<typeof prepareStore>;
  private readonly cache = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {
    this.stmt = prepareStore(db);
  }

  /**
   * Puts `key` = `value` at (`revision`, `sub`): the key's row and its history row. Invariant (the
   * caller's): `revision` is above every revision written so far, or equal to the last one with a
   * greater `sub`, and `key` was not changed at `revision` yet.
   */
  put(key: Uint8Array, value: Uint8Array, revision: number, sub: number): void {
    const id = revision * CHANGES_PER_REVISION + sub;
    // The new row from the key's, inside SQLite (one statement whether or not the key exists).
    if (this.stmt.rowFromPut.run(id, value, key).changes === 0) {
      this.stmt.rowCreate.run(id, key, value, revision);
      this.stmt.insert.run(key, revision, revision, id);
    } else {
      this.stmt.update.run(revision, id, key);
    }
  }

  /** Deletes `key` at (`revision`, `sub`) if present; false (nothing written) if absent. */
  delete(key: Uint8Array, revision: number, sub: number): boolean {
    const id = revision * CHANGES_PER_REVISION + sub;
    if (this.stmt.rowFromDelete.run(id, key).changes === 0) return false;
    this.stmt.del.run(key);
    return true;
  }

  /**
   * Drops the history in (`from`, `to`] (`from`: the compact revision so far) but each key's last
   * put at or below `to` (see "History and compaction"); returns the rows deleted. The work is in
   * proportion to the rows of (`from`, `to`], whatever the store's size.
   */
  compact(from: number, to: number): number {
    const lo = (from + 1) * CHANGES_PER_REVISION;
    const hi = (to + 1) * CHANGES_PER_REVISION;
    // Superseded values first: the deletes among them still name the put they ended.
    const superseded = this.stmt.compactSuperseded.run(lo, hi).changes;
    return superseded + this.stmt.compactDeletes.run(lo, hi).changes;
  }

  /** The current value of `key`. */
  getValue(key: Uint8Array): Uint8Array | undefined {
    return this.stmt.getValue.get(key) as Buffer | undefined;
  }

  /** `key` with its revisions, now. */
  get(key: Uint8Array): KeyValue | undefined {
    const row = this.stmt.get.get(key) as KvRow | undefined;
    return row === undefined ? undefined : toKeyValue(row, key);
  }

  /**
   * One page of the keys in a range, at the current revision (`current`) or at a past one
   * (`req.revision`, at or above the compact revision: the caller checks).
   */
  range(req: RangeRequest, current: number): RangePage {
    const kvs: KeyValue[] = [];
    let bytes = 0;
    let start = req.range.start;
    if (req.after !== undefined && Buffer.compare(req.after, start) >= 0) start = keySuccessor(req.after);
    const walk =
      req.revision >= current
        ? this.current({ start, end: req.range.end }, req.keysOnly)
        : this.at({ start, end: req.range.end }, req.revision, req.keysOnly);
    for (const kv of walk) {
      if (kvs.length >= req.limit || (kvs.length > 0 && bytes >= req.maxBytes)) return { kvs, more: true };
      kvs.push(kv);
      bytes += kv.key.length + kv.value.length;
    }
    return { kvs, more: false };
  }

  /** The number of keys in `range` at `revision` (the current one if `revision >= current`). */
  count(range: KeyRange, revision: number, current: number): number {
    if (revision >= current) {
      const sql = `SELECT count(*) FROM kv WHERE key >= ?${range.end === undefined ? "" : " AND key < ?"}`;
      const args = range.end === undefined ? [range.start] : [range.start, range.end];
      return this.statement(sql)
        .pluck()
        .get(...args) as number;
    }
    let n = 0;
    for (const _ of this.at(range, revision, true)) n++;
    return n;
  }

  /**
   * The changes with `fromRevision <= revision < toRevision` to keys in `range` (every key if
   * undefined), in (revision, sub) order, at most `limit`. A caller reading a long stretch asks for
   * it a window at a time (the scan is over the revisions, whatever the range matches).
   */
  changes(fromRevision: number, toRevision: number, range: KeyRange | undefined, limit: number): KvChange[] {
    const lo = fromRevision * CHANGES_PER_REVISION;
    const hi = toRevision * CHANGES_PER_REVISION;
    let rows: ChangeRow[];
    if (range === undefined) rows = this.stmt.changes.all(lo, hi, limit) as ChangeRow[];
    else {
      const sql = `${CHANGE_COLUMNS} WHERE h.id >= ? AND h.id < ? AND h.key >= ?${range.end === undefined ? "" : " AND h.key < ?"} ORDER BY h.id LIMIT ?`;
      const args: unknown[] = [lo, hi, range.start];
      if (range.end !== undefined) args.push(range.end);
      args.push(limit);
      rows = this.statement(sql).all(...args) as ChangeRow[];
    }
    return rows.map(toChange);
  }

  /** Every key, in key order (images, `stateHash`). Do not write while iterating. */
  *allKeys(): Generator<KeyValue> {
    yield* this.current({ start: EMPTY, end: undefined }, false);
  }

  /** Every change of the history (after `compactRevision`), in (revision, sub) order (`stateHash`). */
  *allChanges(compactRevision: number): Generator<KvChange> {
    let from = (compactRevision + 1) * CHANGES_PER_REVISION;
    for (;;) {
      const rows = this.stmt.changes.all(from, Number.MAX_SAFE_INTEGER, BATCH) as ChangeRow[];
      for (const r of rows) yield toChange(r);
      if (rows.length < BATCH) return;
      from = rows[rows.length - 1]!.id + 1;
    }
  }

  /**
   * Feeds every key in key order, then every change of the history in order, to `hasher` (the
   * state machine's `stateHash`, state-hash.ts). Reads everything.
   */
  hashInto(hasher: StateHasher, compactRevision: number): void {
    for (const kv of this.allKeys()) hasher.key(kv);
    for (const c of this.allChanges(compactRevision)) hasher.change(c);
  }

  /** The current keys of `range` in key order, read a batch at a time. */
  private *current(range: KeyRange, keysOnly: boolean): Generator<KeyValue> {
    const sql = `SELECT k.key, ${keysOnly ? "NULL AS value" : "h.value"}, k.create_rev, k.mod_rev, k.version FROM kv k${keysOnly ? "" : " CROSS JOIN history h ON h.id = k.mod_id"} WHERE k.key >= ?${range.end === undefined ? "" : " AND k.key < ?"} ORDER BY k.key LIMIT ${BATCH}`;
    const stmt = this.statement(sql);
    let start = range.start;
    for (;;) {
      const rows = stmt.all(...(range.end === undefined ? [start] : [start, range.end])) as KvRow[];
      for (const r of rows) yield toKeyValue(r, r.key);
      if (rows.length < BATCH) return;
      start = keySuccessor(rows[rows.length - 1]!.key);
    }
  }

  /**
   * The keys of `range` as they were at `revision`, in key order: a merge of the current rows with
   * the first change after `revision` of each key in the range (which says what the key was before
   * it). Needs the history complete after `revision` (the caller checks the compact revision).
   */
  private *at(range: KeyRange, revision: number, keysOnly: boolean): Generator<KeyValue> {
    const end = range.end === undefined ? "" : " AND key < ?";
    // min(id) makes SQLite take the other columns from the row holding it: the key's first change.
    const firstChanges = this.statement(
      `SELECT f.key, f.id, f.deleted, f.create_rev, f.version, f.prev_mod_rev, ${keysOnly ? "NULL" : "p.value"} AS prev_value FROM (SELECT key, min(id) AS id, value IS NULL AS deleted, create_rev, version, prev_mod_rev, prev_id FROM history WHERE id >= ? AND key >= ?${end} GROUP BY key ORDER BY key LIMIT ${CHANGED_BATCH}) f LEFT JOIN history p ON p.id = f.prev_id ORDER BY f.key`,
    );
    const minId = (revision + 1) * CHANGES_PER_REVISION;
    const changed = batches(range.start, CHANGED_BATCH, (from) =>
      firstChanges.all(...(range.end === undefined ? [minId, from] : [minId, from, range.end])),
    ) as Generator<ChangeRow & { deleted: number }>;
    const live = this.current(range, keysOnly);
    let a = live.next();
    let h = changed.next();
    for (;;) {
      if (a.done && h.done) return;
      const cmp = a.done ? 1 : h.done ? -1 : Buffer.compare(a.value.key, h.value.key);
      if (cmp < 0) {
        yield a.value as KeyValue;
        a = live.next();
        continue;
      }
      if (cmp === 0) a = live.next();
      const c = h.value as ChangeRow & { deleted: number };
      h = changed.next();
      // What the key was before its first change after `revision`.
      const existed = c.deleted === 1 || c.version > 1;
      if (existed) {
        yield {
          key: c.key,
          value: c.prev_value ?? EMPTY,
          createRevision: c.create_rev,
          modRevision: c.prev_mod_rev,
          version: c.deleted === 1 ? c.version : c.version - 1,
        };
      }
    }
  }

  private statement(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }
}

/** Rows of a keyed query read `size` at a time, each batch starting after the last key of the one before. */
function* batches(
  start: Uint8Array,
  size: number,
  query: (from: Uint8Array) => unknown[],
): Generator<unknown> {
  let from = start;
  for (;;) {
    const rows = query(from) as { key: Buffer }[];
    yield* rows;
    if (rows.length < size) return;
    from = keySuccessor(rows[rows.length - 1]!.key);
  }
}

function toKeyValue(r: KvRow, key: Uint8Array): KeyValue {
  return {
    key,
    value: r.value ?? EMPTY,
    createRevision: r.create_rev,
    modRevision: r.mod_rev,
    version: r.version,
  };
}

function toChange(r: ChangeRow): KvChange {
  return {
    revision: Math.floor(r.id / CHANGES_PER_REVISION),
    sub: r.id % CHANGES_PER_REVISION,
    key: r.key,
    value: r.value ?? undefined,
    createRevision: r.create_rev,
    version: r.version,
    prevModRevision: r.prev_mod_rev,
    prevValue: r.prev_value ?? undefined,
  };
}

/** A history row as a change: its own columns and the value of the row before it (`prev_id`). */
const CHANGE_COLUMNS =
  "SELECT h.id, h.key, h.value, h.create_rev, h.version, h.prev_mod_rev, p.value AS prev_value FROM history h LEFT JOIN history p ON p.id = h.prev_id";

function prepareStore(db: Database.Database) {
  return {
    getValue: db
      .prepare<[Uint8Array]>(
        "SELECT h.value FROM kv k CROSS JOIN history h ON h.id = k.mod_id WHERE k.key = ?",
      )
      .pluck(),
    get: db.prepare<[Uint8Array]>(
      "SELECT h.value, k.create_rev, k.mod_rev, k.version FROM kv k CROSS JOIN history h ON h.id = k.mod_id WHERE k.key = ?",
    ),
    rowFromPut: db.prepare<[number, Uint8Array, Uint8Array]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_id) SELECT ?, key, ?, create_rev, version + 1, mod_rev, mod_id FROM kv WHERE key = ?",
    ),
    rowCreate: db.prepare<[number, Uint8Array, Uint8Array, number]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_id) VALUES (?, ?, ?, ?, 1, 0, NULL)",
    ),
    insert: db.prepare<[Uint8Array, number, number, number]>(
      "INSERT INTO kv (key, create_rev, mod_rev, version, mod_id) VALUES (?, ?, ?, 1, ?)",
    ),
    update: db.prepare<[number, number, Uint8Array]>(
      "UPDATE kv SET mod_rev = ?, mod_id = ?, version = version + 1 WHERE key = ?",
    ),
    rowFromDelete: db.prepare<[number, Uint8Array]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_id) SELECT ?, key, NULL, create_rev, version, mod_rev, mod_id FROM kv WHERE key = ?",
    ),
    del: db.prepare<[Uint8Array]>("DELETE FROM kv WHERE key = ?"),
    compactSuperseded: db.prepare<[number, number]>(
      "DELETE FROM history WHERE id IN (SELECT prev_id FROM history WHERE id >= ? AND id < ? AND prev_id IS NOT NULL)",
    ),
    compactDeletes: db.prepare<[number, number]>(
      "DELETE FROM history WHERE id >= ? AND id < ? AND value IS NULL",
    ),
    changes: db.prepare<[number, number, number]>(
      `${CHANGE_COLUMNS} WHERE h.id >= ? AND h.id < ? ORDER BY h.id LIMIT ?`,
    ),
  };
}
