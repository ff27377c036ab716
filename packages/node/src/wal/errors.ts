/**
 * What the WAL and the snapshotter throw. Expected conditions carry a `code` (as the core's
 * `RaftError` does) so callers can branch without string matching; {@link WalCorruptError} also names
 * the file and byte offset an operator has to look at.
 */
export type WalErrorCode =
  /** A record, a segment or the sequence of segments is damaged: the WAL refuses to open. */
  | "Corrupt"
  /** The snapshot marker passed to `WAL.open` is not in the WAL (etcd's ErrSnapshotNotFound). */
  | "SnapshotNotFound"
  /** The WAL has a marker at the snapshot's index with another term (etcd's ErrSnapshotMismatch). */
  | "SnapshotMismatch"
  /** A write, fsync, rename or truncate failed earlier: the WAL is fail-stop and refuses everything. */
  | "Failed"
  /** `WAL.create` on a directory that already holds a WAL. */
  | "Exists"
  /** No WAL segment covers the requested snapshot index (or the directory has no WAL). */
  | "NotFound"
  /** A call in the wrong state: append before `readAll`, anything after `close`. */
  | "Usage"
  /** A snapshot file name not of the exact form `<16 hex>-<16 hex>.snap` (e.g. with `../`). */
  | "InvalidName";

/** Base class of every WAL and snapshotter error. */
export class WalError extends Error {
  override name = "WalError";
  constructor(
    readonly code: WalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A damaged WAL: the WAL refuses to open rather than drop records that may have been acknowledged.
 * The node must stop; an operator inspects `file` at `offset` (and may restore the member from a
 * peer). Never thrown for a torn tail of the last segment: that is repaired (see the README).
 */
export class WalCorruptError extends WalError {
  override name = "WalCorruptError";
  constructor(
    /** The segment (or snapshot) file's path. */
    readonly file: string,
    /** Byte offset of the damaged record (0 for a problem with the file as a whole). */
    readonly offset: number,
    /** What is wrong, e.g. "crc mismatch". */
    readonly reason: string,
  ) {
    super("Corrupt", `wal: corrupt: ${file} at offset ${offset}: ${reason}`);
  }
}

/**
 * The fail-stop error: a write or fsync failed (EIO, ENOSPC...), so what is on disk is unknown and
 * the WAL accepts nothing more (etcd panics there; retrying an fsync after EIO can silently lose
 * data, since the kernel may have dropped the dirty pages). `cause` is the original error. The node
 * must stop and restart, which replays what is really on disk.
 */
export class WalFailedError extends WalError {
  override name = "WalFailedError";
  constructor(cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super("Failed", `wal: failed (fail-stop, restart required): ${why}`, { cause });
  }
}

/** True if `e` is a {@link WalError} (with `code`, if given). */
export function isWalError(e: unknown, code?: WalErrorCode): e is WalError {
  return e instanceof WalError && (code === undefined || e.code === code);
}
