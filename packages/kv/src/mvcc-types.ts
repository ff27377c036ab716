/**
 * The vocabulary of the revisioned key space (mvcc-store.ts has the model): keys with their
 * revisions, changes, ranges and the errors of a read at a revision. Apart from mvcc-store.ts so
 * that the package's public types do not reach better-sqlite3's (a user's strict tsc would need
 * @types/better-sqlite3 otherwise; the packaging test checks).
 */

/** `id = revision * CHANGES_PER_REVISION + sub`: at most this many changes in one revision. */
export const CHANGES_PER_REVISION = 1024;

/** A key with its value and revisions. */
export interface KeyValue {
  readonly key: Uint8Array;
  /** Empty when read with `keysOnly`. */
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
}

/** One change of the history (see the module comment); `value` is undefined for a delete. */
export interface KvChange {
  readonly revision: number;
  readonly sub: number;
  readonly key: Uint8Array;
  readonly value: Uint8Array | undefined;
  readonly createRevision: number;
  readonly version: number;
  readonly prevModRevision: number;
  readonly prevValue: Uint8Array | undefined;
}

/** Keys from `start` (inclusive) to `end` (exclusive; undefined: every key from `start` on). */
export interface KeyRange {
  readonly start: Uint8Array;
  readonly end: Uint8Array | undefined;
}

/** A page of a range read. */
export interface RangeRequest {
  readonly range: KeyRange;
  /** Only keys after this one (the previous page's last key). */
  readonly after?: Uint8Array | undefined;
  /** At most this many keys (>= 1). */
  readonly limit: number;
  /** Stop early (with `more`) once the keys and values read add up to this many bytes; at least one key is returned. */
  readonly maxBytes: number;
  readonly keysOnly: boolean;
  /** The revision to read at: the current one, or one at or above the compact revision. */
  readonly revision: number;
}

/** What a range read found. */
export interface RangePage {
  readonly kvs: KeyValue[];
  /** More keys follow in the range (ask again with `after` = the last key). */
  readonly more: boolean;
}

/** A read at a revision the history no longer covers (mvcc-store.ts, "Compaction"). */
export class CompactedError extends Error {
  override readonly name = "CompactedError";
  constructor(
    readonly revision: number,
    readonly compactRevision: number,
  ) {
    super(`revision ${revision} is compacted (the history starts after revision ${compactRevision})`);
  }
}

/** A read at a revision the store has not reached. */
export class FutureRevisionError extends Error {
  override readonly name = "FutureRevisionError";
  constructor(
    readonly revision: number,
    readonly current: number,
  ) {
    super(`revision ${revision} is in the future (the store is at revision ${current})`);
  }
}

/** The bytewise successor of `key`: the smallest key greater than it. */
export function keySuccessor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** The range of every key starting with `prefix` (etcd's prefix end: the last byte below 0xff, plus one). */
export function prefixRange(prefix: Uint8Array): KeyRange {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      // A copy (a Buffer's slice would share `prefix`'s bytes).
      const end = Uint8Array.from(prefix.subarray(0, i + 1));
      end[i]!++;
      return { start: prefix, end };
    }
  }
  return { start: prefix, end: undefined };
}

/** True if `key` is in `range`. */
export function inRange(key: Uint8Array, range: KeyRange): boolean {
  return (
    Buffer.compare(key, range.start) >= 0 && (range.end === undefined || Buffer.compare(key, range.end) < 0)
  );
}
