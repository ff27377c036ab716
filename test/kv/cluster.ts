/**
 * Multi-process test helpers: real `tsraft-kv` processes (packages/kv/dist/cli.js, built by
 * `pnpm test`'s `tsc -b`; started by the test kit's launcher) on free ports of 127.0.0.1 with
 * temporary data directories, and requests through the test kit's HTTP client, retrying what a real
 * client would retry.
 *
 * Every process is started with `--exit-on-stdin-close`, so even if the test runner dies the nodes
 * follow it; `Cluster.destroy` kills whatever is left and removes the data.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  errorCodeOf,
  freePorts,
  httpRequest,
  KV_CLI,
  type KvStatus,
  kvCliMissing,
  parseJson,
  type ServerProcess,
  startKvNode,
} from "@tsraft/testkit";
import { afterAll, afterEach, beforeAll } from "vitest";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CLI = KV_CLI;
/** Why the cluster tests would not run (the CLI is not built); undefined when they can. */
export const CLI_MISSING = kvCliMissing();

/** Raft timing for tests: 50 ms ticks, elections after 1-2 s, heartbeats every 50 ms. */
export const FAST_RAFT = ["--tick-ms", "50", "--election-tick", "20", "--heartbeat-tick", "1"];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until it returns a truthy value (returned), failing after `ms` with `what`. */
export async function waitFor<T>(
  what: string,
  cond: () => Promise<T | undefined | false>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
    await sleep(100);
  }
}

/**
 * GET `path` from the node at `url` (its `http://127.0.0.1:<port>` base) and parse the JSON; throws
 * unless it answers 200 within `timeoutMs`.
 */
