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
  type AppliedState,
  type ApplyResult,
  CompactedError,
  DB_FILE,
  FutureRevisionError,
  type RestoreStep,
  type SqliteImageSnapshot,
  SqliteStateMachine,
  type SqliteStateMachineOptions,
} from "./sqlite-state-machine.js";
export type { StateHash } from "./state-hash.js";
// Revisions, history and transactions.
export {
  CHANGES_PER_REVISION,
  type KeyRange,
  type KeyValue,
  type KvChange,
  keySuccessor,
  prefixRange,
  type RangePage,
  type RangeRequest,
} from "./mvcc-types.js";
export {
  type Compare,
  type CompareOp,
  type CompareTarget,
  MAX_TXN_OPS,
  type Txn,
  TxnError,
  type TxnOp,
  type TxnOpResult,
  type TxnResult,
} from "./txn.js";
export {
  decodeKvCommand,
  encodeCompactCommand,
  encodeTxnCommand,
  KV_COMMAND_VERSION,
  type KvCommand,
} from "./txn-command.js";
export {
  COMMAND_VERSION,
  type Command,
  CommandDecodeError,
  decodeCommand,
  encodeCommand,
} from "./command.js";
// Idempotency keys (exactly-once retries of writes).
export {
  decodeIdempotent,
  encodeIdempotent,
  IDEMPOTENCY_HEADER,
  IDEMPOTENCY_WINDOW,
  MAX_IDEMPOTENCY_KEY_BYTES,
  REPLAYED_HEADER,
} from "./idempotency.js";
// The image format (snapshots; backups).
export {
  DEFAULT_IMAGE_CHUNK_BYTES,
  DEFAULT_MAX_IMAGE_RECORD_BYTES,
  IMAGE_FORMAT_VERSION,
  IMAGE_MAGIC,
  type ImageChangeRecord,
  ImageError,
  type ImageErrorCode,
  type ImageHeader,
  type ImageIdempotencyRecord,
  type ImageKeyRecord,
  type ImageKeyRowRecord,
  type ImageRecord,
  type ImageRowRecord,
  type ImageSummary,
  isImageError,
} from "./image-format.js";
export { ImageDecoder, type ImageDecoderOptions } from "./image-decoder.js";
export { ImageEncoder, type ImageEncoderOptions, type KeyRevisions, LEGACY_REVISIONS } from "./image.js";
export type { CheckpointResult } from "./wal-checkpointer.js";
// The HTTP API.
export { createKvHttpServer, type KvHttpOptions, type KvNode, type KvStore } from "./http.js";
export { DEFAULT_MAX_REQUEST_BYTES, MAX_KEY_BYTES } from "./http-io.js";
export { HttpError } from "./http-errors.js";
