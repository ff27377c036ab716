// @tsraft/kv: a raftexample-style replicated key-value server on @tsraft/node with a SQLite state machine.

export {
  COMMAND_VERSION,
  type Command,
  CommandDecodeError,
  decodeCommand,
  encodeCommand,
} from "./command.js";
export {
  deriveClusterId,
  HELP,
  type KvServerConfig,
  type ParsedArgs,
  parseCliArgs,
  parseCluster,
} from "./config.js";
export { createKvHttpServer, type KvHttpOptions } from "./http.js";
export { DEFAULT_MAX_REQUEST_BYTES, HttpError, MAX_KEY_BYTES } from "./http-util.js";
export {
  DEFAULT_IMAGE_CHUNK_BYTES,
  DEFAULT_MAX_IMAGE_RECORD_BYTES,
  IMAGE_FORMAT_VERSION,
  IMAGE_MAGIC,
  ImageDecoder,
  type ImageDecoderOptions,
  ImageEncoder,
  ImageError,
  type ImageErrorCode,
  type ImageHeader,
  type ImageRecord,
  type ImageSummary,
  isImageError,
} from "./image.js";
export type { KvNode, KvStore, MemberInfo, WaitOptions } from "./kv-node.js";
export { type KvServer, startKvServer } from "./server.js";
export {
  type ApplyResult,
  DB_FILE,
  type RestoreStep,
  type SqliteImageSnapshot,
  SqliteStateMachine,
  type SqliteStateMachineOptions,
} from "./sqlite-state-machine.js";
export type { CheckpointResult } from "./wal-checkpointer.js";
