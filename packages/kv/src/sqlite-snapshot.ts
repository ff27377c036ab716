/**
 * A point-in-time image of the KV database, read from a read transaction of its own connection.
 *
 * In WAL mode a read transaction sees the database as of the commit it started after, however long
 * it lasts, while the state machine's connection keeps committing: so pinning the state costs one
 * connection and one `BEGIN` + read (well under a millisecond), not a copy. The image is then
 * produced lazily from a cursor over the keys, a chunk each time the consumer asks for one, in
 * slices of at most {@link IMAGE_SLICE_MS} with rests between them, so that producing takes at most
 * {@link IMAGE_DUTY} of the event loop.
 *
 * The price of a long-open reader is paid in the WAL: checkpoints cannot copy into the database
 * file any frame committed after the reader started (the reader still needs the older pages), and
 * the WAL cannot restart from its beginning while the reader uses it, so it grows by everything
 * written during the transfer, and is checkpointed and shrunk back after `release` (see
 * wal-checkpointer.ts). Release promptly.
 */
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import type { StateMachineSnapshot } from "@tsraft/raft";
import Database from "better-sqlite3";
import { ImageEncoder } from "./image.js";
import { DEFAULT_IMAGE_CHUNK_BYTES, type ImageRowRecord } from "./image-format.js";
import { CHANGES_PER_REVISION, type KvChange } from "./mvcc-types.js";
import { checkSchema, readMeta } from "./sqlite-database.js";
import { encodeIdempotencyValue, IDEMPOTENCY_ROWS } from "./sqlite-idempotency.js";
import { type StateDigest, type StateHash, StateHasher } from "./state-hash.js";

/** Longest stretch of work between two turns of the event loop while producing an image. */
export const IMAGE_SLICE_MS = 2;
/**
 * The share of the event loop's time producing an image may take: after each stretch of work it
 * rests three times as long. Producing is CPU work on the node that serves writes (a leader sending
 * a snapshot, any node serving `GET /backup`); read by a fast consumer (a local backup), it took
 * the whole loop for as long as the image lasted (sqlite-image.test.ts: event loop utilization 1.0
 * while producing; 0.30 with this). At a quarter of the loop it still makes ~75 MB/s of image here,
 * twice what a snapshot transfer between two nodes of this machine carries.
 */
export const IMAGE_DUTY = 0.25;
/** Rows read between two looks at the clock. */
const ROWS_PER_CLOCK_CHECK = 64;

/** What {@link SqliteStateMachine.snapshot} returns: its image is always produced asynchronously. */
export interface SqliteImageSnapshot extends StateMachineSnapshot {
  /** The image (image.ts), chunk by chunk, read at most once. */
  read(): AsyncIterable<Uint8Array>;
}

/** A snapshot as {@link SqliteStateMachine.snapshot} returns it, plus what the state machine needs. */
export class SqliteSnapshot implements SqliteImageSnapshot {
  readonly index: number;
  readonly revision: number;
  readonly compactRevision: number;
  private db: Database.Database | undefined;
  private rows: IterableIterator<unknown[]> | undefined;
  private started = false;
  /** Why the snapshot can no longer be read, once released or aborted. */
  private ended: string | undefined;
  /** Set by {@link hashState}: the rows read are also fed to the state digest (state-hash.ts). */
  private hasher: StateHasher | undefined;
  private hashed: StateDigest | undefined;

