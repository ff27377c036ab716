/**
 * The write-ahead log: etcd's server/storage/wal in TypeScript, async over an injectable
 * {@link FileSystem}. The node saves each Ready's HardState and entries here (one write, one
 * fdatasync when `mustSync`) before it acknowledges anything that depends on them, and replays the
 * log at restart. Formats and recovery rules: packages/node/README.md, "WAL format".
 *
 * Lifecycle: `WAL.create(dir, metadata)` makes a new log ready to append; at restart
 * `WAL.open(dir, snapshotMarker)` then `readAll()` replays it (repairing a torn tail of the last
 * segment) and leaves it ready to append. Calls are serialized in call order.
 */
import { basename, dirname, join } from "node:path";
import { discardLogger, type Logger } from "@tsraft/raft";
import { type Entry, encodeHardState, type HardState, isEmptyHardState } from "@tsraft/raft/raftpb";
import {
  errorCode,
  type FileHandleLike,
  type FileSystem,
  nodeFileSystem,
  writeFully,
} from "../file-system.js";
import type { NodeMetrics } from "../metrics.js";
import { trace, tracing } from "../trace.js";
import { scanSegment } from "./decoder.js";
import { EntryLocator, type EntrySpan } from "./entry-locator.js";
import { WalCorruptError, WalError, WalFailedError } from "./errors.js";
import { FilePipeline, type PreallocateMode, preallocate } from "./file-pipeline.js";
import { encodeSnapshotMarker, FrameEncoder, frameSize, RecordType, type SnapshotMarker } from "./record.js";
import { Replay } from "./replay.js";
import { checkSequence, listWalDir, type SegmentName, segmentFileName, selectSegments } from "./segment.js";

/** Options of {@link WAL.create}, {@link WAL.open} and {@link WAL.readSnapshotMarkers}. */
export interface WalOptions {
  /** Where the files live; default: the real file system. Tests inject a counting or crashing one. */
  fs?: FileSystem;
  /** A segment is cut once it reaches this many bytes (default 64 MiB); also the preallocated size. */
  segmentSize?: number;
  /**
   * How segments are preallocated: `sparse` (default: ftruncate, no I/O) or `zero-fill` (writes the
   * zeros, reserving the blocks). See file-pipeline.ts.
   */
  preallocate?: PreallocateMode;
  logger?: Logger;
  /** WAL series to update (fsync latency, bytes and records written). */
  metrics?: NodeMetrics;
}

/** What {@link WAL.readAll} recovered. */
export interface WalReadResult {
  /** The metadata given to `WAL.create`. */
  metadata: Uint8Array;
  /** The last HardState saved (all zero if none). */
  hardState: HardState;
  /**
   * The entries after the snapshot the WAL was opened at, in index order; where a later record
   * rewrote an index, the later entry wins and the earlier suffix is dropped (Raft paper figure 7).
   * May include uncommitted entries: only `hardState.commit` says what is committed.
   */
  entries: Entry[];
  /** Every snapshot marker in the segments read, oldest first. */
  snapshots: SnapshotMarker[];
  /** When a torn tail was cut off: the path of the untouched copy kept (`<segment>.broken`). */
  repairedFrom: string | undefined;
}

/** The default segment size: 64 MiB, as etcd's. */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;

const SLOW_FSYNC_SECONDS = 1;
/**
 * How far past the entries `readEntries` returned the WAL reads ahead (through the thread pool, into
 * a buffer it discards), so that the next ones are in the page cache when the core asks for them.
 */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;
/** The size of each read of a read-ahead. */
const READ_AHEAD_PIECE_BYTES = 1024 * 1024;

const EMPTY_HARD_STATE: HardState = { term: 0, vote: 0, commit: 0 };

/**
 * A write-ahead log directory. Not safe for two processes: there is no lock file (Node has no
 * flock); the node owning the data directory must be the only writer.
 */
