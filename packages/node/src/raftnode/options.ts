/**
 * The options of {@link RaftNode.start}, their defaults (etcd's where etcd has one), and the
 * transport seam the node talks through.
 */
import { join } from "node:path";
import type { StateMachine, StateMachineSnapshot } from "@tsraft/raft";
import type { Message } from "@tsraft/raft/raftpb";
import { type Logger, pino } from "pino";
import { fileSystemFromEnv } from "../failpoints.js";
import { type FileSystem, isNodeFileSystem, nodeFileSystem } from "../file-system.js";
import { createNodeMetrics, type NodeMetrics } from "../metrics.js";
import type { TransportOptions } from "../transport/options.js";
import type { PreallocateMode } from "../wal/file-pipeline.js";
import type { DataDirLock } from "./data-dir-lock.js";

/**
 * What the node needs from a transport. {@link Transport} is the real one; tests may wrap it (to
 * record sends) or replace it with an in-memory network through `RaftNodeOptions.transportFactory`.
 */
export interface RaftTransport {
  start(): Promise<void>;
  /**
   * Sends messages other than MsgSnap. Never blocks or throws; failures come back through the
   * handler's reportUnreachable.
   */
  send(messages: readonly Message[]): void;
  /**
   * Streams a MsgSnap and its state machine image to `m.to` (on a connection of its own), pulling
   * chunks from `image.read()` only as fast as the peer takes them, with a SHA-256 over the image.
   * Reports the outcome with the handler's reportSnapshot (`finish` once the peer acknowledged,
   * `failure` otherwise) and calls `image.release()` exactly once when the transfer is over.
   * `m.snapshot.data` is the node's small metadata (membership), not the image. Never throws.
   */
  sendSnapshot(m: Message, image: SnapshotImageSource): void;
  /**
   * Fails every outgoing snapshot transfer in flight (each reported as by `sendSnapshot`). Called
   * when this node stops being leader: a follower drops a MsgSnap of an older term, so the rest of
   * such a transfer would only load the disks and the network. Optional: without it, transfers run
   * to their end and are dropped there.
   */
  abortSnapshots?(reason: string): void;
  addPeer(id: number, url: string): void;
  removePeer(id: number): void;
  stop(): Promise<void>;
}

/** A state machine image as the transport reads it: chunks, then release. */
export type SnapshotImageSource = Pick<StateMachineSnapshot, "read" | "release">;

/** Transport settings passed through to {@link TransportOptions} (the node fills in the rest). */
export type RaftNodeTransportOptions = Omit<
  TransportOptions,
  "id" | "clusterId" | "listen" | "peers" | "handler" | "logger" | "metrics"
>;

/**
 * Everything {@link RaftNode.start} takes. Only `id`, `clusterId`, `peers`, `dataDir` and
 * `stateMachine` are required. `R` is what the state machine's `apply` returns per entry.
 */
