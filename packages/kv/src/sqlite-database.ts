/**
 * The KV database file: its schema, how the state machine's connection is configured, and the
 * statements it runs. Shared by the state machine ({@link SqliteStateMachine}), the image reader
 * (sqlite-snapshot.ts) and the restore (sqlite-restore.ts), so that a database built from an image
 * is exactly one that `open` would have created.
 */
import { existsSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { createIdempotencyTable } from "./sqlite-idempotency.js";

/** Bumped when the schema changes; a database with another version is refused. */
export const SCHEMA_VERSION = 1;

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
 * Throws if the file is not a KV database of this schema version.
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
    checkSchema(db);
    createIdempotencyTable(db); // a database of an earlier release lacks it
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Creates the tables of an empty KV database (applied index 0, revision 0). `meta` holds
 * `applied_index` and `revision`, the state with `kv`; the checkpoint worker also counts its WAL
 * restarts there (`wal_restarts`, wal-checkpointer.ts), which is not part of the state (images and
 * `stateHash` leave it out).
 */
export function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (name, value) VALUES ('applied_index', 0), ('revision', 0);
    PRAGMA user_version = ${SCHEMA_VERSION};
  `);
  createIdempotencyTable(db);
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

/** Reads the applied index and revision as `db` sees them (its open transaction's, if any). */
export function readMeta(db: Database.Database): { appliedIndex: number; revision: number } {
  const get = db.prepare<[string], number>("SELECT value FROM meta WHERE name = ?").pluck();
  return { appliedIndex: get.get("applied_index")!, revision: get.get("revision")! };
}

/** The statements of the state machine's connection, prepared once per connection. */
export interface Statements {
  readonly get: Database.Statement<[Uint8Array]>;
  readonly put: Database.Statement<[Uint8Array, Uint8Array]>;
  readonly del: Database.Statement<[Uint8Array]>;
  readonly count: Database.Statement<[]>;
  readonly all: Database.Statement<[]>;
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
    get: db.prepare("SELECT value FROM kv WHERE key = ?"),
    put: db.prepare(
      "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    del: db.prepare("DELETE FROM kv WHERE key = ?"),
    count: db.prepare("SELECT count(*) FROM kv"),
    all: db.prepare("SELECT key, value FROM kv ORDER BY key"),
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
