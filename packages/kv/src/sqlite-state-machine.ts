/**
 * The KV state machine on SQLite (better-sqlite3): the keys and values, the applied index and a
 * write revision in one database file, `<dataDir>/kv.sqlite`, in WAL journal mode.
 *
 * Every batch of committed entries is applied atomically together with the index of the batch's
 * last entry (a savepoint), so the database always holds exactly the entries up to its applied
 * index. Snapshots are the serialized database file (`sqlite3_serialize`), so a snapshot carries its
 * own applied index and revision; restoring one swaps the file atomically.
 *
 * **Durability is the Raft WAL's job, not SQLite's** (etcd's backend works the same way). Applied
 * batches accumulate in one open SQLite transaction that is committed every `commitIntervalMs`
 * (100 ms) or `commitEntries` (10,000) entries, before a snapshot and at close; commits run with
 * `synchronous=NORMAL`, which in WAL mode does not fsync (SQLite syncs its WAL only at checkpoints).
 * So a crash may take the database back to an earlier applied index — a process crash to the last
 * commit, a power loss to some earlier commit — but never to a state that is not the exact result
 * of the entries up to its applied index (SQLite's atomic commits; WAL mode is consistent with
 * NORMAL). Nothing acknowledged is lost, and nothing is applied twice:
 *
 * 1. A write is acknowledged only once its entry is committed, i.e. fsynced in the Raft WAL of a
 *    quorum; it is applied here only after that, and only from this node's log.
 * 2. At restart the node delivers every entry of its WAL after the latest snapshot, and this state
 *    machine skips those at or below its applied index: whatever tail the database lost is applied
 *    again, in order, exactly once (entries it kept are skipped). The WAL keeps every entry after
 *    the latest snapshot (segments are released only up to a snapshot that is durable, file first,
 *    then its WAL marker), and committed entries this node's WAL lacks come from the leader as to
 *    any lagging follower.
 * 3. If the database went back to before the latest snapshot (those entries may be gone from the
 *    WAL), the node restores it from that snapshot first (RaftNode.start: applied index below the
 *    snapshot's), then replays the WAL after it. A snapshot is durable on its own (its file is
 *    fsynced before its WAL marker is written), so it never depends on this database's tail;
 *    `snapshot()` commits first, and {@link restore} fsyncs the new file before it replaces the old.
 *
 * packages/node/src/raftnode/state-machine-tail.test.ts checks 2 and 3 against the node (the state
 * machine taken back to every earlier state, across WAL compaction), and test/kv/sqlite-tail.test.ts
 * against this database (its files replaced by older copies under a running 3-node cluster).
 * Serializable reads on a node restarted after a power loss may see the older state until the
 * replay has caught up, as they may on any lagging follower; linearizable reads wait for it.
 */

import { createHash } from "node:crypto";
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
import { type ApplyEntry, type StateMachine, trace, tracing } from "@tsraft/node";
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
  /** Logs malformed entries, restores and commit failures. Default: none. */
  logger?: Logger;
  /**
   * Longest time applied entries wait in the open transaction before it is committed (default
   * 100 ms, etcd's backend batch interval). 0 commits every applied batch at once.
   */
  commitIntervalMs?: number;
  /** Applied entries after which the open transaction is committed at once (default 10,000, etcd's batch limit). */
  commitEntries?: number;
  /**
   * Called once if a commit outside `apply` (the interval's) fails; every later call of the state
   * machine then throws that error. The server stops its node here (it must not serve reads of
   * state the database no longer holds).
   */
  onFailure?: (err: unknown) => void;
}

/** Defaults of {@link SqliteStateMachineOptions}: etcd's backend batch interval and limit. */
const DEFAULT_COMMIT_INTERVAL_MS = 100;
const DEFAULT_COMMIT_ENTRIES = 10_000;

/**
 * The SQLite-backed {@link StateMachine}. Open it with {@link SqliteStateMachine.open}, hand it to
 * the RaftNode, read it with `get` (after `linearizableRead` for a linearizable read) and `close`
 * it after the node stopped.
 */
export class SqliteStateMachine implements StateMachine {
  private db: Database.Database;
  private stmts: Statements;
  /**
   * Invariant: equals the `applied_index` row of `meta` as this connection sees it (the open
   * transaction's, once something is applied in it; the durable one may be lower).
   */
  private applied: number;
  /** Invariant: equals the `revision` row of `meta`: the number of writes that changed the store. */
  private rev: number;
  private readonly path: string;
  private readonly logger: Logger | undefined;
  private readonly commitIntervalMs: number;
  private readonly commitEntries: number;
  private readonly onFailure: ((err: unknown) => void) | undefined;
  /** Entries applied in the open transaction (0: none is open). */
  private pending = 0;
  /** Commits the open transaction when the interval is over. Invariant: set iff `pending > 0` and an interval is configured. */
  private commitTimer: NodeJS.Timeout | undefined;
  /** The error of a failed commit: the state machine refuses every call after it. */
  private failure: unknown;

