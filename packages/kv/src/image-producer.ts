/**
 * The image of a pinned KV database (image-format.ts, version 3), chunk by chunk: the rows of a
 * connection that holds a read transaction, fed to an {@link ImageEncoder}, and optionally to the
 * state digest (state-hash.ts). Run by the image worker (image-worker.ts), off the event loop.
 */
import type Database from "better-sqlite3";
import { ImageEncoder } from "./image.js";
import type { ImageHeader, ImageRowRecord } from "./image-format.js";
import { CHANGES_PER_REVISION, type KvChange } from "./mvcc-types.js";
import { encodeIdempotencyValue, IDEMPOTENCY_ROWS } from "./sqlite-idempotency.js";
import type { StateHasher } from "./state-hash.js";

/**
 * Yields the image of what `db` holds (its read transaction must be open and stay open until the
 * generator returns) in chunks of `chunkBytes`, the last one shorter. With `hasher`, also feeds it
 * the state in the digest's order: each key with its value, each change with its previous value
 * (joined only then).
 */
export function* imageChunks(
  db: Database.Database,
  header: ImageHeader,
  chunkBytes: number,
  hasher?: StateHasher,
): Generator<Uint8Array> {
  const enc = new ImageEncoder(header, chunkBytes);
  const firstChange = (header.compactRevision + 1) * CHANGES_PER_REVISION;
  const rows = (sql: string) => db.prepare(sql).raw().iterate() as IterableIterator<unknown[]>;
  // One cursor at a time (a connection runs one statement at a time): the keys, then the rows,
  // then the idempotency records (sqlite-idempotency.ts), which are part of the state too.
  for (const r of rows(
    hasher === undefined
      ? "SELECT key, create_rev, mod_rev, version, mod_id FROM kv ORDER BY key"
      : "SELECT k.key, k.create_rev, k.mod_rev, k.version, k.mod_id, h.value FROM kv k CROSS JOIN history h ON h.id = k.mod_id ORDER BY k.key",
  )) {
    const revisions = {
      createRevision: r[1] as number,
      modRevision: r[2] as number,
      version: r[3] as number,
    };
    enc.addKeyRow(r[0] as Buffer, revisions, r[4] as number);
    hasher?.key({ key: r[0] as Buffer, value: r[5] as Buffer, ...revisions });
    yield* enc.take();
  }
  for (const r of rows(
    hasher === undefined
      ? "SELECT id, key, value, create_rev, version, prev_mod_rev, prev_id FROM history ORDER BY id"
      : "SELECT h.id, h.key, h.value, h.create_rev, h.version, h.prev_mod_rev, h.prev_id, p.value FROM history h LEFT JOIN history p ON p.id = h.prev_id ORDER BY h.id",
  )) {
    const row = rowOf(r);
    enc.addRow(row);
    if (hasher !== undefined && row.id >= firstChange) hasher.change(changeOf(row, r[7] as Buffer | null));
    yield* enc.take();
  }
  for (const r of rows(IDEMPOTENCY_ROWS)) {
    enc.addIdempotency(r[0] as Buffer, encodeIdempotencyValue(r));
    hasher?.idempotency(r);
    yield* enc.take();
  }
  yield* enc.finish();
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