export interface RaftNodeOptions<R = unknown> {
  /** This node's id: non-zero, unique in the cluster, never reused after a removal. */
  id: number;
  /** The cluster id; peers of another cluster are refused by the transport. */
  clusterId: number;
  /**
   * Peer URLs by id. For a new cluster: every initial member, this node included (they become the
   * bootstrap conf changes). With `join`: the existing members to talk to. On restart the log and
   * snapshot are authoritative; these only seed the transport.
   */
  peers: ReadonlyMap<number, string>;
  /**
   * Join an existing cluster (the leader has already added this id with `addMember`): start with an
   * empty log and no configuration, and learn both from the leader. Ignored on restart.
   */
  join?: boolean;
  /**
   * Disaster recovery (force-new-cluster.ts, etcd's --force-new-cluster): before starting, rewrite
   * the membership to this node alone, durably in the WAL, keeping every committed entry. Refused
   * (InvalidArgument) on a data directory without a log, and with `join`.
   */
  forceNewCluster?: boolean;
  /**
   * The peer URL to listen on (default: `peers.get(id)`); port 0 picks a free port. Not used when
   * `transport.server` is given (the transport then takes `/raft` upgrades on that server).
   */
  listen?: string;
  /**
   * The node's data directory: the WAL in `wal/`, snapshots in `snap/`. Created if missing. On the
   * real file system the node holds its lock (`LOCK`, data-dir-lock.ts) from `start` to `stop`: a
   * second process or RaftNode on it is refused before anything is opened.
   */
  dataDir: string;
  /**
   * The data directory's lock, when the caller took it first (a server opening files of its own
   * there before starting the node: tsraft-kv). The caller keeps it and releases it after `stop`
   * (and after closing its own files); the node only checks it is held for `dataDir`.
   */
  dataDirLock?: DataDirLock;
  /**
   * The application's state machine (the contract is `StateMachine` in `@tsraft/raft`). A durable
   * one (with `sync`) is compacted without copying its state; a volatile one is persisted by
   * streaming its image into the snapshot directory every `snapshotCount` entries.
   */
  stateMachine: StateMachine<R>;
  /** Milliseconds per Raft tick (default 100, etcd's heartbeat interval). */
  tickMs?: number;
  /** Ticks without a leader before a campaign (default 10). */
  electionTick?: number;
  /** Ticks between heartbeats (default 1). */
  heartbeatTick?: number;
  /** Pre-vote (thesis §9.6; default true). */
  preVote?: boolean;
  /** A leader steps down without quorum contact for an election timeout (default true). */
  checkQuorum?: boolean;
  /** Applied entries between log compactions (default 10000, etcd's --snapshot-count). */
  snapshotCount?: number;
  /**
   * Bytes of entry data applied between log compactions, whichever of this and `snapshotCount`
   * comes first (default 64 MiB): what the node holds in memory does not depend on the entries' size.
   */
  snapshotBytes?: number;
  /** Entries kept in memory behind a compaction point for slow followers (default 5000, etcd's). */
  snapshotCatchUpEntries?: number;
  /** ...and at most this many bytes of them (default 64 MiB). */
  snapshotCatchUpBytes?: number;

  /** Snapshot files kept on disk (default 5, etcd's --max-snapshots). */
  maxSnapshotFiles?: number;
  /** Largest append message, in bytes (default 1 MiB). */
  maxSizePerMsg?: number;
  /** Append messages in flight per follower (default 256). */
  maxInflightMsgs?: number;
  /**
   * Bytes of entries in flight per follower (default 16 MiB, and at least maxSizePerMsg): bounds what
   * a leader holds and reads at once for a follower catching up (256 messages of 1 MiB would be 256
   * MiB, read from the WAL in one go), and matches what the transport queues per peer.
   */
  maxInflightBytes?: number;
  /**
   * A follower far behind the leader's commit (back from a long stop, or replaying what was
   * written while its snapshot travelled) takes the leader's entries at most this many bytes/s,
   * but always at least twice as many entries/s as the leader commits (default 0: unpaced). It is
   * not on the commit path then, and its disk and CPU are the ones the quorum's writes need
   * (raftnode/catch-up-pace.ts).
   */
  catchUpBytesPerSec?: number;
  /**
   * Bytes of uncommitted entries a leader accepts before it drops proposals (default 64 MiB: what it
   * holds in memory for proposals not yet committed stays bounded).
   */
  maxUncommittedEntriesSize?: number;
  /** Drive the core's MsgStorageAppend/MsgStorageApply messages instead of Ready/advance (default false). */
  asyncStorageWrites?: boolean;
  /** Default timeout of propose, reads, conf changes and transfers (default 5000 ms). */
  requestTimeoutMs?: number;
  /** Largest proposal payload (default 1.5 MiB, etcd's --max-request-bytes). */
  maxRequestBytes?: number;
  /** Proposals and conf changes waiting on this node before new ones are refused (default 10000). */
  maxPendingProposals?: number;
  /** Linearizable reads waiting on this node before new ones are refused (default 10000). */
  maxPendingReads?: number;
  /** A pino logger; the node logs through a child `{ node: <id> }`. Default: silent. */
  logger?: Logger;
  /** The node's metrics (default: a fresh registry); serve `metrics.registry` at /metrics. */
  metrics?: NodeMetrics;
  /**
   * The file system for WAL and snapshots (default: the real one, wrapped with the failpoints of
   * `TSRAFT_FAILPOINTS` when that is set: see failpoints.ts). A real one with blocking calls
   * (`blockingNodeFileSystem`) is used for the WAL only: snapshot files and images, which may be
   * GiBs, always go through the thread pool.
   */
  fs?: FileSystem;
  /** WAL segment size (default 64 MiB). */
  walSegmentSize?: number;
  /** WAL preallocation (default sparse). */
  walPreallocate?: PreallocateMode;
  /** Transport settings: token, tls, maxPayload, queueSize, backoff... */
  transport?: RaftNodeTransportOptions;
  /** Replaces the WebSocket transport (tests: record sends, or an in-memory network). */
  transportFactory?: (options: TransportOptions) => RaftTransport;
  /** Randomness for election timeouts (default: a PRNG seeded from the id and the clock). */
  random?: () => number;
}