export class WAL {
  private readonly fs: FileSystem;
  private readonly segmentSize: number;
  private readonly preallocateMode: PreallocateMode;
  private readonly logger: Logger;
  private readonly metrics: NodeMetrics | undefined;
  private readonly encoder = new FrameEncoder();
  private queue: Promise<unknown> = Promise.resolve();
  private mode: "reading" | "appending" | "closed";
  /** The first error of a write, fsync, truncate or rename: once set, every call rejects. */
  private failure: unknown;
  /** Invariant: sorted by seq, consecutive; the last one is the tail (in appending mode). */
  private segments: SegmentName[];
  private tail: FileHandleLike | undefined;
  /**
   * Segments cut in this run, still open for reading entries back (`readEntries`) until released.
   * Invariant: never holds the tail.
   */
  private readonly readHandles = new Map<number, FileHandleLike>();
  /** Where the entries saved in this run are. */
  private readonly locator = new EntryLocator();
  /**
   * The read-ahead (see `readEntries`): the one in flight, if any; and, of the last one started, the
   * reader's position then, the index past which the next one starts, and the end it covers.
   */
  private readingAhead: Promise<void> | undefined;
  private readAhead = { reader: 0, next: 0, end: 0 };
  /** Invariant (appending): the tail's byte length of valid frames; the next frame goes here. */
  private tailOffset = 0;
  /** Invariant (appending): the crc chain value after the last frame written. */
  private crc = 0;
  /** Bytes were written to the tail since its last fdatasync (close syncs only then). */
  private unsynced = false;
  /** The index of the last entry saved (etcd's enti): names the next segment. */
  private lastIndex = 0;
  /** The last HardState saved: repeated at the head of every new segment. */
  private hardState: HardState = EMPTY_HARD_STATE;
  private metadata: Uint8Array = new Uint8Array(0);
  private pipeline: FilePipeline | undefined;
  /** `open`: the snapshot to read from. */
  private readonly start: { index: number; term: number };

  private constructor(
    readonly dir: string,
    opts: WalOptions,
    mode: "reading" | "appending",
    segments: SegmentName[],
    start: { index: number; term: number },
  ) {
    this.fs = opts.fs ?? nodeFileSystem;
    this.segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    if (!Number.isSafeInteger(this.segmentSize) || this.segmentSize <= 0) {
      throw new RangeError(`wal: segmentSize must be a positive integer, got ${this.segmentSize}`);
    }
    this.preallocateMode = opts.preallocate ?? "sparse";
    this.logger = opts.logger ?? discardLogger;
    this.metrics = opts.metrics;
    this.mode = mode;
    this.segments = segments;
    this.start = start;
  }

  /** True if `dir` holds WAL segment files. */
  static async exists(dir: string, fs: FileSystem = nodeFileSystem): Promise<boolean> {
    try {
      return (await listWalDir(fs, dir)).segments.length > 0;
    } catch (e) {
      if (errorCode(e) === "ENOENT") return false;
      throw e;
    }
  }

