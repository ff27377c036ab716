/**
 * The KV database file: its schema, how the state machine's connection is configured, and the
 * statements it runs. Shared by the state machine ({@link SqliteStateMachine}), the image reader
 * (sqlite-snapshot.ts) and the restore (sqlite-restore.ts), so that a database built from an image
 * is exactly one that `open` would have created.
 */
import { existsSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { CHANGES_PER_REVISION } from "./mvcc-types.js";
import { createIdempotencyTable } from "./sqlite-idempotency.js";

/**
 * Bumped when the schema changes. Version 2 added the per-key revisions (`create_rev`, `mod_rev`,
 * `version`), the `history` table and `compact_revision`; version 3 stores each value once, in its
 * history row (mvcc-store.ts). Databases of versions 1 and 2 are migrated at open
 * ({@link migrateSchema}), any other version is refused.
 */
export const SCHEMA_VERSION = 3;

/** How the state machine's own (writing) connection checkpoints its WAL. */
export interface ConnectionOptions {
  /**
   * True: SQLite's automatic checkpoints (every 1000 pages, run by the committing connection, i.e.
   * on the event loop). False: none; a {@link WalCheckpointer} runs them from a worker thread.
   */
  inlineCheckpoints: boolean;
  /** `journal_size_limit`: the WAL file is truncated back to this size when it is restarted. */
  walLimitBytes: number;
}

/**
 * Opens (creating if absent) the KV database at `path` as the state machine's writing connection:
 * WAL journal, `synchronous=NORMAL` (see sqlite-state-machine.ts for why that loses nothing).
 * Migrates a version-1 database; throws if the file is not a KV database of a known version.
 */
export function openDatabase(path: string, options: ConnectionOptions): Database.Database {
  const fresh = !existsSync(path);
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    if (!options.inlineCheckpoints) db.pragma("wal_autocheckpoint = 0");
    db.pragma(`journal_size_limit = ${Math.floor(options.walLimitBytes)}`);
    if (fresh) createSchema(db);
    else migrateSchema(db);
    checkSchema(db);
    createIdempotencyTable(db); // a database of an earlier release lacks it
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Creates the tables of an empty KV database (applied index 0, revision 0, compacted at 0).
 *
 * - `kv`: one row per live key with its revisions and the `history` row holding its value
 *   (mvcc-store.ts).
 * - `history`: the values and the changes, one row per changed key per revision (mvcc-store.ts has
 *   the row layout); the rows after `compact_revision` are what watches and reads at a past
 *   revision are served from.
 * - `meta`: `applied_index`, `revision`, `compact_revision`; the checkpoint worker also counts its
 *   WAL restarts there (`wal_restarts`, wal-checkpointer.ts), which is not part of the state
 *   (images and `stateHash` leave it out).
 * - `idempotency`: the records of writes sent with an Idempotency-Key (sqlite-idempotency.ts).
 */
export function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE kv (${KV_COLUMNS}) WITHOUT ROWID;
    ${META_DDL}
    INSERT INTO meta (name, value) VALUES ('compact_revision', 0);
    CREATE TABLE history (${HISTORY_COLUMNS});
    PRAGMA user_version = ${SCHEMA_VERSION};
  `);
  createIdempotencyTable(db);
}

/**
 * Creates the tables of an empty version-2 database: where an image of format 1 or 2 is restored,
 * to be migrated to this version like a database of that release ({@link migrateSchema}).
 */
export function createLegacySchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL, ${KV_REVISION_COLUMNS}) WITHOUT ROWID;
    ${META_DDL}
    ${HISTORY_V2_DDL}
    PRAGMA user_version = 2;
  `);
  createIdempotencyTable(db);
}

const META_DDL = `
    CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (name, value) VALUES ('applied_index', 0), ('revision', 0);`;

const KV_COLUMNS =
  "key BLOB PRIMARY KEY, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, version INTEGER NOT NULL, mod_id INTEGER NOT NULL";

