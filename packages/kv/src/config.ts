/**
 * The `tsraft-kv` command line: flags, defaults, `--help`, and their translation into a
 * {@link KvServerConfig}. Kept apart from cli.ts so it can be tested without starting anything.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { ClientTlsFiles } from "./client-tls.js";
import { DEFAULT_MAX_REQUEST_BYTES, MAX_KEY_BYTES } from "./http-io.js";
import { DEFAULT_RESTORE_NICE } from "./restore-priority.js";

/** Everything a KV server process needs, as parsed from the command line. */
export interface KvServerConfig {
  id: number;
  /** Every initial member (this node included): id → peer URL. */
  cluster: ReadonlyMap<number, string>;
  clusterId: number;
  /**
   * Where this node's transport listens, when that differs from its URL in `cluster` (behind a proxy
   * or NAT: etcd's --listen-peer-urls vs --initial-advertise-peer-urls); undefined: its `cluster` URL.
   */
  listenPeerUrl: string | undefined;
  /** Join an existing cluster (after `POST /members`) instead of bootstrapping a new one. */
  join: boolean;
  /** Disaster recovery: rewrite the membership to this member alone (force-new-cluster.ts in @tsraft/node). */
  forceNewCluster?: boolean;
  /** HTTP listen address. */
  host: string;
  port: number;
  dataDir: string;
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  /** Pace of snapshot images sent to followers, bytes/s (0: unpaced). */
  snapshotSendBytesPerSec: number;
  /** Pace of this node's own catch-up as a follower far behind (restore and replay), bytes/s (0: unpaced). */
  catchUpBytesPerSec: number;
  /** Nice value (Linux) of the thread that builds a restored database (SqliteStateMachine's `restoreNice`). */
  restoreNice: number;
  logLevel: string;
  maxRequestBytes: number;
  requestTimeoutMs: number;
  tickMs: number;
  electionTick: number;
  heartbeatTick: number;
  peerToken: string | undefined;
  peerTls: { cert: Buffer; key: Buffer; ca: Buffer } | undefined;
  /** Exit when standard input closes (a supervisor's lifeline: its death ends this process too). */
  exitOnStdinClose: boolean;
  /** Serve the client API over HTTPS (client-tls.ts); undefined: plain HTTP. */
  clientTls?: ClientTlsFiles | undefined;
  /** Bearer tokens and roles for the client API (auth.ts); undefined: no auth. */
  authTokenFile?: string | undefined;
  /** With auth on, serve `/metrics` without a token. */
  metricsPublic?: boolean;
  /**
   * How the WAL writes and fsyncs: `blocking` (on the event loop's thread: no thread-pool round
   * trips, the loop waits for the disk), `async` (node:fs/promises, libuv's thread pool) or
   * `hybrid` (writes blocking, fdatasync on the thread pool).
   */
  walIo: "blocking" | "async" | "hybrid";
  /** How WAL segments are preallocated (file-pipeline.ts in @tsraft/node): holes, or written zeros. */
  walPreallocate: "sparse" | "zero-fill";
  /** Revisions of history the leader keeps at least (0: no count-based compaction); history-compactor.ts. */
  historyEntries: number;
  /** Seconds of history the leader keeps (0: no age-based compaction). */
  historyAgeSec: number;
  /** A watch whose client does not read its events for this long is cut off (watch-hub.ts). */
  watchSlowMs: number;
}

