/**
 * The cluster bench's cases for issue 16's API, on the same three `tsraft-kv` processes (fsync on)
 * as bench/cluster.ts:
 *
 * - `watch-100`: 100 watchers (`GET /watch?prefix=bench/`, Server-Sent Events), spread over the
 *   three nodes, while a paced writer offers 1,000 PUTs/s (128 B) to the leader for D seconds
 *   (`--duration`). Figures: events delivered per second summed over the watchers (from the first
 *   write to the last watcher's last event), the writes/s achieved, events missed (delivered minus
 *   100 × acknowledged writes: must be 0), and the delay from a PUT's send to its event's arrival on
 *   10 sampled watchers (p50/p99).
 * - `txn-c16`: 16 closed-loop clients, each running transactions on keys of its own: compare the
 *   version of its key with what it wrote last, then put that key and a second one (a CAS that
 *   always succeeds, two writes per entry): transactions/s and latency, beside `put-c16`'s PUTs;
 *   then, when etcd is installed, the same transactions against a 3-member etcd through its v3
 *   JSON gateway (`POST /v3/kv/txn`) in the same run, and the ratio.
 *
 * The watchers and the writer share this process, so the figures are a floor: parsing 100,000
 * events/s here competes with the servers for the same cores.
 */
import { Agent, type IncomingMessage, request } from "node:http";
import { httpRequest, parseJson } from "@tsraft/testkit";
import { type Cluster, findEtcd, startEtcd, startTsraft } from "./cluster-procs.js";
import { benchDir } from "./disk.js";
import { type BenchCase, type BenchResult, latencyOf, measure, result, round3 } from "./lib.js";
import { closedLoop, keyOf, type RequestSpec, sendSpec, uniqueValue } from "./loadgen.js";

/** The cases, listed by bench/cluster.ts. */
export const WATCH_TXN_CASES: readonly BenchCase[] = [
  {
    id: "watch-100",
    params: {
      op: "watch events delivered (SSE)",
      watchers: 100,
      offeredWritesPerSec: 1000,
      servers: 3,
      fsync: true,
    },
  },
  {
    id: "txn-c16",
    params: {
      op: "POST /txn: compare version, put 2 keys (closed loop)",
      clients: 16,
      servers: 3,
      fsync: true,
    },
  },
];

const WATCHERS = 100;
const SAMPLED = 10;
const OFFERED_PER_SEC = 1000;
const MAX_IN_FLIGHT = 256;

/** One watcher: a streaming GET, counting `put` events; a sampled one also notes when each revision arrived. */
class Watcher {
  events = 0;
  lastRevision = 0;
  lastAt = 0;
  created = false;
  /** Arrival time of each revision's last event (sampled watchers only). */
  readonly arrivals = new Map<number, number>();
  private rest = "";
  private res: IncomingMessage | undefined;

  constructor(
    port: number,
    private readonly sampled: boolean,
  ) {
    const req = request({ host: "127.0.0.1", port, path: "/watch?prefix=bench%2F", method: "GET" }, (res) => {
      this.res = res;
      res.setEncoding("utf8");
      res.on("data", (text: string) => this.feed(text));
      res.on("error", () => {});
    });
    req.on("error", () => {});
    req.end();
  }

  private feed(text: string): void {
    const lines = (this.rest + text).split("\n");
    this.rest = lines.pop()!;
    for (const line of lines) {
      if (line === "event: put") this.events++;
      else if (line === "event: created") this.created = true;
      else if (line.startsWith("id: ")) {
        const now = performance.now();
        this.lastRevision = Number(line.slice(4));
        this.lastAt = now;
        if (this.sampled) this.arrivals.set(this.lastRevision, now);
      }
    }
  }

  close(): void {
    this.res?.destroy();
  }
}

