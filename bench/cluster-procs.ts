/**
 * The cluster benches' systems under test: three `tsraft-kv` processes, or three etcd members, on
 * 127.0.0.1 with fresh data directories, started, waited for until they have a leader, measured
 * (CPU time from /proc) and stopped. Each member can also be stopped alone (SIGTERM or SIGKILL) and
 * started again on the same data directory, as the growth bench's catch-up phase does. Every process
 * started is killed when this process exits, even on an error.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts, KV_CLI, kvNodeArgs, parseJson, ServerProcess } from "@tsraft/testkit";
import { type RequestSpec, send, sendSpec } from "./loadgen.js";

/**
 * One member of a cluster: how to start its process, and the process currently running (if any).
 * The growth bench stops a follower, lets the others write on, and starts it again on the same
 * data directory and ports.
 */
export class Member {
  #proc: ServerProcess;
  readonly #listeners = new Set<(line: string) => void>();

  constructor(
    /** "tsraft-kv 2", "etcd m3". */
    readonly name: string,
    /** Where clients (the load, /status, /metrics) reach it. */
    readonly clientPort: number,
    readonly dataDir: string,
    private readonly command: string,
    private args: readonly string[],
    private readonly stdin: "pipe" | "ignore",
  ) {
    this.#proc = this.#spawn();
  }

  #spawn(): ServerProcess {
    return new ServerProcess({
      command: this.command,
      args: this.args,
      stdin: this.stdin,
      keepLines: 40,
      onLine: (line) => {
        for (const f of this.#listeners) f(line);
      },
    });
  }

  /** The running process's id; undefined once it has exited. */
  get pid(): number | undefined {
    return this.#proc.running ? this.#proc.pid : undefined;
  }

  get running(): boolean {
    return this.#proc.running;
  }

  /** The last lines the current process printed. */
  get output(): readonly string[] {
    return this.#proc.output;
  }

  /** Calls `f` with every line the member prints from now on (across restarts); returns the unsubscribe. */
  onLine(f: (line: string) => void): () => void {
    this.#listeners.add(f);
    return () => this.#listeners.delete(f);
  }

  /** Sends `signal` (SIGTERM: a graceful stop, SIGKILL after 10 s; SIGKILL: a crash) and waits for the exit. */
  stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    return this.#proc.stop(signal);
  }

  /**
   * Starts the member again (it must be stopped) with the same command line, or the one `edit`
   * returns (e.g. another log level). Returns at once: the caller polls for readiness.
   */
  restart(edit?: (args: readonly string[]) => readonly string[]): void {
    if (this.#proc.running) throw new Error(`${this.name} is still running`);
    if (edit !== undefined) this.args = edit(this.args);
    this.#proc = this.#spawn();
  }
}

/** `args` with the value after `flag` replaced by `value` (appended if absent). */
export function withFlag(args: readonly string[], flag: string, value: string): string[] {
  const out = [...args];
  const i = out.indexOf(flag);
  if (i >= 0 && i + 1 < out.length) out[i + 1] = value;
  else out.push(flag, value);
  return out;
}

let clockTicks: number | undefined;

/** User + system CPU time of process `pid` so far, ms (Linux /proc; NaN elsewhere). */
export function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * GET or POST `spec` once to 127.0.0.1:`port`, returning the status and the body as text; rejects
 * on a connection error or when no full answer came within `timeoutMs`.
 */
export async function askText(
  port: number,
  spec: RequestSpec,
  timeoutMs = 2000,
): Promise<{ status: number; text: string }> {
  const r = await sendSpec(port, spec, { timeoutMs });
  return { status: r.status, text: r.body };
}

/** {@link askText}, with the body parsed as JSON (undefined if it is not JSON). */
export async function askJson(
  port: number,
  spec: RequestSpec,
  timeoutMs = 2000,
): Promise<{ status: number; json: unknown }> {
  const { status, text } = await askText(port, spec, timeoutMs);
  return { status, json: parseJson(text) };
}

/**
 * When the bench itself is profiled (`pnpm bench --cpu-prof DIR`), the node flags that profile a
 * server too, into the same directory, named after the bench's profile with `.<tag>` added.
 */
/** True when the bench runs under `--cpu-prof`: servers must then exit gracefully to write theirs. */
export function profiling(): boolean {
  return process.execArgv.some((a) => a.startsWith("--cpu-prof-dir="));
}