export const HELP = `tsraft-kv: a replicated key-value server (Raft + SQLite), raftexample's shape.

Usage:
  tsraft-kv --id 1 --cluster ws://127.0.0.1:12379,ws://127.0.0.1:22379,ws://127.0.0.1:32379 \\
            --port 12380 --data-dir ./data/node-1 [--join] [--snapshot-count 10000]

Cluster:
  --id N                       this node's id (default 1)
  --cluster URLS               comma-separated peer URLs of the members, the i-th being node i; or
                               id=url pairs (1=ws://h:12379,2=ws://h:22379). wss:// needs the TLS flags.
                               (default ws://127.0.0.1:12379: a one-node cluster)
  --join                       join an existing cluster (add this node with POST /members first)
  --force-new-cluster          disaster recovery on a surviving member's data dir: rewrite the
                               membership to this member alone (durably), keep every committed entry;
                               add the others back as new members (POST /members, then --join)
  --cluster-id N               cluster id; default: derived from the lowest id's peer URL, so members
                               listing the same first member agree
  --data-dir DIR               WAL, snapshots and the SQLite database (default ./data/node-<id>)
  --listen-peer-url URL        where this node's transport listens, if not at its --cluster URL (the
                               peers dial the --cluster URL: e.g. a proxy in front of this address)
HTTP:
  --host ADDR                  HTTP listen address (default 127.0.0.1)
  --port N                     HTTP port (default 12380)
  --max-request-bytes N        largest request body (default ${DEFAULT_MAX_REQUEST_BYTES}); keys are at most ${MAX_KEY_BYTES} bytes
  --request-timeout-ms N       how long a write or linearizable read waits before 504 (default 5000)
History and watches:
  --history-entries N          revisions of history kept for watches and reads at a revision; the
                               leader compacts what is older (default 100000; 0: no such limit)
  --history-age S              also compact history older than S seconds (default 0: off)
  --watch-slow-ms N            cut off a watch whose client has not read its events for N ms
                               (default 10000)
Raft:
  --snapshot-count N           applied entries between log compactions (default 10000; also every
                               64 MiB of data)
  --snapshot-catchup-entries N entries kept after a compaction for slow followers (default 5000)
  --catchup-rate N             bytes/s a follower far behind the leader takes in the leader's data
                               at: the snapshot image it restores, the entries after it (at least
                               twice the cluster's commit rate). The cluster's writes need the same
                               disk and CPU. Default 33554432 (32 MiB/s); 0: unpaced
  --snapshot-send-rate N       bytes/s a snapshot image is sent at, to spare the leader's disk and
                               CPU (default: --catchup-rate)
  --restore-nice N             nice value (0-19, Linux) of the thread that builds the database a
                               follower restores from a snapshot image, so that it yields the CPU
                               to the members it shares a machine with (default 19; 0: unchanged)
  --wal-io blocking|async|hybrid
                               WAL writes and fsyncs as blocking calls on the event loop (default:
                               no thread-pool round trips; the loop waits for the disk), on
                               libuv's thread pool (the loop keeps serving meanwhile), or hybrid:
                               writes blocking, fdatasync on the thread pool
  --wal-preallocate sparse|zero-fill
                               WAL segments made with ftruncate (default: no I/O up front) or
                               written with zeros (each fdatasync then commits data only, no block
                               allocation; 64 MiB more written per segment)
  --tick-ms N                  Raft tick interval (default 100)
  --election-tick N            ticks without a leader before an election (default 10)
  --heartbeat-tick N           ticks between heartbeats (default 1)
Client security (the HTTP API; files are re-read on SIGHUP or when they change):
  --cert-file FILE             serve HTTPS with this certificate (PEM)...
  --key-file FILE              ...and its private key (PEM)
  --client-ca-file FILE        require client certificates signed by this CA (PEM)
  --auth-token-file FILE       require "Authorization: Bearer <token>": lines "<token> <role>", roles
                               read, readwrite, admin (members, backup); /health stays open
  --metrics-public             with --auth-token-file, serve /metrics without a token
Peer security (the transport between nodes):
  --peer-token-file FILE       shared secret every member presents (or env TSRAFT_PEER_TOKEN)
  --peer-cert-file FILE        TLS certificate for wss:// peer URLs (PEM)
  --peer-key-file FILE         its private key (PEM)
  --peer-trusted-ca-file FILE  CA that peer certificates must chain to (PEM)
Process:
  --log-level LEVEL            trace, debug, info, warn, error, fatal or silent (default info)
  --exit-on-stdin-close        exit when standard input closes (used by supervisors such as pnpm start)
  --help                       show this help
`;

/** The result of parsing: a config to run, help to print, or a usage error. */
export type ParsedArgs =
  | { readonly kind: "run"; readonly config: KvServerConfig }
  | { readonly kind: "help" }
  | { readonly kind: "error"; readonly message: string };

/**
 * Bytes/s a follower far behind takes in the leader's data at, and the leader sends an image at:
 * the growth bench (16 KiB values, 2 cores) kept the cluster's writes at 1.0-1.2x its median while
 * a 1.25 GB image travelled at 30 MB/s, and lost half of them to an unpaced one (~100 MB/s).
 */
