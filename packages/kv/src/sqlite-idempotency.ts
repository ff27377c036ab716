/**
 * The idempotency records of the KV database (idempotency.ts says what they are for): one row per
 * key, with the index of the entry that recorded it, a digest of the request and its result,
 * written in the same transaction (the apply's savepoint) as the write itself, so a crash keeps
 * both or neither. A row recorded at index i answers retries up to index i + window; it is deleted
 * once the applied index passes that, and never matched after it even while still there (so which
 * batch happens to delete it changes nothing).
 */
import type Database from "better-sqlite3";
import { decodeResult, encodeResult, IDEMPOTENCY_WINDOW, requestDigest } from "./idempotency.js";
import type { ApplyResult } from "./sqlite-state-machine.js";
import type { StateHasher } from "./state-hash.js";
import { decodeKvCommand, type KvCommand } from "./txn-command.js";
import { MAX_RECORDED_TXN_RESULT_BYTES } from "./txn-result-codec.js";

/** Creates the table if the database lacks it (databases of earlier releases). */
export function createIdempotencyTable(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS idempotency (
      key BLOB PRIMARY KEY, applied_index INTEGER NOT NULL, request BLOB NOT NULL, result BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS idempotency_by_index ON idempotency (applied_index);
  `);
}

/** Every record, in key order, as images carry them: key, index, request digest, result. */
export const IDEMPOTENCY_ROWS = "SELECT key, applied_index, request, result FROM idempotency ORDER BY key";

/**
 * The value of an image's idempotency record (image-format.ts, kind 4) for a row of
 * {@link IDEMPOTENCY_ROWS}: u64 index, the 16-byte request digest, the result.
 */
export function encodeIdempotencyValue(row: readonly unknown[]): Buffer {
  const request = row[2] as Buffer;
  const result = row[3] as Buffer;
  const out = Buffer.alloc(8 + request.length + result.length);
  out.writeBigUInt64BE(BigInt(row[1] as number), 0);
  out.set(request, 8);
  out.set(result, 8 + request.length);
  return out;
}

/** Inserts images' idempotency records into a database being built (sqlite-restore.ts). */
export function idempotencyInserter(db: Database.Database): (key: Uint8Array, value: Uint8Array) => void {
  const insert = db.prepare<[Uint8Array, number, Uint8Array, Uint8Array]>(
    "INSERT INTO idempotency (key, applied_index, request, result) VALUES (?, ?, ?, ?)",
  );
  return (key, value) => {
    if (value.length < 8 + 16 + 1) throw new Error("kv image: an idempotency record is too short");
    const v = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    insert.run(key, Number(v.readBigUInt64BE(0)), v.subarray(8, 24), v.subarray(24));
  };
}

/** The idempotency records on the state machine's connection (prepared once per connection). */
export class IdempotencyTable {
  private readonly find: Database.Statement<[Uint8Array]>;
  private readonly insert: Database.Statement<[Uint8Array, number, Uint8Array, Uint8Array]>;
  private readonly expire: Database.Statement<[number]>;
  private readonly oldestStmt: Database.Statement<[]>;
  private readonly all: Database.Statement<[]>;
  /** Around a keyed transaction, nested in the batch's savepoint: undone if its result is too large. */
  private readonly txnSavepoint: Database.Statement<[]>;
  private readonly txnRollback: Database.Statement<[]>;
  private readonly txnRelease: Database.Statement<[]>;
  /** The lowest recorded index (undefined: none): expiry costs nothing while it is in the window. */
  private oldest: number | undefined;

  constructor(
    db: Database.Database,
    readonly window: number = IDEMPOTENCY_WINDOW,
  ) {
    this.find = db.prepare("SELECT applied_index, request, result FROM idempotency WHERE key = ?");
    this.insert = db.prepare(
      "INSERT INTO idempotency (key, applied_index, request, result) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (key) DO UPDATE SET applied_index = excluded.applied_index, " +
        "request = excluded.request, result = excluded.result",
    );
    this.expire = db.prepare("DELETE FROM idempotency WHERE applied_index < ?");
    this.oldestStmt = db.prepare("SELECT min(applied_index) FROM idempotency").pluck();
    this.all = db.prepare(IDEMPOTENCY_ROWS).raw();
    this.txnSavepoint = db.prepare("SAVEPOINT idempotent_txn");
    this.txnRollback = db.prepare("ROLLBACK TO idempotent_txn");
    this.txnRelease = db.prepare("RELEASE idempotent_txn");
    this.readOldest();
  }

  /**
   * Applies the idempotent command `command` with `key` at `index`: the recorded result if the key
   * is recorded within the window (the store is not touched), a `key-reused` result if it was
   * recorded for another request, else `run`'s, recorded. The idempotent commands are what the HTTP
   * routes that take an Idempotency-Key send: plain puts and deletes (command.ts) and transactions
   * (txn-command.ts); anything else in an envelope is an `invalid` result, recorded as such.
   *
   * A transaction runs in a savepoint of its own: if its encoded result is larger than
   * MAX_RECORDED_TXN_RESULT_BYTES (txn-result-codec.ts), its writes are rolled back, `undo` is
   * called (the caller puts back what it keeps in memory: the store's revision), and the result,
   * recorded, is `txn-too-large`. Every member decides alike: the size depends on the log only.
   */
  apply(
    key: Uint8Array,
    command: Uint8Array,
    index: number,
    run: (cmd: KvCommand) => ApplyResult,
    undo: () => void,
  ): ApplyResult {
    const digest = requestDigest(command);
    const row = this.find.get(key) as { applied_index: number; request: Buffer; result: Buffer } | undefined;
    if (row !== undefined && row.applied_index + this.window >= index) {
      if (Buffer.compare(row.request, digest) !== 0) return { kind: "key-reused" };
      return decodeResult(row.result);
    }
    let cmd: KvCommand | undefined;
    let error = "";
    try {
      cmd = decodeKvCommand(command);
    } catch (err) {
      error = (err as Error).message;
    }
    if (cmd?.op === "compact") {
      cmd = undefined;
      error = "a compaction is not an idempotent command";
    }
    // Anything `run` throws (SQLite) fails the batch, as for a plain command.
    let r: ApplyResult;
    let encoded: Buffer;
    if (cmd?.op === "txn") [r, encoded] = this.runTxn(cmd, run, undo);
    else {
      r = cmd !== undefined ? run(cmd) : { kind: "invalid", error };
      encoded = encodeResult(r);
    }
    this.insert.run(key, index, digest, encoded);
    if (this.oldest === undefined || row !== undefined) this.readOldest();
    return r;
  }

  private runTxn(
    cmd: KvCommand,
    run: (cmd: KvCommand) => ApplyResult,
    undo: () => void,
  ): [ApplyResult, Buffer] {
    this.txnSavepoint.run();
    const r = run(cmd);
    const encoded = encodeResult(r);
    if (encoded.length > MAX_RECORDED_TXN_RESULT_BYTES) {
      this.txnRollback.run();
      this.txnRelease.run();
      undo();
      const refused: ApplyResult = { kind: "txn-too-large", bytes: encoded.length };
      return [refused, encodeResult(refused)];
    }
    this.txnRelease.run();
    return [r, encoded];
  }

  /** After a batch applied up to `applied`: forgets the records that left the window. */
  expireTo(applied: number): void {
    if (this.oldest === undefined || this.oldest >= applied - this.window) return;
    this.expire.run(applied - this.window);
    this.readOldest();
  }

  /**
   * Feeds every record, in key order, to `hasher` (the state hash, state-hash.ts); nothing when
   * there are none, so a store that never saw a key hashes as one without the table.
   */
  hashInto(hasher: StateHasher): void {
    for (const row of this.all.iterate() as Iterable<unknown[]>) hasher.idempotency(row);
  }

  /** After a rollback: what the table holds now. */
  reload(): void {
    this.readOldest();
  }

  private readOldest(): void {
    const v = this.oldestStmt.get() as number | null;
    this.oldest = v ?? undefined;
  }
}