  /**
   * Creates a new WAL in `dir` (which must not exist or be empty) and returns it ready to append.
   * `metadata` is recorded at the head of every segment and returned by `readAll` (etcd stores the
   * node and cluster ids there). Atomic: the log is built in `<dir>.tmp`, fsynced, and renamed into
   * place, so a crash leaves either no WAL or a complete empty one (with the marker of the zero
   * snapshot, so `WAL.open(dir, {index: 0, term: 0})` works).
   */
  static async create(dir: string, metadata: Uint8Array, opts: WalOptions = {}): Promise<WAL> {
    const fs = opts.fs ?? nodeFileSystem;
    const w = new WAL(dir, opts, "appending", [{ name: segmentFileName(0, 0), seq: 0, index: 0 }], {
      index: 0,
      term: 0,
    });
    let existing: string[] = [];
    try {
      existing = await fs.readdir(dir);
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
    }
    if (existing.length > 0) throw new WalError("Exists", `wal: ${dir} already exists and is not empty`);

    const tmpDir = `${dir.replace(/\/+$/, "")}.tmp`;
    await fs.removeAll(tmpDir);
    await fs.mkdir(tmpDir);
    const fh = await fs.open(join(tmpDir, segmentFileName(0, 0)), "create");
    try {
      const enc = w.encoder;
      enc.begin(0);
      enc.crcSeed(0);
      enc.record(RecordType.Metadata, metadata);
      enc.record(
        RecordType.Snapshot,
        encodeSnapshotMarker({ index: 0, term: 0, confState: emptyConfState() }),
      );
      const bytes = enc.bytes();
      await writeFully(fh, bytes, 0, bytes.length, 0);
      await preallocate(fh, bytes.length, w.segmentSize, w.preallocateMode);
      await fh.datasync();
      await fs.syncDir(tmpDir);
      await fs.rename(tmpDir, dir); // replaces an empty `dir`, as rename(2) does
      await fs.syncDir(dirname(dir));
      w.metadata = new Uint8Array(metadata);
      w.tail = fh;
      w.tailOffset = bytes.length;
      w.crc = enc.crc;
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
    return w;
  }

  /**
   * Opens the WAL in `dir` to replay it from the snapshot `snap` (the newest snapshot the node has
   * and the WAL knows, see {@link WAL.readSnapshotMarkers}; `{index: 0, term: 0}` if none). Call
   * {@link readAll} next. Throws WalError `NotFound` if no segment covers `snap.index`, and
   * WalCorruptError if the segments from there on are not consecutive.
   */
  static async open(dir: string, snap: { index: number; term: number }, opts: WalOptions = {}): Promise<WAL> {
    const fs = opts.fs ?? nodeFileSystem;
    let listing: Awaited<ReturnType<typeof listWalDir>>;
    try {
      listing = await listWalDir(fs, dir);
    } catch (e) {
      if (errorCode(e) === "ENOENT") throw new WalError("NotFound", `wal: ${dir} does not exist`);
      throw e;
    }
    if (listing.segments.length === 0) throw new WalError("NotFound", `wal: no WAL segments in ${dir}`);
    const chosen = selectSegments(dir, listing.segments, snap.index);
    if (chosen === undefined) {
      throw new WalError("NotFound", `wal: no segment in ${dir} covers the snapshot at index ${snap.index}`);
    }
    // Leftovers of a file pipeline that was preparing a segment when the process stopped.
    for (const t of listing.temps) await fs.unlink(join(dir, t));
    return new WAL(dir, opts, "reading", chosen, { index: snap.index, term: snap.term });
  }

  /**
   * The snapshot markers of the WAL in `dir` whose index is at or below the last saved commit index
   * (etcd's ValidSnapshotEntries): the snapshots a restarting node may load. Read-only: a torn tail is
   * tolerated, not repaired. Throws WalCorruptError as `readAll` would.
   */
  static async readSnapshotMarkers(dir: string, opts: WalOptions = {}): Promise<SnapshotMarker[]> {
    const fs = opts.fs ?? nodeFileSystem;
    const { segments } = await listWalDir(fs, dir);
    checkSequence(dir, segments);
    // Starting past every index: keeps no entry, matches no marker.
    const replay = new Replay({ index: Number.MAX_SAFE_INTEGER, term: 0 });
    let seed: number | undefined;
    for (let i = 0; i < segments.length; i++) {
      const file = join(dir, segments[i]!.name);
      const last = i === segments.length - 1;
      seed = scanSegment(await fs.readFile(file), { file, last, seed }, replay.visit).crc;
    }
    const commit = replay.hardState.commit;
    return replay.snapshots.filter((m) => m.index <= commit);
  }

  /** The first error that made this WAL fail-stop, if any. */
  get failed(): unknown {
    return this.failure;
  }

  /**
   * Replays the segments chosen by `open`: metadata, the last HardState, the entries after the
   * snapshot, the markers. A torn tail of the last segment (a crash during a write that was never
   * acknowledged) is cut off after copying the segment to `<segment>.broken`. Any other damage throws
   * {@link WalCorruptError} naming the file and offset; a snapshot the WAL does not hold throws
   * WalError `SnapshotNotFound` (or `SnapshotMismatch` for another term at that index). Afterwards the
   * WAL is ready to append.
   */
  readAll(): Promise<WalReadResult> {
    return this.run(async () => {
      if (this.mode !== "reading") throw new WalError("Usage", "wal: readAll after the WAL was read");
      const start = this.start;
      const replay = new Replay(start);
      let seed: number | undefined;
      let tailBytes: Uint8Array = new Uint8Array(0);
      let tailEnd = 0;
      let torn: string | undefined;
      for (let i = 0; i < this.segments.length; i++) {
        const file = join(this.dir, this.segments[i]!.name);
        const last = i === this.segments.length - 1;
        const buf = await this.fs.readFile(file);
        const scan = scanSegment(buf, { file, last, seed }, replay.visit);
        seed = scan.crc;
        if (last) {
          tailBytes = buf;
          tailEnd = scan.end;
          torn = scan.torn;
        }
      }
      if (!replay.found) {
        throw new WalError(
          "SnapshotNotFound",
          `wal: snapshot (index ${start.index}, term ${start.term}) not found in ${this.dir}`,
        );
      }

      const tailPath = join(this.dir, this.segments[this.segments.length - 1]!.name);
      let repairedFrom: string | undefined;
      if (torn !== undefined) {
        repairedFrom = await this.io(() => this.repairTail(tailPath, tailBytes, tailEnd));
        this.logger.warn(
          `wal: repaired ${tailPath}: cut a torn tail at offset ${tailEnd} (${torn}); original kept as ${repairedFrom}`,
        );
      }
      this.tail = await this.io(() => this.fs.open(tailPath, "readWrite"));
      this.tailOffset = tailEnd;
      this.crc = seed ?? 0;
      this.lastIndex = replay.lastIndex;
      this.hardState = replay.hardState;
      this.metadata = replay.metadata ?? new Uint8Array(0);
      this.mode = "appending";
      const { hardState, entries, snapshots } = replay;
      return { metadata: this.metadata.slice(), hardState, entries, snapshots, repairedFrom };
    });
  }

  /**
   * Persists a Ready: its entries, then its HardState (skipped when empty), encoded into one buffer
   * and written with ONE write; then ONE fdatasync if `mustSync` (Ready.mustSync), none otherwise.
   * Resolves when that is done: with `mustSync`, the records survive a crash from then on. A segment
   * that reaches the segment size is cut afterwards (which also fsyncs it). A write or fsync error
   * makes the WAL fail-stop (WalFailedError, here and on every later call).
   */
  save(hardState: HardState | undefined, entries: readonly Entry[], mustSync: boolean): Promise<void> {
    return this.run(async () => {
      this.checkAppending();
      const hs = hardState !== undefined && !isEmptyHardState(hardState) ? hardState : undefined;
      if (hs === undefined && entries.length === 0) return;
      const enc = this.encoder;
      enc.begin(this.crc);
      let size = 0;
      for (const e of entries) size += FrameEncoder.entryFrameSize(e);
      const hsBytes = hs === undefined ? undefined : encodeHardState(hs);
      if (hsBytes !== undefined) size += frameSize(1 + hsBytes.length);
      enc.reserve(size);
      for (const e of entries) enc.entry(e);
      if (hsBytes !== undefined) enc.record(RecordType.HardState, hsBytes);
      const at = this.tailOffset;
      await this.append();
      this.locate(entries, at);
      if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
      if (hs !== undefined) this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
      if (this.tailOffset >= this.segmentSize) await this.cut();
      else if (mustSync) await this.fdatasync();
    });
  }

  /**
   * Records that a snapshot at `marker` was saved (after the snapshot file is durable), fsynced.
   * `WAL.open` can then start from it, and `releaseLockTo(marker.index)` may drop older segments.
   */
  saveSnapshot(marker: SnapshotMarker): Promise<void> {
    return this.run(async () => {
      this.checkAppending();
      const enc = this.encoder;
      enc.begin(this.crc);
      enc.record(RecordType.Snapshot, encodeSnapshotMarker(marker));
      await this.append();
      if (this.lastIndex < marker.index) this.lastIndex = marker.index;
      await this.fdatasync();
    });
  }

  /** fdatasyncs the current segment (for a caller that saved with `mustSync` false and now needs it durable). */
  sync(): Promise<void> {
    return this.run(async () => {
      this.checkAppending();
      await this.fdatasync();
    });
  }

  /**
   * Deletes the segments no longer needed to replay from a snapshot at `index`: every segment
   * before the last one whose first index is below `index` (etcd's ReleaseLockTo rule, which keeps
   * one segment more than strictly needed), including older ones this WAL was not opened with. The
   * tail is never deleted. Call it only after the snapshot at `index` and its marker are durable: a
   * restart can then no longer open the WAL at an older snapshot. A failed unlink is reported but
   * does not make the WAL fail-stop.
   */
  releaseLockTo(index: number): Promise<void> {
    return this.run(async () => {
      this.checkAppending();
      let keepFrom = this.segments.length - 1;
      for (let i = 0; i < this.segments.length; i++) {
        if (this.segments[i]!.index >= index) {
          keepFrom = i - 1;
          break;
        }
      }
      if (keepFrom <= 0) return;
      const firstKept = this.segments[keepFrom]!.seq;
      // Also the segments before the ones this WAL opened (left by an earlier run); oldest first, so
      // a crash part-way leaves a consecutive run of segments.
      const doomed = (await listWalDir(this.fs, this.dir)).segments.filter((s) => s.seq < firstKept);
      for (const s of doomed) {
        await this.fs.unlink(join(this.dir, s.name));
        this.logger.info(`wal: released segment ${s.name}`);
      }
      this.segments = this.segments.slice(keepFrom);
      this.locator.dropSegmentsBelow(firstKept);
      await this.readingAhead;
      for (const [seq, h] of this.readHandles) {
        if (seq >= firstKept) continue;
        this.readHandles.delete(seq);
        await h.close().catch(() => {});
      }
      if (doomed.length > 0) await this.fs.syncDir(this.dir);
    });
  }

  /**
   * The range of entries saved by this run that are still in the WAL (up to the last release) and
   * can be read back with {@link readEntries}; undefined if none.
   */
  savedEntries(): { first: number; last: number } | undefined {
    return this.locator.range();
  }

  /** The term of entry `index` if it is in {@link savedEntries}'s range. */
  savedTerm(index: number): number | undefined {
    return this.locator.term(index);
  }

  /**
   * Reads entries [lo, hi) of {@link savedEntries}'s range back from the segments, synchronously
   * (preads, mostly from the page cache), up to `maxSize` bytes (at least one entry). For the core's
   * Storage, which cannot wait: entries that MemoryStorage dropped, kept for a follower that catches
   * up after a snapshot. Throws if the range is not saved here.
   */
  readEntries(lo: number, hi: number, maxSize: number): Entry[] {
    const t0 = performance.now();
    const out = this.locator.read(lo, hi, maxSize, (seq) => this.segmentHandle(seq));
    this.metrics?.walReadBackSeconds.observe((performance.now() - t0) / 1000);
    this.startReadAhead(lo + out.length);
    return out;
  }

  /**
   * Stops the preallocation, fdatasyncs the tail and closes it. Always releases the files; rejects
   * with WalFailedError afterwards if the WAL had failed (or its final sync fails).
   */
  close(): Promise<void> {
    const p = this.queue.then(async () => {
      if (this.mode === "closed") return;
      this.mode = "closed";
      await this.pipeline?.close();
      this.pipeline = undefined;
      await this.readingAhead;
      const tail = this.tail;
      this.tail = undefined;
      if (tail !== undefined) {
        if (this.failure === undefined && this.unsynced) {
          try {
            await this.fdatasyncOf(tail);
          } catch (e) {
            this.failure = e;
          }
        }
        await tail.close().catch(() => {});
      }
      this.locator.clear();
      await this.readingAhead;
      for (const h of this.readHandles.values()) await h.close().catch(() => {});
      this.readHandles.clear();
      if (this.failure !== undefined) throw new WalFailedError(this.failure);
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  // -------------------------------------------------------------------------------------------------

  /** Runs `fn` after the calls before it, refusing it if the WAL failed or closed. */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(() => {
      if (this.failure !== undefined) throw new WalFailedError(this.failure);
      if (this.mode === "closed") throw new WalError("Usage", "wal: closed");
      return fn();
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Runs an I/O step whose failure leaves the disk state unknown: the WAL fails stop. */
  private async io<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof WalCorruptError) throw e;
      this.failure = e;
      throw new WalFailedError(e);
    }
  }

  private checkAppending(): void {
    if (this.mode !== "appending") throw new WalError("Usage", "wal: call readAll before appending");
  }

  /** Records where the entries of the batch just written at `at` in the tail are. */
  private locate(entries: readonly Entry[], at: number): void {
    const seq = this.segments[this.segments.length - 1]!.seq;
    let offset = at;
    for (const e of entries) {
      const size = FrameEncoder.entryFrameSize(e);
      this.locator.add(e.index, e.term, seq, offset, size);
      offset += size;
    }
  }

  /** Writes the encoder's batch at the end of the tail: one write. */
  private async append(): Promise<void> {
    const bytes = this.encoder.bytes();
    const tail = this.tail!;
    if (this.pipeline === undefined) this.startPipeline(); // lazily: a WAL only replayed never preallocates
    this.unsynced = true;
    await this.io(() => writeFully(tail, bytes, 0, bytes.length, this.tailOffset));
    this.tailOffset += bytes.length;
    this.crc = this.encoder.crc;
    if (tracing) trace("wal.write", { bytes: bytes.length });
    if (this.metrics !== undefined) {
      this.metrics.walWriteBytes.inc(bytes.length);
      this.metrics.walRecordsWritten.inc(this.encoder.frames);
    }
  }

  private fdatasync(): Promise<void> {
    return this.io(() => this.fdatasyncOf(this.tail!));
  }

  /** The open handle of segment `seq` (the tail's, or a cut one kept for reading). */
  private segmentHandle(seq: number): FileHandleLike | undefined {
    return seq === this.segments[this.segments.length - 1]?.seq ? this.tail : this.readHandles.get(seq);
  }

  /**
   * After `readEntries` returned entries up to `next`: unless a read-ahead is in flight, or the
   * reader has not yet passed the middle of the last one, reads the READ_AHEAD_BYTES of frames
   * after what is already read ahead (after `next` if the reader jumped), off the event loop. A
   * follower catching up reads the log sequentially, entries written minutes and gigabytes ago that
   * the page cache no longer holds; without this each of its MsgApps would block the leader's event
   * loop on the disk (the growth bench's replay after a snapshot).
   */
  private startReadAhead(next: number): void {
    if (this.readingAhead !== undefined || this.mode !== "appending") return;
    const ra = this.readAhead;
    if (next >= ra.reader && next < ra.next) return;
    const from = next >= ra.reader && next < ra.end ? ra.end : next;
    const { spans, end } = this.locator.spans(from, READ_AHEAD_BYTES);
    if (spans.length === 0) return;
    this.readAhead = { reader: next, next: from + Math.floor((end - from) / 2), end };
    this.readingAhead = this.readSpans(spans).finally(() => {
      this.readingAhead = undefined;
    });
  }

  /** Reads `spans` into a scratch buffer, a piece at a time; a failure only ends the read-ahead. */
  private async readSpans(spans: readonly EntrySpan[]): Promise<void> {
    const piece = new Uint8Array(READ_AHEAD_PIECE_BYTES);
    try {
      for (const s of spans) {
        for (let pos = s.offset; pos < s.offset + s.length; pos += piece.length) {
          const fh = this.segmentHandle(s.seq);
          if (fh === undefined) return;
          const n = Math.min(piece.length, s.offset + s.length - pos);
          await fh.read(piece, 0, n, pos);
          this.metrics?.walReadAheadBytes.inc(n);
        }
      }
    } catch (e) {
      this.logger.warn(`wal: reading ahead failed (readEntries will read from the disk): ${String(e)}`);
    }
  }

  private async fdatasyncOf(fh: FileHandleLike, full = false): Promise<void> {
    const t0 = performance.now();
    await (full ? fh.sync() : fh.datasync());
    if (fh === this.tail) this.unsynced = false;
    if (tracing) trace("wal.sync");
    const seconds = (performance.now() - t0) / 1000;
    this.metrics?.walFsyncSeconds.observe(seconds);
    if (seconds > SLOW_FSYNC_SECONDS) this.logger.warn(`wal: slow fdatasync: took ${seconds.toFixed(3)}s`);
  }

  /**
   * Closes the full tail and continues in a new segment (etcd's cut): the old tail loses its
   * preallocated zeros and is fsynced; the preallocated file gets the crc seed, the metadata and the
   * HardState, is fsynced, renamed to its segment name, and the directory fsynced. A crash at any
   * point leaves either the old tail as the last segment or the new one complete.
   */
  private async cut(): Promise<void> {
    const old = this.tail!;
    await this.io(() => old.truncate(this.tailOffset));
    await this.io(() => this.fdatasyncOf(old, true));
    const next = await this.io(() => this.pipeline!.take());
    const enc = this.encoder;
    enc.begin(this.crc);
    enc.crcSeed(this.crc);
    enc.record(RecordType.Metadata, this.metadata);
    if (!isEmptyHardState(this.hardState)) enc.record(RecordType.HardState, encodeHardState(this.hardState));
    const bytes = enc.bytes();
    await this.io(() => writeFully(next.handle, bytes, 0, bytes.length, 0));
    await this.io(() => this.fdatasyncOf(next.handle));
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    const name = segmentFileName(seq, this.lastIndex + 1);
    await this.io(() => this.fs.rename(next.path, join(this.dir, name)));
    await this.io(() => this.fs.syncDir(this.dir));
    // Kept open: the entries in it can be read back until the segment is released.
    this.readHandles.set(this.segments[this.segments.length - 1]!.seq, old);
    this.tail = next.handle;
    this.tailOffset = bytes.length;
    this.crc = enc.crc;
    this.segments.push({ name, seq, index: this.lastIndex + 1 });
    this.logger.info(`wal: created a new segment ${join(this.dir, name)}`);
  }

  /** Copies the tail to a new `.broken` file (fsynced), then cuts the tail at `end` (fsynced). */
  private async repairTail(path: string, original: Uint8Array, end: number): Promise<string> {
    const names = new Set(await this.fs.readdir(this.dir));
    let broken = `${basename(path)}.broken`;
    for (let n = 1; names.has(broken); n++) broken = `${basename(path)}.broken.${n}`;
    const brokenPath = join(this.dir, broken);
    const copy = await this.fs.open(brokenPath, "create");
    try {
      await writeFully(copy, original, 0, original.length, 0);
      await copy.datasync();
    } finally {
      await copy.close();
    }
    await this.fs.syncDir(this.dir);
    const fh = await this.fs.open(path, "readWrite");
    try {
      await fh.truncate(end);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return brokenPath;
  }

  private startPipeline(): void {
    this.pipeline = new FilePipeline(this.fs, this.dir, this.segmentSize, this.preallocateMode);
    this.pipeline.start();
  }
}

function emptyConfState() {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}
