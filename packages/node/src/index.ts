/**
 * @tsraft/node: runs the @tsraft/raft core for real. Start with {@link RaftNode}: give it a data
 * directory, peers and your {@link StateMachine}; propose, read, change membership. The building
 * blocks (transport, WAL, snapshot files, file systems, metrics) follow for tools. Test tooling
 * (failpoints, MemFileSystem, segment names) is in `@tsraft/node/testing`; the opt-in write-path
 * trace in `@tsraft/node/trace`.
 */

// The node: RaftNode and what it takes and gives (packages/node/README.md, "RaftNode").
export { type ExportedSnapshot, RaftNode } from "./raftnode/raft-node.js";
export type {
  RaftNodeOptions,
  RaftNodeTransportOptions,
  RaftTransport,
  SnapshotImageSource,
} from "./raftnode/options.js";
export type { RequestOptions } from "./raftnode/requests.js";
export { isRaftNodeError, RaftNodeError, type RaftNodeErrorCode } from "./raftnode/errors.js";
export { DataDirLock, LOCK_FILE, type LockOwner } from "./raftnode/data-dir-lock.js";
export { type SeedDataDirOptions, seedDataDir } from "./raftnode/seed-data-dir.js";
export { dataDirHasLog } from "./raftnode/force-new-cluster.js";
export type { Member } from "./raftnode/membership.js";
export type { RaftNodeEvents } from "./raftnode/node-events.js";
export type { PeerProgress, RaftNodeStatus } from "./raftnode/status.js";
// The state machine contract, from @tsraft/raft (the simulator drives the same one).
export type { StateMachine, StateMachineSnapshot, MaybePromise } from "@tsraft/raft";
export type { ApplyEntry, ApplyEntryKind } from "@tsraft/raft";
export { isDurableStateMachine } from "@tsraft/raft";

// Building blocks.
export { crc32c } from "./crc32c.js";
export {
  blockingNodeFileSystem,
  createNodeFileSystem,
  type FileHandleLike,
  type FileSystem,
  type NodeFileSystemOptions,
  nodeFileSystem,
  type OpenMode,
} from "./file-system.js";
export { createNodeMetrics, type NodeMetrics } from "./metrics.js";
export {
  decodeSnapFile,
  encodeSnapFile,
  type ImageDigest,
  imageFileName,
  parseSnapName,
  type SnapName,
  Snapshotter,
  type SnapshotterOptions,
  snapFileName,
} from "./snap/snapshotter.js";
// Transport (WebSocket between peers): see src/transport/transport.ts and README "Wire format".
export { CloseCode, PROTOCOL_VERSION, RAFT_PATH } from "./transport/frame.js";
export type { TransportHandler, TransportOptions, TransportTLS } from "./transport/options.js";
export type { PeerInfo } from "./transport/peer.js";
export { SnapshotTransferError } from "./transport/incoming-image.js";
export { Transport } from "./transport/transport.js";
export { isWalError, WalCorruptError, WalError, type WalErrorCode, WalFailedError } from "./wal/errors.js";
export type { PreallocateMode } from "./wal/file-pipeline.js";
export { RecordType, type SnapshotMarker } from "./wal/record.js";
export { DEFAULT_SEGMENT_SIZE, WAL, type WalOptions, type WalReadResult } from "./wal/wal.js";