/** The options with their defaults. */
export interface ResolvedNodeOptions<R = unknown> {
  readonly id: number;
  readonly clusterId: number;
  readonly peers: ReadonlyMap<number, string>;
  readonly join: boolean;
  readonly forceNewCluster: boolean;
  /** Undefined when the transport attaches to `transport.server`. */
  readonly listen: string | undefined;
  readonly dataDir: string;
  /** Take the data directory's lock (on the real file system only: a MemFileSystem's paths are not on disk). */
  readonly lockDataDir: boolean;
  readonly dataDirLock: DataDirLock | undefined;
  readonly walDir: string;
  readonly snapDir: string;
  readonly stateMachine: StateMachine<R>;
  readonly tickMs: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly snapshotCount: number;
  readonly snapshotBytes: number;
  readonly snapshotCatchUpEntries: number;
  readonly snapshotCatchUpBytes: number;
  readonly maxSnapshotFiles: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes: number;
  readonly catchUpBytesPerSec: number;
  readonly maxUncommittedEntriesSize: number;
  readonly asyncStorageWrites: boolean;
  readonly requestTimeoutMs: number;
  readonly maxRequestBytes: number;
  readonly maxPendingProposals: number;
  readonly maxPendingReads: number;
  readonly logger: Logger;
  readonly metrics: NodeMetrics;
  /** The WAL's file system. */
  readonly fs: FileSystem;
  /** The snapshot directory's: never blocking. */
  readonly snapFs: FileSystem;
  readonly walSegmentSize: number | undefined;
  readonly walPreallocate: PreallocateMode | undefined;
  readonly transport: RaftNodeTransportOptions;
  readonly transportFactory: ((options: TransportOptions) => RaftTransport) | undefined;
  readonly random: (() => number) | undefined;
}

const MiB = 1024 * 1024;