export async function getJson<T>(url: string, path: string, timeoutMs = 2000): Promise<T> {
  const r = await httpRequest({ method: "GET", port: portOf(url), path, timeoutMs });
  if (r.kind === "failure") throw new Error(`${path}: ${r.error}`);
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
  return parseJson(r.body) as T;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** One `tsraft-kv` process (restartable with the same identity and data). */
export class KvProcess {
  private server: ServerProcess | undefined;
  /** The last lines it printed (stdout and stderr, across restarts), for failure reports. */
  readonly output: string[] = [];

  constructor(
    readonly id: number,
    readonly peerUrl: string,
    readonly httpPort: number,
    readonly dataDir: string,
    /** Every argument but --id, --port, --data-dir (i.e. --cluster, --join, tuning). */
    public args: string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /** The current (or last) run's process. */
  get proc(): ChildProcess | undefined {
    return this.server?.child;
  }

  get running(): boolean {
    return this.server?.running ?? false;
  }

  start(): void {
    const spec = { id: this.id, httpPort: this.httpPort, dataDir: this.dataDir, args: this.args };
    this.server = startKvNode(spec, { lines: this.output, keepLines: 300 });
  }

  /** Sends `signal` and waits for the process to exit (SIGKILL after `ms`). */
  async stop(signal: NodeJS.Signals = "SIGTERM", ms = 10_000): Promise<void> {
    await this.server?.stop(signal, ms);
  }

  /** kill -9. */
  kill(): Promise<void> {
    return this.stop("SIGKILL");
  }

  /** The exit code once exited. */
  async exitCode(): Promise<number | null> {
    return this.server === undefined ? null : (await this.server.exited).code;
  }
}

/** The `/status` JSON, as far as the tests read it. */
export type Status = KvStatus;

/** Options of {@link Cluster.start}. */
export interface ClusterOptions {
  size?: number;
  /** Extra flags for every node (e.g. --snapshot-count). */
  args?: string[];
  /** Spare identities (ports, data dirs) to add nodes later. */
  spare?: number;
}

/** A local cluster of `tsraft-kv` processes. */
export class Cluster {
  readonly nodes = new Map<number, KvProcess>();
  private constructor(
    readonly dir: string,
    readonly peerUrls: Map<number, string>,
    readonly httpPorts: Map<number, number>,
    readonly args: string[],
  ) {}

  /** Starts `size` nodes (ids 1..size) bootstrapping one cluster, and waits for a leader. */
  static async start(o: ClusterOptions = {}): Promise<Cluster> {
    const size = o.size ?? 3;
    const total = size + (o.spare ?? 0);
    const ports = await freePorts(total * 2);
    const peerUrls = new Map<number, string>();
    const httpPorts = new Map<number, number>();
    for (let id = 1; id <= total; id++) {
      peerUrls.set(id, `ws://127.0.0.1:${ports[2 * (id - 1)]}`);
      httpPorts.set(id, ports[2 * (id - 1) + 1]!);
    }
    const c = new Cluster(mkdtempSync(join(tmpdir(), "tsraft-kv-cluster-")), peerUrls, httpPorts, [
      ...FAST_RAFT,
      ...(o.args ?? []),
    ]);
    const cluster = [...Array(size).keys()].map((i) => peerUrls.get(i + 1)).join(",");
    for (let id = 1; id <= size; id++) c.add(id, ["--cluster", cluster]).start();
    await c.waitForLeader();
    return c;
  }

  /** Creates (not starts) the process for `id` with `clusterArgs` (--cluster, --join). */
  add(id: number, clusterArgs: string[]): KvProcess {
    const p = new KvProcess(
      id,
      this.peerUrls.get(id)!,
      this.httpPorts.get(id)!,
      join(this.dir, `node-${id}`),
      [...clusterArgs, ...this.args],
    );
    this.nodes.set(id, p);
    return p;
  }

  node(id: number): KvProcess {
    const p = this.nodes.get(id);
    if (p === undefined) throw new Error(`no node ${id}`);
    return p;
  }

  running(): KvProcess[] {
    return [...this.nodes.values()].filter((n) => n.running);
  }

  status(id: number): Promise<Status> {
    return getJson<Status>(this.node(id).url, "/status");
  }

  /** Waits until every running node names the same leader, itself running; returns its id. */
  async waitForLeader(ms = 20_000): Promise<number> {
    return waitFor(
      "a leader known to every running node",
      async () => {
        const nodes = this.running();
        const leads = await Promise.all(nodes.map((n) => this.status(n.id).then((s) => s.lead)));
        const lead = leads[0];
        if (!lead || !leads.every((l) => l === lead) || !this.nodes.get(lead)?.running) return undefined;
        const s = await this.status(lead);
        return s.state === "StateLeader" ? lead : undefined;
      },
      ms,
    );
  }

  /** Waits until node `id` has applied at least `index`. */
  async waitApplied(id: number, index: number, ms = 20_000): Promise<Status> {
    return waitFor(
      `node ${id} to apply ${index}`,
      async () => {
        const s = await this.status(id);
        return s.kv.appliedIndex >= index ? s : undefined;
      },
      ms,
    );
  }

  /** One metric's value from node `id`'s /metrics (0 when absent); `series` as printed, labels included. */
  async metric(id: number, series: string): Promise<number> {
    const r = await httpRequest({
      method: "GET",
      port: this.node(id).httpPort,
      path: "/metrics",
      timeoutMs: 10_000,
    });
    if (r.kind === "failure") throw new Error(`/metrics: ${r.error}`);
    for (const line of r.body.split("\n")) {
      if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
    }
    return 0;
  }

  /** PUT without retries: the HTTP status, or 0 when the request failed (node down, reset). */
  async put(id: number, key: string, value: string, query = ""): Promise<number> {
    const r = await httpRequest({
      method: "PUT",
      port: this.node(id).httpPort,
      path: `/kv/${encodeURIComponent(key)}${query}`,
      body: value,
      timeoutMs: undefined,
    });
    return r.kind === "answer" ? r.status : 0;
  }

  /**
   * PUT that retries what is safe to retry on the same node, until `ms`: a connection that was
   * refused (nothing was sent) and the 503s that mean nothing was proposed (NoLeader,
   * ProposalDropped, TooManyRequests). A 503 Stopped, a 504 or a reset may still apply, so they are
   * returned, never retried: retrying them could apply the write twice. Returns the final status.
   */
  async putRetry(id: number, key: string, value: string, ms = 15_000): Promise<number> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await putOnce(this.node(id).httpPort, `/kv/${encodeURIComponent(key)}`, value);
      if (!r.retryable || Date.now() > deadline) return r.status;
      await sleep(100);
    }
  }

  /** GET: [status, body] ([0, ""] when the request failed). */
  async get(id: number, key: string, consistency?: "serializable"): Promise<[number, string]> {
    const q = consistency ? `?consistency=${consistency}` : "";
    const path = `/kv/${encodeURIComponent(key)}${q}`;
    const r = await httpRequest({ method: "GET", port: this.node(id).httpPort, path, timeoutMs: 10_000 });
    return r.kind === "answer" ? [r.status, r.body] : [0, ""];
  }

  /** Kills every process and removes the data directory. */
  async destroy(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Every node's recent output, for a failing test's report. */
  dump(): string {
    return [...this.nodes.values()]
      .map(
        (n) =>
          `---- node ${n.id} (${n.running ? "running" : "stopped"}) ----\n${n.output.slice(-60).join("\n")}`,
      )
      .join("\n");
  }
}

/** Error codes of a 503 that promise the request was not applied and never will be (the README's status codes). */
const NOT_PROPOSED = new Set(["NoLeader", "ProposalDropped", "TooManyRequests", "Superseded"]);

/** One PUT: its status (0 if no answer) and whether retrying it cannot apply it twice. */
async function putOnce(
  port: number,
  path: string,
  value: string,
): Promise<{ status: number; retryable: boolean }> {
  const r = await httpRequest({ method: "PUT", port, path, body: value, timeoutMs: undefined });
  // Only a refused connection is known to have sent nothing.
  if (r.kind === "failure") return { status: 0, retryable: r.refused };
  if (r.status !== 503) return { status: r.status, retryable: false };
  return { status: 503, retryable: NOT_PROPOSED.has(errorCodeOf(r.body) ?? "") };
}

/**
 * For a file whose tests each start their own cluster: returns `start`, which starts one
 * ({@link Cluster.start}'s options) and keeps it; after each test it is destroyed, its nodes' recent
 * output printed first if the test failed.
 */
export function clusterPerTest(): (o?: ClusterOptions) => Promise<Cluster> {
  let current: Cluster | undefined;
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail" && current) console.log(current.dump());
    await current?.destroy();
    current = undefined;
  });
  return async (o = {}) => {
    current = await Cluster.start(o);
    return current;
  };
}

/**
 * For the tests of a `describe` that share one cluster: starts it before them and hands it to
 * `started`, destroys it after them.
 */
export function sharedCluster(o: ClusterOptions, started: (c: Cluster) => void): void {
  let c: Cluster | undefined;
  beforeAll(async () => {
    c = await Cluster.start(o);
    started(c);
  });
  afterAll(async () => {
    await c?.destroy();
  });
}