  private constructor(dir: string, options: SqliteStateMachineOptions) {
    this.path = join(dir, DB_FILE);
    this.logger = options.logger;
    this.commitIntervalMs = options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
    this.commitEntries = options.commitEntries ?? DEFAULT_COMMIT_ENTRIES;
    this.onFailure = options.onFailure;
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

  /** The applied index as this state machine sees it (at open: the database's durable one). */
  appliedIndex(): number {
    return this.applied;
  }

  /** The number of writes (puts, and deletes of present keys) applied so far; snapshots carry it. */
  revision(): number {
    return this.rev;
  }

  /**
   * Applies a batch atomically (all of it with its applied index, or nothing) in the open
   * transaction, which is committed later (see the module comment). Entries at or below the applied
   * index are skipped (their effects are already in the database), so a replay after a crash cannot
   * apply anything twice. Throws if the batch could not be applied; the node then stops.
   */
  apply(entries: readonly ApplyEntry[]): readonly unknown[] {
    this.checkFailure();
    const results: (ApplyResult | undefined)[] = new Array(entries.length).fill(undefined);
    if (this.pending === 0) this.stmts.begin.run();
    try {
      this.applyTx(entries, results);
    } catch (err) {
      // The savepoint is rolled back; if SQLite rolled the whole transaction back (it may, on I/O
      // errors), what this connection sees is the last commit: read the applied index again.
      this.resync();
      throw err;
    }
    if (this.db.inTransaction) {
      this.pending += entries.length;
      if (this.pending >= this.commitEntries || this.commitIntervalMs === 0) this.commit();
      else this.commitTimer ??= setTimeout(this.onCommitTimer, this.commitIntervalMs);
    }
    return results;
  }

  /**
   * Commits the open transaction now (a no-op when none is open). Throws if the commit fails; the
   * state machine then refuses every later call. Called before snapshots, restores and at close.
   */
  commit(): void {
    this.checkFailure();
    if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (this.pending === 0) return;
    this.pending = 0;
    if (!this.db.inTransaction) return;
    try {
      if (tracing) trace("sm.commit");
      this.stmts.commit.run();
      if (tracing) trace("sm.commit.done");
    } catch (err) {
      this.failure = err;
      this.logger?.error({ err }, "committing the state machine failed: refusing further calls");
      throw err;
    }
  }

  private readonly onCommitTimer = (): void => {
    this.commitTimer = undefined;
    if (this.failure !== undefined) return;
    try {
      this.commit();
    } catch (err) {
      this.onFailure?.(err);
    }
  };

  private checkFailure(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** After a failed apply: the applied index and revision as the connection now sees them. */
  private resync(): void {
    if (!this.db.inTransaction) {
      this.pending = 0;
      if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    this.applied = this.stmts.getMeta.pluck().get("applied_index") as number;
    this.rev = this.stmts.getMeta.pluck().get("revision") as number;
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
    // A savepoint inside the open transaction: the batch and its applied index, or nothing.
    this.stmts.savepoint.run();
    let done: { applied: number; rev: number } | undefined;
    try {
      done = run();
      this.stmts.release.run();
    } catch (err) {
      if (this.db.inTransaction) {
        this.stmts.rollbackTo.run();
        this.stmts.release.run();
      }
      throw err;
    }
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

  /**
   * The value of `key`, or undefined. Reads what is applied here (committed to SQLite or not):
   * serializable, not linearizable.
   */
  get(key: Uint8Array): Uint8Array | undefined {
    this.checkFailure();
    return this.stmts.get.pluck().get(key) as Buffer | undefined;
  }

  /** The number of keys in the store. */
  count(): number {
    this.checkFailure();
    return this.stmts.count.pluck().get() as number;
  }

  /**
   * A digest of the store at its applied index: SHA-256 over the revision and every (key, value) in
   * key order, each length-prefixed. Nodes that applied the same log prefix have the same digest at
   * the same index, whatever path (entries, snapshot, restart) brought them there; tests compare
   * them. Reads everything: meant for tests and operators, not hot paths.
   */
  stateHash(): { appliedIndex: number; revision: number; keys: number; hash: string } {
    this.checkFailure();
    const h = createHash("sha256");
    const u32 = Buffer.alloc(4);
    const prefix = (b: Uint8Array) => {
      u32.writeUInt32BE(b.length);
      h.update(u32);
      h.update(b);
    };
    prefix(Buffer.from(String(this.rev)));
    let keys = 0;
    for (const row of this.stmts.all.iterate() as Iterable<{ key: Buffer; value: Buffer }>) {
      prefix(row.key);
      prefix(row.value);
      keys++;
    }
    return { appliedIndex: this.applied, revision: this.rev, keys, hash: h.digest("hex") };
  }

  /** The whole database as one byte image (it includes the applied index and revision). Commits first. */
  snapshot(): Uint8Array {
    this.commit();
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
    // What is applied but not committed is replaced anyway.
    this.checkFailure();
    if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (this.pending > 0 && this.db.inTransaction) this.stmts.rollback.run();
    this.pending = 0;
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
    // Written without a sync: if it is lost, the image's own index is what a restart finds, and
    // the entries after it come again from the WAL.
    if (imageIndex !== index) this.stmts.setMeta.run("applied_index", index);
    this.applied = index;
    this.rev = this.stmts.getMeta.pluck().get("revision") as number;
    this.logger?.info(
      { index, keys: this.count(), revision: this.rev },
      "restored state machine from snapshot",
    );
  }

  /**
   * Commits what is applied (unless a commit failed before) and closes the database. The state
   * machine is unusable afterwards.
   */
  close(): void {
    if (this.commitTimer !== undefined) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (!this.db.open) return;
    try {
      if (this.failure === undefined) this.commit();
    } finally {
      this.db.close();
    }
  }
}

interface Statements {
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

function prepare(db: Database.Database): Statements {
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

function openDatabase(path: string): Database.Database {
  const fresh = !existsSync(path);
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    // NORMAL: no fsync per commit (see the module comment for why that loses no write).
    db.pragma("synchronous = NORMAL");
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
