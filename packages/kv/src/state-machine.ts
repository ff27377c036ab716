/**
 * The KV state machine on SQLite (better-sqlite3): the keys and values, the applied index and a
 * write revision in one database file, `<dataDir>/kv.sqlite`, in WAL journal mode.
 *
 * Every batch of committed entries is applied in one transaction that also stores the index of the
 * batch's last entry, with `synchronous=FULL`, so after any crash the database holds exactly the
 * entries up to its applied index: the node replays from there and nothing is lost or applied twice.
 * Snapshots are the serialized database file (`sqlite3_serialize`), so a snapshot carries its own
 * applied index and revision; restoring one swaps the file atomically.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { ApplyEntry, StateMachine } from "@tsraft/node";
import Database from "better-sqlite3";
import type { Logger } from "pino";
import { type Command, decodeCommand } from "./command.js";

/** The database file's name inside the data directory. */
export const DB_FILE = "kv.sqlite";
/** Bumped when the schema changes; a database with another version is refused. */
const SCHEMA_VERSION = 1;

/** What applying one normal entry did; the node hands it to the proposer's `propose()` promise. */
export type ApplyResult =
  | { readonly kind: "ok" }
  /** A conditional write whose `prev` did not match; `current` is the value found (undefined: absent). */
  | { readonly kind: "compare-failed"; readonly current: Uint8Array | undefined }
  /** The entry's data was not a command (never proposed by this server); it changed nothing. */
  | { readonly kind: "invalid"; readonly error: string };

const OK: ApplyResult = { kind: "ok" };

/** Options of {@link SqliteStateMachine.open}. */
export interface SqliteStateMachineOptions {
  /** Logs malformed entries and restores. Default: none. */
  logger?: Logger;
}

/**
 * The SQLite-backed {@link StateMachine}. Open it with {@link SqliteStateMachine.open}, hand it to
 * the RaftNode, read it with `get` (after `linearizableRead` for a linearizable read) and `close`
 * it after the node stopped.
 */
export class SqliteStateMachine implements StateMachine {
  private db: Database.Database;
  private stmts: Statements;
  /** Invariant: equals the `applied_index` row of `meta` (the last committed transaction's). */
  private applied: number;
  /** Invariant: equals the `revision` row of `meta`: the number of writes that changed the store. */
  private rev: number;
  private readonly path: string;
  private readonly logger: Logger | undefined;

  private constructor(dir: string, options: SqliteStateMachineOptions) {
    this.path = join(dir, DB_FILE);
    this.logger = options.logger;
    this.db = openDatabase(this.path);
    this.stmts = prepare(this.db);
    this.applied = this.stmts.getMeta.pluck().get("applied_index") as number;
    this.rev = this.stmts.getMeta.pluck().get("revision") as number;
  }

  /** Opens (creating if needed) the state machine in `dir`. Throws if the file is not ours. */
  static open(dir: string, options: SqliteStateMachineOptions = {}): SqliteStateMachine {
    mkdirSync(dir, { recursive: true });
    return new SqliteStateMachine(dir, options);
  }

  appliedIndex(): number {
    return this.applied;
  }

  /** The number of writes (puts, and deletes of present keys) applied so far; snapshots carry it. */
  revision(): number {
    return this.rev;
  }

  /**
   * Applies a batch in one transaction. Entries at or below the applied index are skipped (their
   * effects are already in the database), so a replay after a crash cannot apply anything twice.
   */
  apply(entries: readonly ApplyEntry[]): readonly unknown[] {
    const results: (ApplyResult | undefined)[] = new Array(entries.length).fill(undefined);
    this.applyTx(entries, results);
    return results;
  }

  private readonly applyTx = (entries: readonly ApplyEntry[], results: (ApplyResult | undefined)[]) => {
    const run = () => {
      let applied = this.applied;
      let rev = this.rev;
      entries.forEach((e, i) => {
        if (e.index <= applied) return;
        applied = e.index;
        if (e.kind !== "normal") return;
        let cmd: Command;
        try {
          cmd = decodeCommand(e.data);
        } catch (err) {
          const error = (err as Error).message;
          this.logger?.warn({ index: e.index, err: error }, "skipping an entry that is not a KV command");
          results[i] = { kind: "invalid", error };
          return;
        }
        const r = this.execute(cmd);
        if (r.changed) rev++;
        results[i] = r.result;
      });
      if (applied === this.applied) return;
      this.stmts.setMeta.run("applied_index", applied);
      this.stmts.setMeta.run("revision", rev);
      return { applied, rev };
    };
    const done = this.db.transaction(run).immediate();
    if (done !== undefined) {
      this.applied = done.applied;
      this.rev = done.rev;
    }
  };

