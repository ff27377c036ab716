/**
 * Files the server re-reads without a restart — the client API's certificate, key and CA, and the
 * auth token file — on SIGHUP (the CLI calls {@link ReloadableFiles.reload}) or when one of them
 * changes on disk (polled with fs.watchFile, which, unlike fs.watch, survives a file replaced by a
 * rename or a symlink swap, as certificate managers do).
 *
 * A reload that fails (a missing file, a key that does not match its certificate, a malformed token
 * line) is logged and changes nothing: the server keeps what it had. Rotation is thus: write the new
 * files (the key first), then SIGHUP or wait for the poll.
 */
import { type Stats, type StatsListener, unwatchFile, watchFile } from "node:fs";
import type { Logger } from "pino";

/** How often watched files are polled (ms). */
export const RELOAD_POLL_MS = 1000;

/** Calls `load` again whenever asked to or one of `paths` changes; see the file comment. */
export class ReloadableFiles {
  private readonly listeners = new Map<string, StatsListener>();
  private pending: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly what: string,
    private readonly paths: readonly string[],
    /** Reads the files and applies them; throws if they are not usable (nothing is applied then). */
    private readonly load: () => void,
    private readonly logger: Logger,
    pollMs = RELOAD_POLL_MS,
  ) {
    for (const path of new Set(paths)) {
      const listener = (cur: Stats, prev: Stats): void => {
        if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
        // Several files change together (certificate and key): reload once they have settled.
        if (this.pending !== undefined) clearTimeout(this.pending);
        this.pending = setTimeout(() => {
          this.pending = undefined;
          this.reload(`${path} changed`);
        }, 200);
        this.pending.unref();
      };
      watchFile(path, { interval: pollMs, persistent: false }, listener);
      this.listeners.set(path, listener);
    }
  }

  /** Reloads now; true if the new files were applied. */
  reload(why: string): boolean {
    if (this.closed) return false;
    try {
      this.load();
      this.logger.info({ why, files: this.paths }, `reloaded the ${this.what}`);
      return true;
    } catch (err) {
      this.logger.error(
        { why, files: this.paths, err: (err as Error).message },
        `reloading the ${this.what} failed: keeping the previous one`,
      );
      return false;
    }
  }

  /** Stops watching. */
  close(): void {
    this.closed = true;
    if (this.pending !== undefined) clearTimeout(this.pending);
    for (const [path, listener] of this.listeners) unwatchFile(path, listener);
    this.listeners.clear();
  }
}