export const DEFAULT_CATCHUP_RATE = 32 * 1024 * 1024;

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** Parses `argv` (without the node and script paths); never throws, never exits. */
export function parseCliArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  try {
    return parse(argv, env);
  } catch (err) {
    return { kind: "error", message: (err as Error).message };
  }
}

function parse(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedArgs {
  const str = { type: "string" } as const;
  const { values: v, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      id: str,
      cluster: str,
      join: { type: "boolean" },
      "force-new-cluster": { type: "boolean" },
      "cluster-id": str,
      "data-dir": str,
      "listen-peer-url": str,
      host: str,
      port: str,
      "max-request-bytes": str,
      "request-timeout-ms": str,
      "snapshot-count": str,
      "snapshot-catchup-entries": str,
      "snapshot-send-rate": str,
      "catchup-rate": str,
      "restore-nice": str,
      "tick-ms": str,
      "election-tick": str,
      "heartbeat-tick": str,
      "peer-token-file": str,
      "peer-cert-file": str,
      "peer-key-file": str,
      "peer-trusted-ca-file": str,
      "log-level": str,
      "wal-io": str,
      "wal-preallocate": str,
      "history-entries": str,
      "history-age": str,
      "watch-slow-ms": str,
      "exit-on-stdin-close": { type: "boolean" },
      "cert-file": str,
      "key-file": str,
      "client-ca-file": str,
      "auth-token-file": str,
      "metrics-public": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (v.help) return { kind: "help" };
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}`);
  const id = int("--id", v.id ?? "1", 1);
  const cluster = parseCluster(v.cluster ?? "ws://127.0.0.1:12379");
  if (!cluster.has(id)) throw new Error(`--id ${id} is not in --cluster`);
  const listenPeerUrl = v["listen-peer-url"];
  if (listenPeerUrl !== undefined) {
    const ok = URL.canParse(listenPeerUrl) && /^wss?:$/.test(new URL(listenPeerUrl).protocol);
    if (!ok || new URL(listenPeerUrl).port === "") {
      throw new Error(`--listen-peer-url: ${listenPeerUrl} must be ws://host:port or wss://host:port`);
    }
  }
  const logLevel = v["log-level"] ?? "info";
  const catchUpRate = v["catchup-rate"] ?? String(DEFAULT_CATCHUP_RATE);
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  const tlsFiles = [v["peer-cert-file"], v["peer-key-file"], v["peer-trusted-ca-file"]];
  const someTls = tlsFiles.some((f) => f !== undefined);
  if (someTls && tlsFiles.some((f) => f === undefined)) {
    throw new Error("--peer-cert-file, --peer-key-file and --peer-trusted-ca-file go together");
  }
  const secure = [...cluster.values()].map((u) => u.startsWith("wss:"));
  if (secure.includes(true) !== someTls || (someTls && secure.includes(false))) {
    throw new Error("use wss:// peer URLs exactly when the --peer-*-file TLS flags are given");
  }
  const certFile = v["cert-file"];
  const keyFile = v["key-file"];
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new Error("--cert-file and --key-file go together");
  if (v["client-ca-file"] !== undefined && certFile === undefined) {
    throw new Error("--client-ca-file needs --cert-file and --key-file (client certificates need TLS)");
  }
  if (v["metrics-public"] && v["auth-token-file"] === undefined) {
    throw new Error("--metrics-public only makes sense with --auth-token-file");
  }
  const walIo = v["wal-io"] ?? "blocking";
  if (walIo !== "blocking" && walIo !== "async" && walIo !== "hybrid") {
    throw new Error("--wal-io must be blocking, async or hybrid");
  }
  const walPreallocate = v["wal-preallocate"] ?? "sparse";
  if (walPreallocate !== "sparse" && walPreallocate !== "zero-fill") {
    throw new Error("--wal-preallocate must be sparse or zero-fill");
  }
  const tokenFile = v["peer-token-file"];
  const peerToken = tokenFile !== undefined ? readFileSync(tokenFile, "utf8").trim() : env.TSRAFT_PEER_TOKEN;
  const config: KvServerConfig = {
    id,
    cluster,
    clusterId:
      v["cluster-id"] !== undefined ? int("--cluster-id", v["cluster-id"], 1) : deriveClusterId(cluster),
    listenPeerUrl,
    join: v.join ?? false,
    forceNewCluster: v["force-new-cluster"] ?? false,
    host: v.host ?? "127.0.0.1",
    port: int("--port", v.port ?? "12380", 0, 65535),
    dataDir: v["data-dir"] ?? `./data/node-${id}`,
    snapshotCount: int("--snapshot-count", v["snapshot-count"] ?? "10000", 1),
    snapshotCatchUpEntries: int("--snapshot-catchup-entries", v["snapshot-catchup-entries"] ?? "5000", 0),
    snapshotSendBytesPerSec: int("--snapshot-send-rate", v["snapshot-send-rate"] ?? catchUpRate, 0),
    catchUpBytesPerSec: int("--catchup-rate", catchUpRate, 0),
    restoreNice: int("--restore-nice", v["restore-nice"] ?? String(DEFAULT_RESTORE_NICE), 0, 19),
    logLevel,
    maxRequestBytes: int(
      "--max-request-bytes",
      v["max-request-bytes"] ?? String(DEFAULT_MAX_REQUEST_BYTES),
      1,
    ),
    requestTimeoutMs: int("--request-timeout-ms", v["request-timeout-ms"] ?? "5000", 1),
    tickMs: int("--tick-ms", v["tick-ms"] ?? "100", 1),
    electionTick: int("--election-tick", v["election-tick"] ?? "10", 2),
    heartbeatTick: int("--heartbeat-tick", v["heartbeat-tick"] ?? "1", 1),
    peerToken: peerToken === "" ? undefined : peerToken,
    peerTls: someTls
      ? {
          cert: readFileSync(v["peer-cert-file"]!),
          key: readFileSync(v["peer-key-file"]!),
          ca: readFileSync(v["peer-trusted-ca-file"]!),
        }
      : undefined,
    exitOnStdinClose: v["exit-on-stdin-close"] ?? false,
    clientTls:
      certFile === undefined ? undefined : { certFile, keyFile: keyFile!, caFile: v["client-ca-file"] },
    authTokenFile: v["auth-token-file"],
    metricsPublic: v["metrics-public"] ?? false,
    walIo,
    walPreallocate,
    historyEntries: int("--history-entries", v["history-entries"] ?? "100000", 0),
    historyAgeSec: int("--history-age", v["history-age"] ?? "0", 0),
    watchSlowMs: int("--watch-slow-ms", v["watch-slow-ms"] ?? "10000", 1),
  };
  if (config.join && config.forceNewCluster)
    throw new Error("--force-new-cluster and --join exclude each other");
  if (config.heartbeatTick >= config.electionTick)
    throw new Error("--heartbeat-tick must be below --election-tick");
  return { kind: "run", config };
}

