/**
 * @tsraft/kv: a raftexample-style replicated key-value server on @tsraft/node with a SQLite state
 * machine. Start a server with {@link startKvServer} (or the `tsraft-kv` command); the pieces it is
 * made of follow.
 */

// The server.
export { type KvServer, startKvServer } from "./server.js";
export {
  deriveClusterId,
  HELP,
  type KvServerConfig,
  type ParsedArgs,
  parseCliArgs,
  parseCluster,
} from "./config.js";
// The state machine and what goes through it.
export {
  type ApplyResult,
  DB_FILE,
  SqliteStateMachine,
  type SqliteStateMachineOptions,
} from "./sqlite-state-machine.js";
export {
  COMMAND_VERSION,
  type Command,
  CommandDecodeError,
  decodeCommand,
  encodeCommand,
} from "./command.js";
// The HTTP API.
export { createKvHttpServer, type KvHttpOptions, type KvNode, type KvStore } from "./http.js";
export { DEFAULT_MAX_REQUEST_BYTES, HttpError, MAX_KEY_BYTES } from "./http-util.js";