const HISTORY_COLUMNS =
  "id INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB, create_rev INTEGER NOT NULL, version INTEGER NOT NULL, prev_mod_rev INTEGER NOT NULL, prev_id INTEGER";

const KV_REVISION_COLUMNS =
  "create_rev INTEGER NOT NULL DEFAULT 0, mod_rev INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1";

/** What schema version 2 added besides the columns of `kv`. */
const HISTORY_V2_DDL = `
    CREATE TABLE history (
      id INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB, create_rev INTEGER NOT NULL,
      version INTEGER NOT NULL, prev_mod_rev INTEGER NOT NULL, prev_value BLOB);
    INSERT INTO meta (name, value) VALUES ('compact_revision', 0);`;

/**
 * Migrates a version-1 database (keys and values only) to version 2, in one transaction: its keys
 * get create and mod revision 0 and version 1 ("written before revisions were kept": the same on
 * every node, whatever index each was at when it was upgraded, so the replicas stay identical), and
 * its history starts empty, compacted at the database's revision (watches and reads at a revision
 * start there). What the nodes of one cluster hold in `history` differs until a compaction passes
 * the revision the last of them was upgraded at: `stateHash` covers the history, so their digests
 * differ meanwhile (the data, and every answer about it, do not).
 */
export function migrateSchema(db: Database.Database): void {
  if (db.pragma("user_version", { simple: true }) === 1) {
    db.transaction(() => {
      for (const column of KV_REVISION_COLUMNS.split(", ")) db.exec(`ALTER TABLE kv ADD COLUMN ${column}`);
      db.exec(HISTORY_V2_DDL);
      db.exec(
        "UPDATE meta SET value = (SELECT value FROM meta WHERE name = 'revision') WHERE name = 'compact_revision'",
      );
      db.pragma("user_version = 2");
    })();
  }
  if (db.pragma("user_version", { simple: true }) === 2) db.transaction(() => migrateToValuesOnce(db))();
}

/**
 * Version 2 to 3 (inside the caller's transaction): the same state with each value stored once.
 * Version 2 kept every key's value in `kv` and, in `history`, each change's new and previous value;
 * its history held nothing at or below the compact revision. Version 3 keeps a value only in its
 * `history` row, so the values whose row was compacted become rows of their own under negative ids
 * (unique, below every real row; mvcc-store.ts): each key's current value when the key has not
 * changed since the compact revision, and the previous value of each key's first change after it.
 * The ids are numbered in key order and change order, so the same version-2 state always becomes
 * the same rows. Every read, watch and `stateHash` answers as before.
 */
function migrateToValuesOnce(db: Database.Database): void {
  const c = readMeta(db).compactRevision;
  const keys = db.prepare("SELECT count(*) FROM kv").pluck().get() as number;
  const rowOf = (rev: string, key: string) =>
    `(SELECT r.id FROM history r WHERE r.id >= ${rev} * ${CHANGES_PER_REVISION} AND r.id < (${rev} + 1) * ${CHANGES_PER_REVISION} AND r.key = ${key})`;
  db.exec(`
    CREATE TABLE kv3 (${KV_COLUMNS}) WITHOUT ROWID;
    CREATE TABLE history3 (${HISTORY_COLUMNS});
    CREATE TEMP TABLE before3 (change_id INTEGER PRIMARY KEY, id INTEGER NOT NULL);`);
  db.prepare(
    `INSERT INTO kv3 SELECT key, create_rev, mod_rev, version,
       CASE WHEN mod_rev <= @c THEN -row_number() OVER (ORDER BY key) ELSE ${rowOf("k.mod_rev", "k.key")} END
     FROM kv k ORDER BY key`,
  ).run({ c });
  db.prepare(
    "INSERT INTO history3 SELECT k3.mod_id, k.key, k.value, k.create_rev, k.version, 0, NULL FROM kv3 k3 JOIN kv k ON k.key = k3.key WHERE k3.mod_id < 0",
  ).run();
  db.prepare(
    "INSERT INTO before3 SELECT id, -(@keys + row_number() OVER (ORDER BY id)) FROM history WHERE prev_value IS NOT NULL AND prev_mod_rev <= @c",
  ).run({ c, keys });
  db.prepare(
    `INSERT INTO history3 SELECT b.id, h.key, h.prev_value, h.create_rev,
       CASE WHEN h.value IS NULL THEN h.version ELSE h.version - 1 END, 0, NULL
     FROM temp.before3 b JOIN history h ON h.id = b.change_id`,
  ).run();
  db.prepare(
    `INSERT INTO history3 SELECT h.id, h.key, h.value, h.create_rev, h.version, h.prev_mod_rev,
       CASE WHEN h.prev_value IS NULL THEN NULL
            WHEN h.prev_mod_rev <= @c THEN (SELECT b.id FROM temp.before3 b WHERE b.change_id = h.id)
            ELSE ${rowOf("h.prev_mod_rev", "h.key")} END
     FROM history h ORDER BY h.id`,
  ).run({ c });
  db.exec(`
    DROP TABLE temp.before3;
    DROP TABLE kv;
    DROP TABLE history;
    ALTER TABLE kv3 RENAME TO kv;
    ALTER TABLE history3 RENAME TO history;
    PRAGMA user_version = 3;`);
}