function int(flag: string, s: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^[0-9]+$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${flag} must be an integer in [${min}, ${max}], got ${JSON.stringify(s)}`);
  }
  return n;
}

/**
 * Parses `--cluster`: `url,url,...` (ids 1..n in order, raftexample's form) or `id=url,...`.
 * URLs must be ws:// or wss:// with a port, and distinct.
 */
export function parseCluster(s: string): Map<number, string> {
  const out = new Map<number, string>();
  const items = s.split(",").filter((x) => x.trim() !== "");
  if (items.length === 0) throw new Error("--cluster is empty");
  items.forEach((item, i) => {
    const eq = item.indexOf("=");
    const id = eq > 0 ? int("--cluster id", item.slice(0, eq).trim(), 1) : i + 1;
    const url = (eq > 0 ? item.slice(eq + 1) : item).trim();
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`--cluster: ${JSON.stringify(url)} is not a URL`);
    }
    if ((u.protocol !== "ws:" && u.protocol !== "wss:") || u.port === "") {
      throw new Error(`--cluster: ${url} must be ws://host:port or wss://host:port`);
    }
    if (out.has(id)) throw new Error(`--cluster: id ${id} appears twice`);
    if ([...out.values()].includes(url)) throw new Error(`--cluster: ${url} appears twice`);
    out.set(id, url);
  });
  return out;
}

/**
 * The default cluster id: a 48-bit hash of the lowest id's peer URL. Not of the whole list, because
 * a node started with `--join` lists one member more than the nodes that bootstrapped the cluster;
 * they all agree as long as they list the same first member.
 */
export function deriveClusterId(cluster: ReadonlyMap<number, string>): number {
  const first = Math.min(...cluster.keys());
  const digest = createHash("sha256").update(cluster.get(first)!).digest();
  return digest.readUIntBE(0, 6) || 1;
}
