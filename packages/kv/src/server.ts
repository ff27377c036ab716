/**
 * One KV server process: the SQLite state machine, the RaftNode replicating it, and the HTTP API in
 * front, started and stopped together.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  blockingNodeFileSystem,
  createNodeFileSystem,
  createNodeMetrics,
  DataDirLock,
  dataDirHasLog,
  type FileSystem,
  nodeFileSystem,
  RaftNode,
} from "@tsraft/node";
import { type Logger, pino } from "pino";
import { collectDefaultMetrics, Gauge } from "prom-client";
import { backupRoute } from "./backup-route.js";
import { openClientSecurity } from "./client-security.js";
import type { KvServerConfig } from "./config.js";
import { startHistoryCompactor } from "./history-compactor.js";
import { closeKvWatches, createKvHttpServer } from "./http.js";
import { DEFAULT_MAX_IMAGE_RECORD_BYTES } from "./image-format.js";
import { OperatorError } from "./operator-error.js";
import { type ApplyResult, SqliteStateMachine } from "./sqlite-state-machine.js";

/** Room in a proposal beyond the HTTP body: key (≤ 4 KiB), `prev` (≤ the 16 KiB header limit), framing. */
const PROPOSAL_OVERHEAD = 64 * 1024;
/** The transport's default `maxPayload` (8 MiB), raised when the request limit needs more. */
const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
/** How long `stop` lets in-flight HTTP requests finish before cutting their connections. */
const HTTP_GRACE_MS = 2000;

/** A running KV server. */
export interface KvServer {
  readonly node: RaftNode<ApplyResult>;
  readonly stateMachine: SqliteStateMachine;
  readonly http: Server;
  /** The HTTP base URL, e.g. http://127.0.0.1:12380. */
  readonly url: string;
  readonly logger: Logger;
  /** Stops HTTP (letting in-flight requests finish briefly), then the node, then closes SQLite. */
  stop(): Promise<void>;
  /** Re-reads the client certificate files and the token file (the CLI calls it on SIGHUP). */
  reload(why: string): void;
}

/**
 * Starts a KV server from `config`: opens the state machine under `<dataDir>/kv`, starts the node
 * (bootstrapping, restarting from the WAL, or joining), then listens for HTTP. Throws if any of
 * them fails, after undoing what was started.
 */
