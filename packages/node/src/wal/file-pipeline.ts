/**
 * Preallocation of the next segment, etcd's file_pipeline: while the current segment fills, an
 * fsynced `<n>.tmp` file of the segment size, reading as zeros, waits in the WAL directory, so a cut
 * only writes the new segment's first records and renames it. What a crash leaves unwritten in a
 * segment then reads as zeros, which the torn-tail rule relies on.
 *
 * Two ways to preallocate (Node has no fallocate): `sparse` (the default) extends the file with
 * ftruncate, as etcd does where fallocate is missing: no I/O, blocks allocated as the log is written;
 * `zero-fill` writes the zeros, reserving the blocks up front (no ENOSPC later, no block allocation
 * for later fdatasyncs to commit) at the price of writing every segment twice.
 */
import { join } from "node:path";
import { type FileHandleLike, type FileSystem, writeFully } from "../file-system.js";

/** A preallocated file, ready to become a segment. */
export interface PreparedFile {
  readonly path: string;
  readonly handle: FileHandleLike;
}

const ZEROS = new Uint8Array(1024 * 1024);

/** How segments are preallocated: see the module comment. */
export type PreallocateMode = "sparse" | "zero-fill";

/** Makes `[from, to)` of `fh` read as zeros: ftruncate (`sparse`) or 1 MiB writes of zeros (`zero-fill`). */
export async function preallocate(
  fh: FileHandleLike,
  from: number,
  to: number,
  mode: PreallocateMode,
): Promise<void> {
  if (to <= from) return;
  if (mode === "sparse") {
    await fh.truncate(to);
    return;
  }
  for (let pos = from; pos < to; ) {
    const n = Math.min(ZEROS.length, to - pos);
    await writeFully(fh, ZEROS, 0, n, pos);
    pos += n;
  }
}

/**
 * Keeps one preallocated file ready. `take()` hands it over (waiting if it is still being written)
 * and starts the next; an allocation error is reported by the `take()` that needed the file (so the
 * WAL fails then, at a cut, as etcd's does), not before.
 */
export class FilePipeline {
  private count = 0;
  private pending: Promise<PreparedFile> | undefined;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly size: number,
    private readonly mode: PreallocateMode,
  ) {}

  /** Starts preparing a file, unless one is already being prepared or ready. */
  start(): void {
    if (this.pending !== undefined) return;
    const p = this.alloc();
    p.catch(() => {}); // reported by take(); never an unhandled rejection
    this.pending = p;
  }

  /** The prepared file (preparing it now if needed); starts preparing the next one. */
  async take(): Promise<PreparedFile> {
    this.start();
    const p = this.pending!;
    this.pending = undefined;
    const f = await p;
    this.start();
    return f;
  }

  /** Waits for a file in preparation, then closes and deletes it. Errors are ignored. */
  async close(): Promise<void> {
    const p = this.pending;
    this.pending = undefined;
    if (p === undefined) return;
    try {
      const f = await p;
      await f.handle.close();
      await this.fs.unlink(f.path);
    } catch {
      // Nothing to clean up, or it will be removed at the next open.
    }
  }

  private async alloc(): Promise<PreparedFile> {
    // Alternate names so the file being prepared never has the name of the one just handed over.
    const path = join(this.dir, `${this.count % 2}.tmp`);
    this.count++;
    const handle = await this.fs.open(path, "overwrite");
    try {
      await preallocate(handle, 0, this.size, this.mode);
      await handle.datasync();
    } catch (e) {
      await handle.close().catch(() => {});
      throw e;
    }
    return { path, handle };
  }
}
