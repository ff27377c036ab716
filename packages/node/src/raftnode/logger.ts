import type { Logger as RaftLogger } from "@tsraft/raft";
import type { Logger } from "pino";

/**
 * Adapts a pino logger to the core's {@link RaftLogger} (finished strings, etcd's texts) and the
 * WAL's. A core panic is logged at fatal; the core throws right after, and the node fails stop.
 */
export function toRaftLogger(log: Logger): RaftLogger {
  return {
    debug: (msg) => log.debug(msg),
    info: (msg) => log.info(msg),
    warn: (msg) => log.warn(msg),
    error: (msg) => log.error(msg),
    panic: (msg) => log.fatal(msg),
    isDebugEnabled: () => log.isLevelEnabled("debug"),
  };
}