export async function startKvServer(config: KvServerConfig, logger?: Logger): Promise<KvServer> {
  // The node's own lines carry `node` (its id) through the node's child logger; ours too.
  const root = logger ?? pino({ level: config.logLevel, base: null });
  const log = root.child({ node: config.id });
  const metrics = createNodeMetrics();
  collectDefaultMetrics({ register: metrics.registry });
  let node: RaftNode<ApplyResult> | undefined;
  // Disaster recovery needs a surviving member's log: refused before anything is created.
  if (config.forceNewCluster === true && !(await dataDirHasLog(config.dataDir))) {
    throw new OperatorError(
      `--force-new-cluster needs the data directory of a surviving member; ${config.dataDir} holds no log`,
    );
  }
  // Client security (client-tls.ts, auth.ts): read first (a bad file fails the start before anything
  // is opened), re-read on reload().
  const security = openClientSecurity(config, log);
  // One process per data directory: locked before the database in it is opened, released after it
  // is closed (data-dir-lock.ts in @tsraft/node).
  const lock = orUndo(
    () => security.close(),
    () => DataDirLock.acquire(config.dataDir, log),
  );
  const stateMachine = orUndo(
    () => {
      lock.release();
      security.close();
    },
    () =>
      SqliteStateMachine.open(join(config.dataDir, "kv"), {
        logger: log.child({ component: "kv" }),
        // A record of an image is one key and value: as large as a request may make them.
        maxImageRecordBytes: Math.max(
          DEFAULT_MAX_IMAGE_RECORD_BYTES,
          config.maxRequestBytes + PROPOSAL_OVERHEAD,
        ),
        restoreBytesPerSec: config.catchUpBytesPerSec,
        restoreNice: config.restoreNice,
        // A failed background commit: the database no longer holds what reads would be served from.
        onFailure: (err) => {
          log.fatal({ err }, "the state machine failed: stopping the node");
          void node?.stop();
        },
      }),
  );
  // Gauges read from the store when scraped.
  for (const [name, help, read] of [
    ["tsraft_kv_keys", "Keys in the store.", () => stateMachine.count()],
    [
      "tsraft_kv_revision",
      "Writes applied to the store (puts, and deletes of present keys).",
      () => stateMachine.revision(),
    ],
  ] as const) {
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      collect() {
        this.set(read());
      },
    });
  }
  try {
    node = await RaftNode.start({
      id: config.id,
      clusterId: config.clusterId,
      peers: config.cluster,
      join: config.join,
      forceNewCluster: config.forceNewCluster ?? false,
      listen: config.listenPeerUrl ?? config.cluster.get(config.id)!,
      dataDir: config.dataDir,
      dataDirLock: lock,
      // Blocking by default: see packages/kv/README.md, "WAL I/O".
      fs: walFileSystem(config.walIo),
      walPreallocate: config.walPreallocate,
      stateMachine,
      tickMs: config.tickMs,
      electionTick: config.electionTick,
      heartbeatTick: config.heartbeatTick,
      preVote: true,
      checkQuorum: true,
      snapshotCount: config.snapshotCount,
      snapshotCatchUpEntries: config.snapshotCatchUpEntries,
      catchUpBytesPerSec: config.catchUpBytesPerSec,
      requestTimeoutMs: config.requestTimeoutMs,
      // The proposal is the body plus the key, the CAS value and a few bytes of framing.
      maxRequestBytes: config.maxRequestBytes + PROPOSAL_OVERHEAD,
      logger: root,
      metrics,
      transport: {
        maxPayload: Math.max(DEFAULT_MAX_PAYLOAD, config.maxRequestBytes + PROPOSAL_OVERHEAD + 1024 * 1024),
        snapshotSendBytesPerSec: config.snapshotSendBytesPerSec,
        ...(config.peerToken !== undefined ? { token: config.peerToken } : {}),
        ...(config.peerTls !== undefined ? { tls: config.peerTls } : {}),
      },
    });
  } catch (err) {
    stateMachine.close();
    lock.release();
    security.close();
    throw err;
  }
  const http = createKvHttpServer({
    node,
    store: stateMachine,
    logger: log.child({ component: "http" }),
    registry: metrics.registry,
    maxRequestBytes: config.maxRequestBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    watch: { slowWatcherMs: config.watchSlowMs },
    ...security.httpOptions,
    routes: [backupRoute(node, config.requestTimeoutMs, log.child({ component: "backup" }))],
  });
  const compactor = startHistoryCompactor({
    node,
    store: stateMachine,
    historyEntries: config.historyEntries,
    historyAgeMs: config.historyAgeSec * 1000,
    logger: log.child({ component: "compactor" }),
  });
  security.attach(http);
  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(config.port, config.host, () => {
        http.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    compactor.stop();
    closeKvWatches(http);
    await node.stop();
    stateMachine.close();
    lock.release();
    security.close();
    throw err;
  }
  const addr = http.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `${config.clientTls === undefined ? "http" : "https"}://${host}:${addr.port}`;
  log.info({ url, peerUrl: config.cluster.get(config.id), dataDir: config.dataDir }, "serving the KV API");

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      compactor.stop();
      closeKvWatches(http);
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const grace = setTimeout(() => http.closeAllConnections(), HTTP_GRACE_MS);
      await closed;
      clearTimeout(grace);
      security.close();
      await node.stop();
      stateMachine.close();
      lock.release();
      log.info("kv server stopped");
    })();
    return stopping;
  };
  return { node, stateMachine, http, url, logger: log, stop, reload: (why) => security.reload(why) };
}

/** Runs `open`; if it throws, runs `undo` (releasing what was taken before) and rethrows. */
function orUndo<T>(undo: () => void, open: () => T): T {
  try {
    return open();
  } catch (err) {
    undo();
    throw err;
  }
}

/** The WAL's file system for `--wal-io` (packages/kv/README.md, "WAL I/O"). */
function walFileSystem(mode: KvServerConfig["walIo"]): FileSystem {
  if (mode === "async") return nodeFileSystem;
  if (mode === "hybrid") return createNodeFileSystem({ blocking: "writes" });
  return blockingNodeFileSystem;
}