async function waitUntil(what: string, f: () => boolean, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!f()) {
    if (performance.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs case `caseId` (one of {@link WATCH_TXN_CASES}). */
export async function runWatchTxnCase(
  caseId: string,
  opts: { dir?: string | undefined; durationSec?: number | undefined },
): Promise<BenchResult> {
  const c = WATCH_TXN_CASES.find((x) => x.id === caseId)!;
  const durationMs = (opts.durationSec ?? 10) * 1000;
  if (caseId === "txn-c16") return txnCase(c, durationMs, opts);
  const dir = await benchDir("tsraft-bench-cluster-", opts.dir);
  try {
    const cluster = await startTsraft(dir.path);
    try {
      const ports = cluster.members.map((m) => m.clientPort);
      return await watchCase(c, cluster.leaderPort, ports, durationMs, cluster.cpuMs, dir.fsType);
    } finally {
      await cluster.stop("SIGKILL");
    }
  } finally {
    await dir.cleanup();
  }
}

/** Starts a fresh cluster in a fresh directory, runs `f` on it, stops it and removes the directory. */
async function withCluster<T>(
  start: (dir: string) => Promise<Cluster>,
  base: string | undefined,
  f: (cluster: Cluster, fsType: string) => Promise<T>,
): Promise<T> {
  const dir = await benchDir("tsraft-bench-cluster-", base);
  try {
    const cluster = await start(dir.path);
    try {
      return await f(cluster, dir.fsType);
    } finally {
      await cluster.stop("SIGKILL");
    }
  } finally {
    await dir.cleanup();
  }
}

async function watchCase(
  c: BenchCase,
  leaderPort: number,
  ports: readonly number[],
  durationMs: number,
  cpuMs: () => number,
  fsType: string,
): Promise<BenchResult> {
  const watchers = Array.from(
    { length: WATCHERS },
    (_, i) => new Watcher(ports[i % ports.length]!, i < SAMPLED),
  );
  try {
    await waitUntil("every watcher's created event", () => watchers.every((w) => w.created), 30_000);
    const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
    const sentAt = new Map<number, number>();
    // The paced writer's counts: answered with a revision, failed, in flight, and not sent (cap).
    const n = { acked: 0, errors: 0, inFlight: 0, skipped: 0 };
    let lastRevision = 0;
    let t0 = 0;
    const cpu0 = cpuMs();
    const m = await measure(async () => {
      t0 = performance.now();
      let seq = 0;
      const pending = new Set<Promise<void>>();
      // Paced: each 10 ms tick sends what the offered rate owes so far (open loop, capped in flight).
      while (performance.now() - t0 < durationMs) {
        const owed = Math.floor(((performance.now() - t0) / 1000) * OFFERED_PER_SEC) - seq - n.skipped;
        for (let k = 0; k < owed; k++) {
          if (n.inFlight >= MAX_IN_FLIGHT) {
            n.skipped++;
            continue;
          }
          const s = seq++;
          const start = performance.now();
          n.inFlight++;
          const p = putWithRevision(agent, leaderPort, keyOf(s % 16, s), uniqueValue(s % 16, s)).then(
            (rev) => {
              n.inFlight--;
              if (rev === undefined) n.errors++;
              else {
                n.acked++;
                sentAt.set(rev, start);
                lastRevision = Math.max(lastRevision, rev);
              }
            },
          );
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(pending);
      await waitUntil(
        "every watcher to receive the last write",
        () => watchers.every((w) => w.lastRevision >= lastRevision),
        60_000,
      );
    });
    const serverCpuMs = cpuMs() - cpu0;
    agent.destroy();
    const delivered = watchers.reduce((sum, w) => sum + w.events, 0);
    const lastAt = Math.max(...watchers.map((w) => w.lastAt));
    const wallMs = lastAt - t0;
    const delays: number[] = [];
    for (const w of watchers.slice(0, SAMPLED))
      for (const [rev, at] of w.arrivals) {
        const s = sentAt.get(rev);
        if (s !== undefined) delays.push(at - s);
      }
    const figures = {
      eventsPerSec: Math.round(delivered / (wallMs / 1000)),
      writesPerSec: Math.round(n.acked / (durationMs / 1000)),
      missedEvents: WATCHERS * n.acked - delivered,
      putErrors: n.errors,
      notSentOverInFlightCap: n.skipped,
      serverCpuUsPerEvent: round3((serverCpuMs * 1000) / delivered),
    };
    return result(
      "cluster",
      { id: c.id, params: { ...c.params, durationSec: durationMs / 1000 } },
      delivered,
      { ...m, wallMs, cpuMs: serverCpuMs },
      {
        counters: { watchers: WATCHERS, servers: 3 },
        figures,
        latency: latencyOf(
          Float64Array.from(delays),
          "ms",
          "a PUT sent to its event received (10 watchers)",
          1,
          true,
        ),
        notes: [
          `data on ${fsType}; writer paced at ${OFFERED_PER_SEC}/s for ${durationMs / 1000} s to the leader; watchers on the 3 nodes in turn`,
          "ops = events delivered to all watchers; cpuOpsPerSec: events per CPU second of the three tsraft-kv processes",
        ],
      },
    );
  } finally {
    for (const w of watchers) w.close();
  }
}

/** A PUT; resolves with its revision (`X-Revision`), or undefined if it failed. */
async function putWithRevision(
  agent: Agent,
  port: number,
  key: string,
  value: Buffer,
): Promise<number | undefined> {
  const r = await httpRequest({
    agent,
    port,
    method: "PUT",
    path: `/kv/${encodeURIComponent(key)}`,
    body: value,
    timeoutMs: undefined,
    discardBody: true,
  });
  return r.kind === "answer" && r.status === 204 ? Number(r.headers["x-revision"]) : undefined;
}

/** How a system spells the case's transaction, and reads back a key's version. */
interface TxnShape {
  txn(key: string, value: Buffer, version: number): RequestSpec;
  version(key: string): RequestSpec;
  versionOf(answer: { headers: Record<string, unknown>; json: unknown }): number;
}

const b64 = (x: string | Buffer) => Buffer.from(x).toString("base64");
const json = (path: string, body: unknown): RequestSpec => ({
  method: "POST",
  path,
  body: Buffer.from(JSON.stringify(body)),
  contentType: "application/json",
});

const TSRAFT_TXN: TxnShape = {
  txn: (key, value, version) =>
    json("/txn", {
      compare: [{ key, target: "version", value: version }],
      success: [
        { op: "put", key, valueBase64: b64(value) },
        { op: "put", key: `${key}/last`, valueBase64: b64(value) },
      ],
    }),
  version: (key) => ({
    method: "GET",
    path: `/kv/${encodeURIComponent(key)}`,
    body: undefined,
    contentType: "text/plain",
  }),
  versionOf: (a) => Number(a.headers["x-version"] ?? 0),
};

/** etcd v3's JSON gateway: `POST /v3/kv/txn`, the same compare and puts; versions from `POST /v3/kv/range`. */
const ETCD_TXN: TxnShape = {
  txn: (key, value, version) =>
    json("/v3/kv/txn", {
      compare: [{ key: b64(key), target: "VERSION", result: "EQUAL", version: String(version) }],
      success: [
        { request_put: { key: b64(key), value: b64(value) } },
        { request_put: { key: b64(`${key}/last`), value: b64(value) } },
      ],
    }),
  version: (key) => json("/v3/kv/range", { key: b64(key) }),
  versionOf: (a) => Number((a.json as { kvs?: { version?: string }[] }).kvs?.[0]?.version ?? 0),
};

/** One system's transactions: a 1 s warm-up, the timed phase, then every client's key version read back. */
async function txnPhase(port: number, shape: TxnShape, durationMs: number, cpuMs: () => number) {
  const clients = 16;
  const key = (client: number) => `bench/txn/c${client}`;
  // Warm-up on other keys (their versions are not counted).
  await closedLoop({
    host: "127.0.0.1",
    port,
    clients,
    durationMs: 1000,
    make: (cl, seq) => shape.txn(key(cl + 1000), uniqueValue(cl, seq), seq),
    okStatus: 200,
  });
  const cpu0 = cpuMs();
  let phase: Awaited<ReturnType<typeof closedLoop>> | undefined;
  const m = await measure(async () => {
    phase = await closedLoop({
      host: "127.0.0.1",
      port,
      clients,
      durationMs,
      make: (cl, seq) => shape.txn(key(cl), uniqueValue(cl, seq), seq),
      okStatus: 200,
    });
  });
  const serverCpuMs = cpuMs() - cpu0;
  // A transaction succeeded iff its compare held: each client's key is at version = its successes.
  let succeeded = 0;
  for (let cl = 0; cl < clients; cl++) succeeded += shape.versionOf(await ask(port, shape.version(key(cl))));
  return { phase: phase!, m, serverCpuMs, succeeded, clients };
}

/** One request; its headers and JSON body (rejects on a connection error). */
async function ask(
  port: number,
  spec: RequestSpec,
): Promise<{ headers: Record<string, unknown>; json: unknown }> {
  const r = await sendSpec(port, spec);
  return { headers: r.headers, json: parseJson(r.body) };
}

async function txnCase(
  c: BenchCase,
  durationMs: number,
  opts: { dir?: string | undefined },
): Promise<BenchResult> {
  // tsraft-kv, then (its cluster stopped) etcd, each on a fresh cluster.
  let fsType = "";
  const ours = await withCluster(startTsraft, opts.dir, (cluster, fs) => {
    fsType = fs;
    return txnPhase(cluster.leaderPort, TSRAFT_TXN, durationMs, cluster.cpuMs);
  });
  const p = ours.phase;
  const txnsPerSec = ours.succeeded / (p.wallMs / 1000);
  const figures: Record<string, number> = {
    txnsAnswered: p.ok,
    txnsSucceeded: ours.succeeded,
    errors: p.errors,
    writesPerSec: Math.round((2 * ours.succeeded) / (p.wallMs / 1000)),
    serverCpuUsPerTxn: round3((ours.serverCpuMs * 1000) / Math.max(1, ours.succeeded)),
  };
  const notes = [
    `data on ${fsType}; ${durationMs / 1000} s to the leader; ops = transactions that succeeded (each client's key version at the end)`,
    ...(p.errorSamples.length > 0 ? [`errors: ${p.errorSamples.join("; ")}`] : []),
  ];
  const etcd = findEtcd();
  if (etcd === undefined) notes.push("etcd not installed: comparison skipped");
  else {
    const theirs = await withCluster(
      (d) => startEtcd(etcd.bin, d),
      opts.dir,
      (cluster) => txnPhase(cluster.leaderPort, ETCD_TXN, durationMs, cluster.cpuMs),
    );
    const theirLatency = latencyOf(theirs.phase.latenciesMs, "ms", "etcd txn", 1, true);
    const theirPerSec = theirs.succeeded / (theirs.phase.wallMs / 1000);
    Object.assign(figures, {
      etcdTxnsPerSec: Math.round(theirPerSec),
      etcdTxnsSucceeded: theirs.succeeded,
      etcdErrors: theirs.phase.errors,
      etcdP50Ms: theirLatency.p50,
      etcdP99Ms: theirLatency.p99,
      ratio: round3(txnsPerSec / theirPerSec),
    });
    notes.push(`etcd ${etcd.version} via its v3 JSON gateway (POST /v3/kv/txn), a fresh cluster after ours`);
  }
  return result(
    "cluster",
    { id: c.id, params: { ...c.params, durationSec: durationMs / 1000 } },
    ours.succeeded,
    { ...ours.m, wallMs: p.wallMs, cpuMs: ours.serverCpuMs },
    {
      counters: { clients: ours.clients, servers: 3 },
      figures,
      latency: latencyOf(p.latenciesMs, "ms", "one transaction, sent to answered", 1, true),
      notes,
    },
  );
}