  /**
   * Opens a read-only connection to `path` and pins the state it holds now: the caller must have
   * committed everything the image should contain. Throws if the database's applied index is not
   * `expectedIndex` (something applied without committing).
   */
  constructor(
    path: string,
    expectedIndex: number,
    private readonly chunkBytes: number = DEFAULT_IMAGE_CHUNK_BYTES,
    private readonly onRelease: (s: SqliteSnapshot) => void = () => {},
  ) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.prepare("BEGIN").run();
      // The read transaction starts at its first read: from here on, this connection sees this state.
      checkSchema(db);
      const meta = readMeta(db);
      if (meta.appliedIndex !== expectedIndex) {
        throw new Error(
          `kv snapshot: the database holds index ${meta.appliedIndex}, expected ${expectedIndex} (not committed?)`,
        );
      }
      this.index = meta.appliedIndex;
      this.revision = meta.revision;
      this.compactRevision = meta.compactRevision;
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
  }

  /** The image, chunk by chunk (see image.ts). Read at most once. */
  read(): AsyncIterable<Uint8Array> {
    if (this.started) throw new Error("kv snapshot: read() called twice");
    this.started = true;
    return this.produce();
  }

  /**
   * Also computes `/debug/hash`'s digest of the state read (for a backup: state-hash.ts), available
   * from {@link stateHash} once the image was read to its end. Call before {@link read}.
   */
  hashState(): void {
    if (this.started) throw new Error("kv snapshot: hashState() after read()");
    this.hasher = new StateHasher(this.revision, this.compactRevision);
  }

  /** The state digest, once an image read with {@link hashState} is complete; else undefined. */
  get stateHash(): StateHash | undefined {
    const h = this.hashed;
    if (h === undefined) return undefined;
    const { index: appliedIndex, revision, compactRevision } = this;
    return { appliedIndex, revision, compactRevision, keys: h.keys, changes: h.changes, hash: h.hash };
  }

  /** Ends the read transaction and closes the connection. Idempotent. */
  release(): void {
    this.end("released");
  }

  /**
   * Ends the snapshot from the state machine's side (a restore replacing the file, or close): a
   * read in progress fails with `reason` at its next chunk.
   */
  abort(reason: string): void {
    this.end(reason);
  }

  private end(reason: string): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    try {
      this.rows?.return?.();
    } finally {
      this.rows = undefined;
      const db = this.db;
      this.db = undefined;
      db?.close(); // ends the read transaction
      this.onRelease(this);
    }
  }

  private check(): Database.Database {
    if (this.ended !== undefined || this.db === undefined) {
      throw new Error(`kv snapshot at index ${this.index}: ${this.ended ?? "released"}`);
    }
    return this.db;
  }

  private async *produce(): AsyncGenerator<Uint8Array> {
    const enc = new ImageEncoder(
      { appliedIndex: this.index, revision: this.revision, compactRevision: this.compactRevision },
      this.chunkBytes,
    );
    const hasher = this.hasher;
    const query = (sql: string) => () =>
      this.check().prepare(sql).raw().iterate() as IterableIterator<unknown[]>;
    const firstChange = (this.compactRevision + 1) * CHANGES_PER_REVISION;
    // One cursor at a time (a connection runs one statement at a time): the keys, then the rows,
    // then the idempotency records (sqlite-idempotency.ts), which are part of the state too. The
    // state digest (hashState) is fed the same state in the same order (state-hash.ts): each key
    // with its value, each change with its previous value (joined only when hashing).
    for (const [open, add] of [
      [
        query(
          hasher === undefined
            ? "SELECT key, create_rev, mod_rev, version, mod_id FROM kv ORDER BY key"
            : "SELECT k.key, k.create_rev, k.mod_rev, k.version, k.mod_id, h.value FROM kv k CROSS JOIN history h ON h.id = k.mod_id ORDER BY k.key",
        ),
        (r: unknown[]) => {
          const revisions = {
            createRevision: r[1] as number,
            modRevision: r[2] as number,
            version: r[3] as number,
          };
          enc.addKeyRow(r[0] as Buffer, revisions, r[4] as number);
          hasher?.key({ key: r[0] as Buffer, value: r[5] as Buffer, ...revisions });
        },
      ],
      [
        query(
          hasher === undefined
            ? "SELECT id, key, value, create_rev, version, prev_mod_rev, prev_id FROM history ORDER BY id"
            : "SELECT h.id, h.key, h.value, h.create_rev, h.version, h.prev_mod_rev, h.prev_id, p.value FROM history h LEFT JOIN history p ON p.id = h.prev_id ORDER BY h.id",
        ),
        (r: unknown[]) => {
          const row = rowOf(r);
          enc.addRow(row);
          if (hasher !== undefined && row.id >= firstChange)
            hasher.change(changeOf(row, r[7] as Buffer | null));
        },
      ],
      [
        query(IDEMPOTENCY_ROWS),
        (r: unknown[]) => {
          enc.addIdempotency(r[0] as Buffer, encodeIdempotencyValue(r));
          hasher?.idempotency(r);
        },
      ],
    ] as const) {
      const rows = open();
      this.rows = rows;
      // This generator's own work since it last rested, ms (not the consumer's time at a yield).
      let worked = 0;
      let since = performance.now();
      let n = 0;
      for (;;) {
        const current = this.rows;
        if (current === undefined) this.check(); // ended while we waited: throws
        const row = current!.next();
        if (row.done) break;
        add(row.value);
        const full = enc.take();
        if (full.length > 0) {
          worked += performance.now() - since;
          for (const chunk of full) yield chunk;
          await rest(worked);
          worked = 0;
          since = performance.now();
        } else if (++n % ROWS_PER_CLOCK_CHECK === 0 && worked + performance.now() - since > IMAGE_SLICE_MS) {
          worked += performance.now() - since;
          await rest(worked);
          worked = 0;
          since = performance.now();
        }
      }
      this.check(); // a cursor closed by release() ends early: that is not the end of the image
    }
    this.hashed = hasher?.finish();
    yield* enc.finish();
  }
}

/** Rests after `workedMs` of producing, so that producing takes at most {@link IMAGE_DUTY} of the loop. */
async function rest(workedMs: number): Promise<void> {
  const ms = workedMs * (1 / IMAGE_DUTY - 1);
  if (ms >= 1) await sleep(ms);
  else await nextTurn();
}

/** A `history` row (id, key, value, create_rev, version, prev_mod_rev, prev_id) as an image row. */
function rowOf(r: unknown[]): Omit<ImageRowRecord, "kind"> {
  return {
    id: r[0] as number,
    key: r[1] as Buffer,
    value: (r[2] as Buffer | null) ?? undefined,
    createRevision: r[3] as number,
    version: r[4] as number,
    prevModRevision: r[5] as number,
    prevRow: (r[6] as number | null) ?? undefined,
  };
}

/** A row of the history (a change) with its previous row's value, as the state digest takes it. */
function changeOf(row: Omit<ImageRowRecord, "kind">, prevValue: Buffer | null): KvChange {
  return {
    revision: Math.floor(row.id / CHANGES_PER_REVISION),
    sub: row.id % CHANGES_PER_REVISION,
    key: row.key,
    value: row.value,
    createRevision: row.createRevision,
    version: row.version,
    prevModRevision: row.prevModRevision,
    prevValue: prevValue ?? undefined,
  };
}
