/**
 * Snapshot files: etcd's etcdserver/api/snap. One file per snapshot, `<term:016x>-<index:016x>.snap`,
 * holding etcd's snappb.Snapshot protobuf: `crc` (field 1, uint32: CRC-32C of `data`) and `data`
 * (field 2: the encoded raftpb Snapshot, whose own `data` is the node's small metadata). Beside it,
 * when the state machine needs one, `<term:016x>-<index:016x>.image`: the state machine's image,
 * written and read as a stream (never whole in memory) and checked against the size and SHA-256 the
 * `.snap` file's metadata records. Layout in packages/node/README.md, "Snapshot files".
 *
 * Saving is atomic (temp file, fsync, rename, fsync of the directory): a crash leaves the old set of
 * snapshots or the new one, never a half-written `.snap`. Loading takes the newest snapshot the WAL
 * knows (so the WAL can replay from it) and skips, with a warning, any that fails its checksum,
 * renaming it `<name>.broken` so it is looked at once and not again.
 */
import { createHash, type Hash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { discardLogger, type Logger } from "@tsraft/raft";
import { decodeSnapshot, encodeSnapshot, isEmptySnap, type Snapshot } from "@tsraft/raft/raftpb";
import { crc32c } from "../crc32c.js";
import {
  errorCode,
  type FileHandleLike,
  type FileSystem,
  nodeFileSystem,
  writeFully,
} from "../file-system.js";
import { hexPairName, parseHexPairName } from "../hex-pair-name.js";
import type { NodeMetrics } from "../metrics.js";
import { encodeFields, FieldReader } from "../protobuf-fields.js";
import { WalCorruptError, WalError } from "../wal/errors.js";
import { type DigestedStream, digestedChunkOrigin } from "./digested-chunks.js";

/** Options of {@link Snapshotter}. */
export interface SnapshotterOptions {
  fs?: FileSystem;
  logger?: Logger;
  /** Snapshot series to update (snapshots saved, save latency). */
  metrics?: NodeMetrics;
}

const SNAP_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
/** An image file, or an image being written (`<name>.image.tmp-<random>`). */
const IMAGE_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.image(\.tmp-[0-9a-f]+)?$/;
const TMP_SUFFIX = ".tmp";
/** Images are read back in chunks of this size. */
const IMAGE_READ_CHUNK = 1024 * 1024;
/**
 * While an image is written, it is fdatasynced every this many bytes, so the kernel never holds
 * more than this much of it dirty: the final sync stays short, and the WAL's own fdatasyncs do not
 * queue behind a GiB of writeback.
 */
const IMAGE_SYNC_EVERY = 64 * 1024 * 1024;

/** What an image file holds, as the `.snap` metadata records it. */
export interface ImageDigest {
  readonly size: number;
  /** SHA-256 of the content, lower-case hex. */
  readonly sha256: string;
}

/** Feeds the first `size` bytes of the open file `fh` to `hash`. */
async function hashFile(fh: FileHandleLike, size: number, hash: Hash): Promise<void> {
  const buf = new Uint8Array(Math.min(IMAGE_READ_CHUNK, size));
  for (let at = 0; at < size; ) {
    const n = await fh.read(buf, 0, Math.min(buf.length, size - at), at);
    if (n <= 0) throw new Error(`snap: image file ends at ${at} of the ${size} bytes written`);
    hash.update(buf.subarray(0, n));
    at += n;
  }
}

/** A snapshot file name, parsed. */
export interface SnapName {
  readonly name: string;
  readonly term: number;
  readonly index: number;
}

/** The file name of the snapshot at (term, index). */
export function snapFileName(term: number, index: number): string {
  return hexPairName(term, index, "snap");
}

/** The file name of the state machine image that goes with the snapshot at (term, index). */
export function imageFileName(term: number, index: number): string {
  return snapFileName(term, index).replace(/\.snap$/, ".image");
}

/** Parses a snapshot file name of the exact form `<16 hex>-<16 hex>.snap`; undefined otherwise. */
export function parseSnapName(name: string): SnapName | undefined {
  const p = parseHexPairName(SNAP_RE, name);
  return p === undefined ? undefined : { name, term: p[0], index: p[1] };
}

/** Encodes a snapshot file's bytes: snappb.Snapshot{crc: CRC-32C(data), data: encodeSnapshot(s)}. */
export function encodeSnapFile(s: Snapshot): Uint8Array {
  const data = encodeSnapshot(s);
  return encodeFields([
    [0x08, crc32c(0, data)],
    [0x12, data],
  ]);
}

/** Decodes a snapshot file's bytes, checking the crc; throws an Error saying what is wrong. */
export function decodeSnapFile(b: Uint8Array): Snapshot {
  const r = new FieldReader(b);
  let crc: number | undefined;
  let data: Uint8Array | undefined;
  while (r.more()) {
    const tag = r.varint();
    if (tag === 0x08) crc = r.varint();
    else if (tag === 0x12) data = r.bytes("data runs past the end of the file");
    else throw new Error(`unexpected field tag ${tag} at offset ${r.offset}`);
  }
  if (crc === undefined || data === undefined || data.length === 0) throw new Error("empty snapshot file");
  const actual = crc32c(0, data);
  if (actual !== crc)
    throw new Error(`crc mismatch: file says ${crc.toString(16)}, data has ${actual.toString(16)}`);
  return decodeSnapshot(data);
}

/**
 * The snapshot directory of a node. The node saves a snapshot here before it records the snapshot's
 * marker in the WAL (`WAL.saveSnapshot`), and at restart loads the newest snapshot the WAL knows.
 */
export class Snapshotter {
  private readonly fs: FileSystem;
  private readonly logger: Logger;
  private readonly metrics: NodeMetrics | undefined;

  constructor(
    readonly dir: string,
    opts: SnapshotterOptions = {},
  ) {
    this.fs = opts.fs ?? nodeFileSystem;
    this.logger = opts.logger ?? discardLogger;
    this.metrics = opts.metrics;
  }

  /**
   * Saves `snapshot` as `<term>-<index>.snap`: written to `<name>.tmp`, fsynced, renamed, and the
   * directory fsynced, so once this resolves the file survives a crash. An empty snapshot (index 0)
   * is not saved. Creates the directory if needed.
   */
  async save(snapshot: Snapshot): Promise<void> {
    if (isEmptySnap(snapshot)) return;
    const t0 = performance.now();
    const { term, index } = snapshot.metadata;
    const name = snapFileName(term, index);
    const bytes = encodeSnapFile(snapshot);
    const tmp = join(this.dir, name + TMP_SUFFIX);
    await this.fs.mkdir(this.dir);
    const fh = await this.fs.open(tmp, "overwrite");
    try {
      await writeFully(fh, bytes, 0, bytes.length, 0);
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => {});
      await this.fs.unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await this.fs.rename(tmp, join(this.dir, name));
    await this.fs.syncDir(this.dir);
    this.metrics?.snapshotsSaved.inc();
    this.metrics?.snapshotSaveSeconds.observe((performance.now() - t0) / 1000);
  }

  /**
   * Reads and verifies the snapshot file `name`, which must be of the exact form
   * `<16 hex>-<16 hex>.snap` (anything else, e.g. with `../`, is refused with WalError `InvalidName`).
   * Throws WalCorruptError if the file fails its checksum, does not decode, or holds a snapshot other
   * than the one its name says.
   */
  async read(name: string): Promise<Snapshot> {
    const parsed = parseSnapName(name);
    if (parsed === undefined) {
      throw new WalError("InvalidName", `snap: ${JSON.stringify(name)} is not a snapshot file name`);
    }
    const path = join(this.dir, parsed.name);
    const bytes = await this.fs.readFile(path);
    let snap: Snapshot;
    try {
      snap = decodeSnapFile(bytes);
    } catch (e) {
      throw new WalCorruptError(path, 0, e instanceof Error ? e.message : String(e));
    }
    if (snap.metadata.term !== parsed.term || snap.metadata.index !== parsed.index) {
      throw new WalCorruptError(
        path,
        0,
        `holds the snapshot at (term ${snap.metadata.term}, index ${snap.metadata.index}), not the one its name says`,
      );
    }
    return snap;
  }

  /**
   * The newest snapshot whose (term, index) is among `walMarkers` (from `WAL.readSnapshotMarkers`),
   * or undefined if there is none. A candidate that fails verification is renamed `<name>.broken`
   * with a warning and the next older one is tried (etcd's LoadNewestAvailable).
   */
  async loadNewestAvailable(
    walMarkers: readonly { readonly term: number; readonly index: number }[],
  ): Promise<Snapshot | undefined> {
    const known = new Set(walMarkers.map((m) => `${m.term}/${m.index}`));
    return this.loadMatching((s) => known.has(`${s.term}/${s.index}`));
  }

  /** The newest readable snapshot, whatever the WAL knows (broken ones renamed as above). */
  load(): Promise<Snapshot | undefined> {
    return this.loadMatching(() => true);
  }

  /**
   * Deletes all but the newest `keep` snapshot files (by term, then index), and leftover temp files.
   * Returns the names deleted.
   */
  async releaseSnapshots(keep: number): Promise<string[]> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`snap: keep must be ≥ 1, got ${keep}`);
    const names = await this.snapNames();
    const doomed = names.slice(keep).map((s) => s.name);
    for (const name of doomed) await this.fs.unlink(join(this.dir, name));
    if (doomed.length > 0) await this.fs.syncDir(this.dir);
    return doomed;
  }

  /**
   * Writes the image of the snapshot at (term, index) from `chunks`, as a stream: to a temp file,
   * fdatasynced every 64 MiB and at the end, then renamed into place and the directory fsynced.
   * Resolves with its size and SHA-256 once it is durable. If `chunks` throws (a broken transfer)
   * or a write fails, the temp file is removed and the error rethrown; nothing is left behind.
   *
   * Chunks tagged by a producer that hashed them already (digested-chunks.ts: an incoming
   * snapshot, whose transport checked the sender's SHA-256) are not hashed again: the digest is
   * the producer's, if every chunk written came from it in order and its digest counts exactly
   * them. Anything else is hashed here (a chain broken half-way: the bytes written so far are read
   * back from the file and hashed first).
   */
  async saveImage(
    term: number,
    index: number,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ): Promise<ImageDigest> {
    const name = imageFileName(term, index);
    // A name of its own: two transfers of the same snapshot (a retry) may overlap.
    const tmp = join(this.dir, `${name}.tmp-${randomBytes(6).toString("hex")}`);
    await this.fs.mkdir(this.dir);
    const fh = await this.fs.open(tmp, "overwrite");
    const hash = createHash("sha256");
    let size = 0;
    let sha256: string;
    try {
      let unsynced = 0;
      // While every chunk so far is the next one of `digested`, nothing is hashed here.
      let digested: DigestedStream | undefined;
      let tagged = true;
      let seq = 0;
      for await (const chunk of chunks) {
        if (chunk.length === 0) continue;
        if (tagged) {
          const o = digestedChunkOrigin(chunk);
          if (o !== undefined && o.seq === seq && (digested === undefined || o.stream === digested)) {
            digested = o.stream;
            seq++;
          } else {
            tagged = false;
            await hashFile(fh, size, hash);
          }
        }
        await writeFully(fh, chunk, 0, chunk.length, size);
        if (!tagged) hash.update(chunk);
        size += chunk.length;
        unsynced += chunk.length;
        if (unsynced >= IMAGE_SYNC_EVERY) {
          await fh.datasync();
          unsynced = 0;
        }
      }
      const d = tagged ? digested?.digest() : undefined;
      if (d !== undefined && d.size === size && d.chunks === seq) {
        sha256 = d.sha256;
      } else {
        if (tagged) await hashFile(fh, size, hash);
        sha256 = hash.digest("hex");
      }
      await fh.sync();
      await fh.close();
    } catch (e) {
      await fh.close().catch(() => {});
      await this.fs.unlink(tmp).catch(() => {});
      throw e;
    }
    await this.fs.rename(tmp, join(this.dir, name));
    await this.fs.syncDir(this.dir);
    return { size, sha256 };
  }

  /**
   * Reads the image of the snapshot at (term, index) in 1 MiB chunks. Throws WalCorruptError (before
   * the iteration ends, so a consumer never takes a damaged image for a whole one) if the file is
   * missing, or its size or SHA-256 differs from `digest`.
   */
  async *readImage(term: number, index: number, digest: ImageDigest): AsyncGenerator<Uint8Array> {
    const path = join(this.dir, imageFileName(term, index));
    let fh: Awaited<ReturnType<FileSystem["open"]>>;
    try {
      fh = await this.fs.open(path, "read");
    } catch (e) {
      if (errorCode(e) === "ENOENT")
        throw new WalCorruptError(path, 0, "the snapshot's image file is missing");
      throw e;
    }
    try {
      const hash = createHash("sha256");
      let at = 0;
      for (;;) {
        const buf = new Uint8Array(Math.min(IMAGE_READ_CHUNK, Math.max(1, digest.size - at)));
        const n = await fh.read(buf, 0, buf.length, at);
        if (n === 0) break;
        at += n;
        if (at > digest.size) throw new WalCorruptError(path, digest.size, "image longer than recorded");
        const chunk = n === buf.length ? buf : buf.subarray(0, n);
        hash.update(chunk);
        if (at === digest.size) {
          // Verified before the last chunk is handed out.
          const sha = hash.digest("hex");
          if (sha !== digest.sha256) throw new WalCorruptError(path, 0, "image SHA-256 mismatch");
          yield chunk;
          const extra = await fh.read(new Uint8Array(1), 0, 1, at);
          if (extra !== 0) throw new WalCorruptError(path, digest.size, "image longer than recorded");
          return;
        }
        yield chunk;
      }
      if (digest.size === 0) {
        if (createHash("sha256").digest("hex") !== digest.sha256) {
          throw new WalCorruptError(path, 0, "image SHA-256 mismatch");
        }
        return;
      }
      throw new WalCorruptError(path, at, `image ends at ${at} of ${digest.size} bytes`);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /** Deletes the image of the snapshot at (term, index), if there is one. */
  async removeImage(term: number, index: number): Promise<void> {
    try {
      await this.fs.unlink(join(this.dir, imageFileName(term, index)));
    } catch (e) {
      if (errorCode(e) !== "ENOENT") throw e;
      return;
    }
    await this.fs.syncDir(this.dir);
  }

  /**
   * Deletes image files (and temp files of images) whose `.snap` file is gone and whose index is
   * below `belowIndex`: images of released snapshots, and received ones Raft did not take. An image
   * at or above `belowIndex` may be one whose `.snap` is about to be written; it stays.
   */
  async releaseImages(belowIndex: number): Promise<string[]> {
    const names = await this.names();
    const snaps = new Set(names.filter((n) => SNAP_RE.test(n)));
    const doomed: string[] = [];
    for (const name of names) {
      const m = IMAGE_RE.exec(name);
      if (m === null) continue;
      const index = Number.parseInt(m[2]!, 16);
      const temp = m[3] !== undefined;
      if (index < belowIndex && (temp || !snaps.has(`${m[1]}-${m[2]}.snap`))) doomed.push(name);
    }
    for (const name of doomed) await this.fs.unlink(join(this.dir, name));
    if (doomed.length > 0) await this.fs.syncDir(this.dir);
    return doomed;
  }

  private async loadMatching(match: (s: SnapName) => boolean): Promise<Snapshot | undefined> {
    for (const s of await this.snapNames()) {
      if (!match(s)) continue;
      try {
        return await this.read(s.name);
      } catch (e) {
        if (!(e instanceof WalCorruptError)) throw e;
        const path = join(this.dir, s.name);
        this.logger.warn(`snap: skipping ${path}: ${e.reason}; renaming it to ${path}.broken`);
        await this.fs.rename(path, `${path}.broken`);
        await this.fs.syncDir(this.dir);
      }
    }
    return undefined;
  }

  /** The names in the snapshot directory; none if it does not exist (yet). */
  private async names(): Promise<string[]> {
    try {
      return await this.fs.readdir(this.dir);
    } catch (e) {
      if (errorCode(e) === "ENOENT") return [];
      throw e;
    }
  }

  /** The snapshot files, newest first (term, then index, descending); deletes leftover temp files. */
  private async snapNames(): Promise<SnapName[]> {
    const names = await this.names();
    const snaps: SnapName[] = [];
    for (const name of names) {
      const s = parseSnapName(name);
      if (s !== undefined) {
        snaps.push(s);
      } else if (name.endsWith(`.snap${TMP_SUFFIX}`)) {
        await this.fs.unlink(join(this.dir, name));
      } else if (name.endsWith(".snap")) {
        this.logger.warn(`snap: ignoring ${join(this.dir, name)}: not a snapshot file name`);
      }
    }
    return snaps.sort((a, b) => b.term - a.term || b.index - a.index);
  }
}
