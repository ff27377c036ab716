import type { Logger } from "../logger.js";

/** The log levels of the harness, lowest first; `NONE` silences the core and the harness alike. */
export const LOG_LEVEL_NAMES = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL", "NONE"] as const;

/** The index of `NONE` in {@link LOG_LEVEL_NAMES}. */
const NONE = LOG_LEVEL_NAMES.length - 1;

/**
 * The output buffer of an InteractionEnv, which is also the Logger of every node in it (etcd's
 * RedirectLogger): log lines and the harness's own output interleave in the order they happen, which
 * is what the corpus records.
 *
 * A log line is `LEVEL msg\n` (`WARN`, and `FATAL` for panics), written only if its level is at least
 * {@link lvl}. At `NONE` the harness's own output is dropped too (errors are still reported by the
 * command dispatcher).
 */
export class RedirectLogger implements Logger {
  /**
   * The lowest level written: an index into {@link LOG_LEVEL_NAMES} (0 = DEBUG ... 5 = NONE).
   * Invariant: 0 ≤ lvl ≤ 5.
   */
  lvl = 0;
  private buf = "";

  /** True at level NONE, where nothing at all is written. */
  quiet(): boolean {
    return this.lvl === NONE;
  }

  /** Appends harness output (dropped when {@link quiet}). */
  writeString(s: string): void {
    if (!this.quiet()) this.buf += s;
  }

  /** The output so far. */
  toString(): string {
    return this.buf;
  }

  get length(): number {
    return this.buf.length;
  }

  /** Forgets the output so far (the dispatcher does this before each command). */
  reset(): void {
    this.buf = "";
  }

  /**
   * Replaces the buffer by `next` and returns the previous content. The env uses it to capture a
   * sub-operation's output and indent it.
   */
  swap(next: string): string {
    const prev = this.buf;
    this.buf = next;
    return prev;
  }

  debug(msg: string): void {
    this.log(0, msg);
  }
  info(msg: string): void {
    this.log(1, msg);
  }
  warn(msg: string): void {
    this.log(2, msg);
  }
  error(msg: string): void {
    this.log(3, msg);
  }
  panic(msg: string): void {
    this.log(4, msg);
  }

  /** Lets the core skip building debug lines nobody will see. */
  isDebugEnabled(): boolean {
    return this.lvl === 0;
  }

  private log(level: number, msg: string): void {
    if (this.lvl > level) return;
    // etcd appends a newline unless the format string already ends with one; the core hands us
    // finished strings, whose last character is the format's in practice.
    this.buf += `${LOG_LEVEL_NAMES[level]} ${msg}${msg !== "" && !msg.endsWith("\n") ? "\n" : ""}`;
  }
}