function profileArgs(tag: string): string[] {
  const dir = process.execArgv.find((a) => a.startsWith("--cpu-prof-dir="));
  if (dir === undefined) return [];
  const name = process.execArgv
    .find((a) => a.startsWith("--cpu-prof-name="))
    ?.slice("--cpu-prof-name=".length);
  const base = (name ?? "cluster.cpuprofile").replace(/\.cpuprofile$/, "");
  return ["--cpu-prof", dir, `--cpu-prof-name=${base}.${tag}.cpuprofile`];
}

/** A running 3-node cluster of either kind. */
export interface Cluster {
  readonly kind: "tsraft" | "etcd" | "ceiling";
  /** The client port of the leader found at start (the load goes there, as etcd's `benchmark --target-leader`). */
  readonly leaderPort: number;
  /** The three members, in id order (tsraft-kv node i + 1, etcd member m<i + 1>). */
  readonly members: readonly Member[];
  /** CPU ms used so far by all the server processes. */
  cpuMs(): number;
  /** Stops every member: SIGTERM (graceful) by default; SIGKILL when the data is thrown away anyway. */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
}

/** Polls every `intervalMs` until `f` returns a value, or throws after `ms` with the processes' output. */
async function until<T>(
  what: string,
  procs: readonly Member[],
  f: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    for (const p of procs) {
      if (!p.running) throw new Error(`${p.name} exited while waiting for ${what}:\n${p.output.join("\n")}`);
    }
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (performance.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}:\n${procs.map((p) => p.output.join("\n")).join("\n---\n")}`,
      );
    }
    await sleep(100);
  }
}

/**
 * The {@link Cluster} of `procs` once `ready` resolves with the leader's client port; if it throws
 * (a member exited, a timeout), every member is stopped and the error passed on.
 */
async function clusterOnceReady(
  kind: Cluster["kind"],
  procs: readonly Member[],
  ready: () => Promise<number>,
): Promise<Cluster> {
  const stop = async (signal: "SIGTERM" | "SIGKILL" = "SIGTERM") => {
    await Promise.all(procs.map((p) => p.stop(signal)));
  };
  try {
    const leaderPort = await ready();
    return {
      kind,
      leaderPort,
      members: procs,
      cpuMs: () => procs.reduce((a, p) => a + processCpuMs(p.pid), 0),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The tsraft-kv to measure: this workspace's, or another checkout's built CLI named by
 * `TSRAFT_KV_CLI` — to compare two versions under the same harness (bench/README.md, "Cluster,
 * before and after").
 */
function kvCli(): string {
  return process.env.TSRAFT_KV_CLI ?? KV_CLI;
}

/** Flags for every tsraft-kv node of a bench, from `TSRAFT_KV_ARGS` (space-separated): A/B runs of a flag. */
function envKvArgs(): string[] {
  return (process.env.TSRAFT_KV_ARGS ?? "").split(" ").filter((a) => a !== "");
}

/**
 * Three tsraft-kv processes (fsync on: the WAL always syncs), logging at warn like etcd below.
 * `extraArgs` go to every node's command line (e.g. `--snapshot-count 500`).
 */
export async function startTsraft(dataDir: string, extraArgs: readonly string[] = []): Promise<Cluster> {
  const [p1, p2, p3, h1, h2, h3] = await freePorts(6);
  const peers = [p1, p2, p3].map((p) => `ws://127.0.0.1:${p}`).join(",");
  const http = [h1!, h2!, h3!];
  const procs = http.map((port, i) => {
    const dir = join(dataDir, `node-${i + 1}`);
    const args = kvNodeArgs({
      id: i + 1,
      httpPort: port,
      dataDir: dir,
      args: ["--cluster", peers, "--log-level", "warn", ...envKvArgs(), ...extraArgs],
      nodeFlags: profileArgs(`kv${i + 1}`),
    }).map((a) => (a === KV_CLI ? kvCli() : a));
    return new Member(`tsraft-kv ${i + 1}`, port, dir, process.execPath, args, "pipe");
  });
  return clusterOnceReady("tsraft", procs, async () => {
    const leader = await until("a tsraft-kv leader", procs, async () => {
      const st = await Promise.all(
        http.map((port) =>
          askJson(port, { method: "GET", path: "/status", body: undefined, contentType: "text/plain" }),
        ),
      );
      const leads = st.map((s) => (s.json as { lead?: number } | undefined)?.lead ?? 0);
      const lead = leads[0]!;
      return lead !== 0 && leads.every((l) => l === lead) ? lead : undefined;
    });
    const leaderPort = http[leader - 1]!;
    // A first write through the leader: the cluster serves requests (applied entries, not just a lead).
    await until("a first write", procs, async () => {
      const agent = new Agent();
      const body = Buffer.from("x");
      const s = await send(agent, "127.0.0.1", leaderPort, {
        method: "PUT",
        path: "/kv/bench-ready",
        body,
        contentType: "application/octet-stream",
      });
      agent.destroy();
      return s === 204 ? true : undefined;
    });
    return leaderPort;
  });
}