/**
 * Starts the WAL of the writing connection `db` (on `path`) if it has none: the first frame written
 * to an empty WAL comes with a header that SQLite fsyncs, so opening does it (one small write of
 * the `wal_restarts` counter, see createSchema) rather than the first commit on the event loop.
 */
export function startWal(db: Database.Database, path: string): void {
  let size = 0;
  try {
    size = statSync(`${path}-wal`).size;
  } catch {}
  if (size > 0) return;
  db.prepare(
    "INSERT INTO meta (name, value) VALUES ('wal_restarts', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
  ).run();
}

/** Throws unless `db` has this code's schema version. */
export function checkSchema(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true });
  if (version !== SCHEMA_VERSION) {
    throw new Error(`kv: database schema version ${String(version)}, expected ${SCHEMA_VERSION}`);
  }
}

/** The `meta` rows that are part of the state. */
export interface Meta {
  readonly appliedIndex: number;
  /** The store's revision: the last one a change was applied at (kv-store.ts). */
  readonly revision: number;
  /** History up to this revision is gone (kv-store.ts, "Compaction"). */
  readonly compactRevision: number;
}

/** Reads the {@link Meta} as `db` sees it (its open transaction's, if any). */
export function readMeta(db: Database.Database): Meta {
  const get = db.prepare<[string], number>("SELECT value FROM meta WHERE name = ?").pluck();
  return {
    appliedIndex: get.get("applied_index")!,
    revision: get.get("revision")!,
    compactRevision: get.get("compact_revision")!,
  };
}

/** The statements of the state machine's connection, prepared once per connection. */
export interface Statements {
  readonly count: Database.Statement<[]>;
  readonly getMeta: Database.Statement<[string]>;
  readonly setMeta: Database.Statement<[string, number]>;
  readonly begin: Database.Statement<[]>;
  readonly commit: Database.Statement<[]>;
  readonly rollback: Database.Statement<[]>;
  readonly savepoint: Database.Statement<[]>;
  readonly release: Database.Statement<[]>;
  readonly rollbackTo: Database.Statement<[]>;
}

/** Prepares {@link Statements} on `db`. */
export function prepare(db: Database.Database): Statements {
  return {
    count: db.prepare("SELECT count(*) FROM kv"),
    getMeta: db.prepare("SELECT value FROM meta WHERE name = ?"),
    setMeta: db.prepare(
      "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    ),
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    savepoint: db.prepare("SAVEPOINT apply"),
    release: db.prepare("RELEASE apply"),
    rollbackTo: db.prepare("ROLLBACK TO apply"),
  };
}