/** Validates `o` and fills in the defaults; throws a RangeError/TypeError naming the bad option. */
export function resolveNodeOptions<R>(o: RaftNodeOptions<R>): ResolvedNodeOptions<R> {
  if (!Number.isSafeInteger(o.id) || o.id <= 0) throw new RangeError(`raftnode: invalid id ${o.id}`);
  const listen = o.transport?.server !== undefined ? undefined : (o.listen ?? o.peers.get(o.id));
  if (listen === undefined && o.transport?.server === undefined) {
    throw new TypeError(
      "raftnode: no `listen` URL, no `transport.server`, and `peers` has no URL for this id",
    );
  }
  const positive = (name: string, v: number | undefined, def: number): number => {
    const x = v ?? def;
    if (!Number.isSafeInteger(x) || x <= 0)
      throw new RangeError(`raftnode: ${name} must be a positive integer`);
    return x;
  };
  const nonNegative = (name: string, v: number | undefined): number => {
    const x = v ?? 0;
    if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`raftnode: ${name} must be an integer ≥ 0`);
    return x;
  };
  const realFs = o.fs === undefined || isNodeFileSystem(o.fs);
  const maxSizePerMsg = positive("maxSizePerMsg", o.maxSizePerMsg, MiB);
  const maxInflightMsgs = positive("maxInflightMsgs", o.maxInflightMsgs, 256);
  const maxRequestBytes = positive("maxRequestBytes", o.maxRequestBytes, 1.5 * MiB);
  const maxPayload = o.transport?.maxPayload ?? 8 * MiB;
  if (maxRequestBytes + 64 * 1024 > maxPayload) {
    throw new RangeError("raftnode: maxRequestBytes must be at least 64 KiB below transport.maxPayload");
  }
  if (o.forceNewCluster === true && o.join === true) {
    throw new TypeError("raftnode: forceNewCluster and join exclude each other");
  }
  const logger = (o.logger ?? pino({ level: "silent" })).child({ node: o.id });
  return {
    id: o.id,
    clusterId: o.clusterId,
    peers: o.peers,
    join: o.join ?? false,
    forceNewCluster: o.forceNewCluster ?? false,
    listen,
    dataDir: o.dataDir,
    lockDataDir: realFs,
    dataDirLock: o.dataDirLock,
    walDir: join(o.dataDir, "wal"),
    snapDir: join(o.dataDir, "snap"),
    stateMachine: o.stateMachine,
    tickMs: positive("tickMs", o.tickMs, 100),
    electionTick: positive("electionTick", o.electionTick, 10),
    heartbeatTick: positive("heartbeatTick", o.heartbeatTick, 1),
    preVote: o.preVote ?? true,
    checkQuorum: o.checkQuorum ?? true,
    snapshotCount: positive("snapshotCount", o.snapshotCount, 10_000),
    snapshotBytes: positive("snapshotBytes", o.snapshotBytes, 64 * MiB),
    snapshotCatchUpEntries: o.snapshotCatchUpEntries ?? 5_000,
    snapshotCatchUpBytes: positive("snapshotCatchUpBytes", o.snapshotCatchUpBytes, 64 * MiB),
    maxSnapshotFiles: positive("maxSnapshotFiles", o.maxSnapshotFiles, 5),
    maxSizePerMsg,
    maxInflightMsgs,
    maxInflightBytes: Math.max(maxSizePerMsg, positive("maxInflightBytes", o.maxInflightBytes, 16 * MiB)),
    catchUpBytesPerSec: nonNegative("catchUpBytesPerSec", o.catchUpBytesPerSec),
    maxUncommittedEntriesSize: o.maxUncommittedEntriesSize ?? 64 * MiB,
    asyncStorageWrites: o.asyncStorageWrites ?? false,
    requestTimeoutMs: positive("requestTimeoutMs", o.requestTimeoutMs, 5_000),
    maxRequestBytes,
    maxPendingProposals: positive("maxPendingProposals", o.maxPendingProposals, 10_000),
    maxPendingReads: positive("maxPendingReads", o.maxPendingReads, 10_000),
    logger,
    metrics: o.metrics ?? createNodeMetrics(),
    // Failpoints (TSRAFT_FAILPOINTS) wrap the real file system only (either way of calling it);
    // unset, this is `o.fs`, or nodeFileSystem.
    fs: realFs ? fileSystemFromEnv(o.fs ?? nodeFileSystem) : o.fs!,
    snapFs: realFs ? fileSystemFromEnv(nodeFileSystem) : o.fs!,
    walSegmentSize: o.walSegmentSize,
    walPreallocate: o.walPreallocate,
    transport: o.transport ?? {},
    transportFactory: o.transportFactory,
    random: o.random,
  };
}