/** The etcd binary (`ETCD_BIN`, else `etcd` on the PATH) and its version, or undefined if absent. */
export function findEtcd(): { bin: string; version: string } | undefined {
  const bin = process.env.ETCD_BIN ?? "etcd";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.status !== 0 || typeof r.stdout !== "string") return undefined;
  const version = /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? "unknown";
  return { bin, version };
}

/**
 * A 3-member etcd on 127.0.0.1 with its defaults (fsync on: `--unsafe-no-fsync` is not given;
 * heartbeat 100 ms, election 1 s, as tsraft-kv's 100 ms ticks and 10-tick elections), logging at warn.
 * `extraArgs` go to every member's command line (e.g. `--quota-backend-bytes`).
 */
export async function startEtcd(
  bin: string,
  dataDir: string,
  extraArgs: readonly string[] = [],
): Promise<Cluster> {
  const [p1, p2, p3, c1, c2, c3] = await freePorts(6);
  const peer = [p1!, p2!, p3!];
  const client = [c1!, c2!, c3!];
  const initial = peer.map((p, i) => `m${i + 1}=http://127.0.0.1:${p}`).join(",");
  const procs = peer.map((p, i) => {
    const c = client[i]!;
    const args = ["--name", `m${i + 1}`, "--data-dir", join(dataDir, `etcd-${i + 1}`)];
    args.push(
      "--listen-peer-urls",
      `http://127.0.0.1:${p}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${p}`,
    );
    args.push(
      "--listen-client-urls",
      `http://127.0.0.1:${c}`,
      "--advertise-client-urls",
      `http://127.0.0.1:${c}`,
    );
    args.push(
      "--initial-cluster",
      initial,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      "bench",
    );
    args.push("--logger", "zap", "--log-level", "warn", ...extraArgs);
    return new Member(`etcd m${i + 1}`, c, join(dataDir, `etcd-${i + 1}`), bin, args, "ignore");
  });
  return clusterOnceReady("etcd", procs, () =>
    until("an etcd leader", procs, async () => {
      const st = await Promise.all(
        client.map((port) =>
          askJson(port, {
            method: "POST",
            path: "/v3/maintenance/status",
            body: Buffer.from("{}"),
            contentType: "application/json",
          }),
        ),
      );
      const bodies = st.map(
        (s) => s.json as { leader?: string; header?: { member_id?: string } } | undefined,
      );
      const lead = bodies[0]?.leader;
      if (lead === undefined || lead === "0" || !bodies.every((b) => b?.leader === lead)) return undefined;
      const i = bodies.findIndex((b) => b?.header?.member_id === lead);
      return i < 0 ? undefined : client[i];
    }),
  );
}

/**
 * The harness's own limits in place of a cluster (bench/ceiling-server.ts), three processes like
 * the systems measured: `noop`, three do-nothing HTTP servers, the load going to the first; `floor`,
 * an HTTP server that answers each write after one loopback round trip to a second process that
 * appends and fdatasyncs it (in `dataDir`), and a third, idle, do-nothing server.
 */
export async function startCeiling(kind: "noop" | "floor", dataDir: string): Promise<Cluster> {
  const [h1, h2, h3, peer] = await freePorts(4);
  const script = fileURLToPath(new URL("./ceiling-server.js", import.meta.url));
  const member = (name: string, port: number, args: readonly (string | number)[]) =>
    new Member(`ceiling ${name}`, port, dataDir, process.execPath, [script, ...args.map(String)], "ignore");
  const procs =
    kind === "floor"
      ? [member("sync", peer!, ["sync", peer!, dataDir])]
      : [member("noop 1", h1!, ["noop", h1!]), member("noop 2", h2!, ["noop", h2!])];
  procs.push(member("noop 3", h3!, ["noop", h3!]));
  return clusterOnceReady("ceiling", procs, async () => {
    if (kind === "floor") {
      // The relay connects to the sync process at once: it must listen first.
      const disk = procs[0]!;
      await until("the floor's sync process", procs, async () =>
        disk.output.some((l) => l.trim() === "ready") ? true : undefined,
      );
      procs.unshift(member("relay", h1!, ["relay", h1!, peer!]));
    }
    await until("the ceiling servers", procs, async () => {
      const r = await askText(h1!, { method: "GET", path: "/", body: undefined, contentType: "text/plain" });
      return r.status === 200 ? true : undefined;
    });
    return h1!;
  });
}
