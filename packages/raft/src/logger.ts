/**
 * The core's logging interface. The core formats each line itself (etcd's exact texts, which the
 * conformance corpus asserts) and hands the finished string to the logger; it never writes anywhere
 * on its own. `@tsraft/node` adapts pino to this interface; the interaction harness records lines.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /**
   * Records a broken invariant. The core calls it through {@link panic}, which throws right after, so
   * an implementation only needs to record the line.
   */
  panic(msg: string): void;
  /**
   * Optional: whether debug lines are recorded at all. The core skips building debug lines (some
   * describe progress or messages) when this returns false; when absent, the core assumes true.
   */
  isDebugEnabled?(): boolean;
}

/** True unless `l` says it drops debug lines (see {@link Logger.isDebugEnabled}). */
export function debugEnabled(l: Logger): boolean {
  return l.isDebugEnabled === undefined || l.isDebugEnabled();
}

/** A logger that drops everything (the default: the core is silent unless given a logger). */
export const discardLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  panic() {},
  isDebugEnabled: () => false,
};

/**
 * The error thrown for a broken invariant: the core's equivalent of etcd's `Logger.Panicf`.
 * Nothing in the core catches it; the state machine that threw it must not be used again.
 */
export class RaftPanic extends Error {
  override readonly name = "RaftPanic";
}

/** Logs `msg` at panic level and throws a {@link RaftPanic}. */
export function panic(logger: Logger, msg: string): never {
  logger.panic(msg);
  throw new RaftPanic(msg);
}
