/**
 * The last check of a database built from an image (sqlite-restore.ts): what no record shows alone.
 * Its own module so that the package's declarations do not name better-sqlite3's types.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type Database from "better-sqlite3";
import { ImageError, type ImageSummary } from "./image-format.js";
import { CHANGES_PER_REVISION } from "./mvcc-types.js";

/** Rows of a table checked between two turns of the event loop by {@link checkRows}. */
const ROWS_PER_CHECK_SLICE = 1000;

/**
 * The references an image of format 3 must hold together (the decoder checks each record alone):
 * every key names a value row of its own key that holds a value, and every change after the
 * compaction revision whose previous row is set names one of its key that holds a value. Checked a
 * slice of rows at a time, with a turn of the event loop in between. Measured on 100,000 keys of
 * 16 KiB values (1.6 GB): one query held the event loop 0.25 s (1.0 s with a cold page cache);
 * sliced, 0.19 s in all (0.92 s cold), never more than 5 ms at a time (20 ms cold) — while the
 * node has the replay of the entries after the image to start. Throws an {@link ImageError} that
 * counts the rows that do not hold.
 */
export async function checkRows(db: Database.Database, summary: ImageSummary): Promise<void> {
  const firstChange = (summary.header.compactRevision + 1) * CHANGES_PER_REVISION;
  // A slice: the rows from where the previous one ended up to the ROWS_PER_CHECK_SLICE-th (all
  // that are left when the bound query finds none). Keys are blobs: the first after `k` is `k`+0x00.
  const keyBound = db
    .prepare<[Uint8Array]>(
      `SELECT key FROM kv WHERE key >= ? ORDER BY key LIMIT 1 OFFSET ${ROWS_PER_CHECK_SLICE - 1}`,
    )
    .pluck();
  const badKeysWhere = "h.id IS NULL OR h.key != k.key OR h.value IS NULL";
  const badKeys = db
    .prepare<[Uint8Array, Uint8Array]>(
      `SELECT count(*) FROM kv k LEFT JOIN history h ON h.id = k.mod_id
        WHERE k.key >= ? AND k.key <= ? AND (${badKeysWhere})`,
    )
    .pluck();
  const badKeysFrom = db
    .prepare<[Uint8Array]>(
      `SELECT count(*) FROM kv k LEFT JOIN history h ON h.id = k.mod_id WHERE k.key >= ? AND (${badKeysWhere})`,
    )
    .pluck();
  const idBound = db
    .prepare<[number]>(
      `SELECT id FROM history WHERE id > ? ORDER BY id LIMIT 1 OFFSET ${ROWS_PER_CHECK_SLICE - 1}`,
    )
    .pluck();
  const badChanges = db
    .prepare<[number, number]>(
      `SELECT count(*) FROM history h LEFT JOIN history p ON p.id = h.prev_id
        WHERE h.id > ? AND h.id <= ? AND h.prev_id IS NOT NULL
          AND (p.id IS NULL OR p.key != h.key OR p.value IS NULL)`,
    )
    .pluck();
  let missing = 0;
  for (let from = new Uint8Array(0); ; ) {
    const upTo = keyBound.get(from) as Uint8Array | undefined;
    if (upTo === undefined) {
      missing += badKeysFrom.get(from) as number;
      break;
    }
    missing += badKeys.get(from, upTo) as number;
    from = new Uint8Array(upTo.length + 1);
    from.set(upTo);
    await nextTurn();
  }
  for (let after = firstChange - 1; ; ) {
    const upTo: number | undefined = idBound.get(after) as number | undefined;
    missing += badChanges.get(after, upTo ?? Number.MAX_SAFE_INTEGER) as number;
    if (upTo === undefined) break;
    after = upTo;
    await nextTurn();
  }
  if (missing > 0) {
    throw new ImageError(
      "BadRecord",
      summary.bytes,
      `${missing} keys or changes name a value row the image does not hold`,
    );
  }
}
