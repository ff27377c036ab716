/**
 * The revisioned key space of the KV state machine, on its SQLite connection: etcd's MVCC model
 * (etcd's `mvcc` package) in two tables.
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
 * **Current state**: `kv(key, value, create_rev, mod_rev, version)`, one row per key.
 *
 * **History**: `history`, one row per changed key per revision, in the same transaction as the
 * change, keyed by `id = revision * 1024 + sub` (`sub` numbers the changes of one revision, in the
 * order the transaction made them; a revision changes each key at most once). A row holds the key,
 * the new value (NULL for a delete; Invariant: non-NULL for a put), the key's create revision and
 * version after a put (the deleted key's, for a delete), and what the key held before: its mod
 * revision and value (`prev_mod_rev`, `prev_value`; a put with version 1 had nothing before).
 * Watches read the changes from it in `id` order; a read at a past revision R rebuilds each key's
 * state at R from the key's first change after R (its "before" half), or takes the current row when
 * the key has not changed since R. So the state at any revision from the compact revision on can be
 * read, with no second copy of the data: the history holds only what changed.
 *
 * The history has no index on `key`: one costs more than the rest of a put's history (7 of 12 µs
 * more per put, measured), and only reads at a past revision would use it. Such a read scans the
 * history after its revision once per page (at most `--history-entries` rows; reads at a recent
 * revision, the paging case, scan little).
 *
 * **Compaction** drops the history at or below a revision (`compact`): reads at an older revision,
 * and watches from one, are refused from then on. It is a replicated command like a write (the
 * leader's compactor proposes it, history-compactor.ts), so every node holds the same history
 * at the same applied index, images carry it, and `stateHash` covers it.
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
    // The history row from the old one, inside SQLite (no copy of the old value through JS).
    if (this.stmt.historyFromPut.run(id, value, key).changes === 0) {
      this.stmt.historyCreate.run(id, key, value, revision);
      this.stmt.insert.run(key, value, revision, revision);
    } else {
      this.stmt.update.run(value, revision, key);
    }
  }

  /** Deletes `key` at (`revision`, `sub`) if present; false (nothing written) if absent. */
  delete(key: Uint8Array, revision: number, sub: number): boolean {
    const id = revision * CHANGES_PER_REVISION + sub;
    if (this.stmt.historyFromDelete.run(id, key).changes === 0) return false;
    this.stmt.del.run(key);
    return true;
  }

  /** Drops the history at or below `revision`; returns the rows deleted. */
  compact(revision: number): number {
    return this.stmt.compact.run((revision + 1) * CHANGES_PER_REVISION).changes;
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
      const sql = `SELECT * FROM history WHERE id >= ? AND id < ? AND key >= ?${range.end === undefined ? "" : " AND key < ?"} ORDER BY id LIMIT ?`;
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

  /** Every change of the history, in (revision, sub) order (images, `stateHash`). */
  *allChanges(): Generator<KvChange> {
    let from = 0;
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
  hashInto(hasher: StateHasher): void {
    for (const kv of this.allKeys()) hasher.key(kv);
    for (const c of this.allChanges()) hasher.change(c);
  }

  /** The current keys of `range` in key order, read a batch at a time. */
  private *current(range: KeyRange, keysOnly: boolean): Generator<KeyValue> {
    const sql = `SELECT key, ${keysOnly ? "NULL AS value" : "value"}, create_rev, mod_rev, version FROM kv WHERE key >= ?${range.end === undefined ? "" : " AND key < ?"} ORDER BY key LIMIT ${BATCH}`;
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
      `SELECT key, min(id) AS id, value IS NULL AS deleted, create_rev, version, prev_mod_rev, ${keysOnly ? "NULL AS prev_value" : "prev_value"} FROM history WHERE id >= ? AND key >= ?${end} GROUP BY key ORDER BY key LIMIT ${CHANGED_BATCH}`,
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

function prepareStore(db: Database.Database) {
  return {
    getValue: db.prepare<[Uint8Array]>("SELECT value FROM kv WHERE key = ?").pluck(),
    get: db.prepare<[Uint8Array]>("SELECT value, create_rev, mod_rev, version FROM kv WHERE key = ?"),
    historyFromPut: db.prepare<[number, Uint8Array, Uint8Array]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_value) SELECT ?, key, ?, create_rev, version + 1, mod_rev, value FROM kv WHERE key = ?",
    ),
    historyCreate: db.prepare<[number, Uint8Array, Uint8Array, number]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_value) VALUES (?, ?, ?, ?, 1, 0, NULL)",
    ),
    insert: db.prepare<[Uint8Array, Uint8Array, number, number]>(
      "INSERT INTO kv (key, value, create_rev, mod_rev, version) VALUES (?, ?, ?, ?, 1)",
    ),
    update: db.prepare<[Uint8Array, number, Uint8Array]>(
      "UPDATE kv SET value = ?, mod_rev = ?, version = version + 1 WHERE key = ?",
    ),
    historyFromDelete: db.prepare<[number, Uint8Array]>(
      "INSERT INTO history (id, key, value, create_rev, version, prev_mod_rev, prev_value) SELECT ?, key, NULL, create_rev, version, mod_rev, value FROM kv WHERE key = ?",
    ),
    del: db.prepare<[Uint8Array]>("DELETE FROM kv WHERE key = ?"),
    compact: db.prepare<[number]>("DELETE FROM history WHERE id < ?"),
    changes: db.prepare<[number, number, number]>(
      "SELECT * FROM history WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
    ),
  };
}