  private execute(cmd: Command): { result: ApplyResult; changed: boolean } {
    if (cmd.prev !== undefined) {
      const current = this.get(cmd.key);
      if (current === undefined || Buffer.compare(current, cmd.prev) !== 0) {
        return { result: { kind: "compare-failed", current }, changed: false };
      }
    }
    if (cmd.op === "put") {
      this.stmts.put.run(cmd.key, cmd.value);
      return { result: OK, changed: true };
    }
    return { result: OK, changed: this.stmts.del.run(cmd.key).changes > 0 };
  }

  /** The value of `key`, or undefined. Reads what is applied here: serializable, not linearizable. */
  get(key: Uint8Array): Uint8Array | undefined {
    return this.stmts.get.pluck().get(key) as Buffer | undefined;
  }

  /** The number of keys in the store. */
  count(): number {
    return this.stmts.count.pluck().get() as number;
  }

  /** The whole database as one byte image (it includes the applied index and revision). */
  snapshot(): Uint8Array {
    return legacyJournal(this.db.serialize());
  }

  /**
   * Replaces the database with the image `data` (from {@link snapshot}, on any node), which must
   * be a valid KV database; the applied index becomes `index`. The swap is a rename, so a crash
   * leaves either the old database or the new one.
   */
  restore(data: Uint8Array, index: number): void {
    // Check the image before touching the files: it must open and have our schema.
    const image = new Database(legacyJournal(Buffer.from(data)));
    let imageIndex: number;
    try {
      checkSchema(image);
      imageIndex = image
        .prepare("SELECT value FROM meta WHERE name = 'applied_index'")
        .pluck()
        .get() as number;
    } finally {
      image.close();
    }
    if (imageIndex !== index) {
      this.logger?.warn({ imageIndex, index }, "snapshot image and metadata disagree on the applied index");
    }
    this.db.close();
    const tmp = `${this.path}.restore`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // A stale -wal file would be replayed into the new database: remove it before the swap (closing
    // checkpointed it, so the old file alone is complete meanwhile).
    rmSync(`${this.path}-wal`, { force: true });
    rmSync(`${this.path}-shm`, { force: true });
    renameSync(tmp, this.path);
    syncDir(join(this.path, ".."));
    this.db = openDatabase(this.path);
    this.stmts = prepare(this.db);
    if (imageIndex !== index) this.stmts.setMeta.run("applied_index", index);
    this.applied = index;
    this.rev = this.stmts.getMeta.pluck().get("revision") as number;
    this.logger?.info(
      { index, keys: this.count(), revision: this.rev },
      "restored state machine from snapshot",
    );
  }

  /** Closes the database. The state machine is unusable afterwards. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}

interface Statements {
  readonly get: Database.Statement<[Uint8Array]>;
  readonly put: Database.Statement<[Uint8Array, Uint8Array]>;
  readonly del: Database.Statement<[Uint8Array]>;
  readonly count: Database.Statement<[]>;
  readonly getMeta: Database.Statement<[string]>;
  readonly setMeta: Database.Statement<[string, number]>;
}

function prepare(db: Database.Database): Statements {
  return {
    get: db.prepare("SELECT value FROM kv WHERE key = ?"),
    put: db.prepare(
      "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    del: db.prepare("DELETE FROM kv WHERE key = ?"),
    count: db.prepare("SELECT count(*) FROM kv"),
    getMeta: db.prepare("SELECT value FROM meta WHERE name = ?"),
    setMeta: db.prepare(
      "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    ),
  };
}

function openDatabase(path: string): Database.Database {
  const fresh = !existsSync(path);
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    // FULL: a committed apply survives power loss, not only a process crash.
    db.pragma("synchronous = FULL");
    if (fresh) {
      db.exec(`
        CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO meta (name, value) VALUES ('applied_index', 0), ('revision', 0);
        PRAGMA user_version = ${SCHEMA_VERSION};
      `);
    }
    checkSchema(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function checkSchema(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true });
  if (version !== SCHEMA_VERSION) {
    throw new Error(`kv: database schema version ${String(version)}, expected ${SCHEMA_VERSION}`);
  }
}

/**
 * Marks a database image as rollback-journal (header bytes 18-19 = 1): an image serialized from a
 * WAL-mode database says "WAL" there, which an in-memory (deserialized) database cannot open.
 * Opening the file again switches it back to WAL. Changes `image` in place and returns it.
 */
function legacyJournal(image: Buffer): Buffer {
  if (image.length >= 100 && image[18] === 2 && image[19] === 2) {
    image[18] = 1;
    image[19] = 1;
  }
  return image;
}

function syncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
