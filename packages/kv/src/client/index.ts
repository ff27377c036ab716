/**
 * @tsraft/kv/client: a typed client of tsraft-kv's HTTP API on fetch, with no dependency (see
 * kv-client.ts for what it retries and how ranges and watches iterate).
 */
export {
  type CallOptions,
  type CompareOp,
  type KeySelector,
  KvClient,
  type KvClientOptions,
  type RangeOptions,
  type RangePage,
  type ReadOptions,
  type TxnCompare,
  type TxnOpResponse,
  type TxnRequest,
  type TxnRequestOp,
  type TxnResponse,
  type WatchOptions,
  type WriteOptions,
  type WriteResult,
} from "./kv-client.js";
export { isKvClientError, KvClientError } from "./kv-client-errors.js";
export { KvEntry, type KvValue, type WatchEvent } from "./kv-entry.js";
