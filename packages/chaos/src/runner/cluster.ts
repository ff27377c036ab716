/**
 * A cluster of real `tsraft-kv` processes for a chaos run, each behind a {@link PeerProxy}: the
 * `--cluster` URLs name the proxies, every node listens behind its own (`--listen-peer-url`), so
 * the runner decides the fate of every message between nodes. Processes can be killed, paused,
 * restarted with failpoints armed, removed and replaced; their output goes to one log file per node
 * in the run directory, next to their data directories.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { StateHash as KvStateHash } from "@tsraft/kv";
import {
  errorCodeOf,
  freePorts,
  httpRequest,
  type KvStatus,
  kvNodeArgs,
  parseJson,
  type ServerProcess,
  startKvNode,
} from "@tsraft/testkit";
import { type Network, PeerProxy } from "./proxy.js";
import { sleep, type WorkloadTarget } from "./workload.js";

/** `/status`, as the runner reads it. */
export type NodeStatus = KvStatus;

/** `/debug/hash`, as far as the runner reads it: the state machine's digest at an applied index. */
export type StateHash = Pick<KvStateHash, "appliedIndex" | "hash">;

/** One node identity: ports and directories survive restarts; a replacement gets a new identity. */
export interface NodeSlot {
  readonly id: number;
  readonly httpPort: number;
  /** Where the node's transport listens. */
  readonly peerPort: number;
  /** Where its proxy listens: the node's URL as the cluster knows it. */
  readonly proxyPort: number;
  readonly dataDir: string;
  readonly logPath: string;
  /** The process of its current (or last) run. */
  proc: ServerProcess | undefined;
  /** Exits seen, as "code N" or "signal S", for the report. */
  readonly exits: string[];
}

/** Options of {@link ChaosCluster.create}. */
export interface ChaosClusterOptions {
  /** The run directory: data directories and logs go here. */
  readonly dir: string;
  readonly size: number;
  /** Identities to create beyond `size`, for members added later. */
  readonly spare: number;
  readonly network: Network;
  /** Extra flags for every node (Raft timing, snapshot count). */
  readonly args: readonly string[];
}

/** A cluster of KV processes behind fault-injecting proxies. */
export class ChaosCluster implements WorkloadTarget {
  readonly slots = new Map<number, NodeSlot>();
  private readonly proxies = new Map<number, PeerProxy>();
  /** Current members, in the order of the client slots they serve. */
  private memberList: number[];
  /** Client slot → the member serving it. */
  private readonly slotNode: number[];

  private constructor(
    private readonly o: ChaosClusterOptions,
    /** Every identity (members and spares), ids 1..size+spare. */
    ids: number[],
  ) {
    this.memberList = ids.slice(0, o.size);
    this.slotNode = [...this.memberList];
  }

  /** Allocates ports and directories for `size + spare` identities and starts their proxies. */
  static async create(o: ChaosClusterOptions): Promise<ChaosCluster> {
    const total = o.size + o.spare;
    const ports = await freePorts(total * 3);
    const ids = Array.from({ length: total }, (_, i) => i + 1);
    const c = new ChaosCluster(o, ids);
    for (const id of ids) {
      const [httpPort, peerPort, proxyPort] = ports.slice((id - 1) * 3, id * 3) as [number, number, number];
      c.slots.set(id, {
        id,
        httpPort,
        peerPort,
        proxyPort,
        dataDir: join(o.dir, `node-${id}`),
        logPath: join(o.dir, `node-${id}.log`),
        proc: undefined,
        exits: [],
      });
      const proxy = new PeerProxy({
        nodeId: id,
        listenPort: proxyPort,
        targetPort: peerPort,
        network: o.network,
      });
      await proxy.start();
      c.proxies.set(id, proxy);
    }
    return c;
  }

  private slot(id: number): NodeSlot {
    const s = this.slots.get(id);
    if (s === undefined) throw new Error(`chaos cluster: no node ${id}`);
    return s;
  }

  /** The URL node `id` is known by (its proxy). */
  peerUrl(id: number): string {
    return `ws://127.0.0.1:${this.slot(id).proxyPort}`;
  }

  members(): readonly number[] {
    return this.memberList;
  }

  nodeOfSlot(slot: number): number {
    return this.slotNode[slot % this.slotNode.length]!;
  }

  httpPort(id: number): number {
    return this.slot(id).httpPort;
  }

  /** Every identity that ever ran, for reading logs and data afterwards. */
  everStarted(): NodeSlot[] {
    return [...this.slots.values()].filter((s) => s.exits.length > 0 || s.proc !== undefined);
  }

  isRunning(id: number): boolean {
    return this.slot(id).proc?.running ?? false;
  }

  /**
   * Starts node `id`. `join` starts it as a new member of a running cluster; `failpoints` arms
   * TSRAFT_FAILPOINTS for this process only.
   */
  start(id: number, opts: { join?: boolean; failpoints?: string } = {}): void {
    const s = this.slot(id);
    if (this.isRunning(id)) throw new Error(`chaos cluster: node ${id} is already running`);
    const members = opts.join ? [...this.memberList, id] : this.memberList;
    const cluster = [...new Set(members)]
      .sort((a, b) => a - b)
      .map((m) => `${m}=${this.peerUrl(m)}`)
      .join(",");
    const args = [
      "--cluster",
      cluster,
      "--cluster-id",
      "4242",
      "--listen-peer-url",
      `ws://127.0.0.1:${s.peerPort}`,
      ...(opts.join ? ["--join"] : []),
      ...this.o.args,
    ];
    const spec = { id, httpPort: s.httpPort, dataDir: s.dataDir, args };
    const env = { ...process.env };
    delete env.TSRAFT_FAILPOINTS;
    if (opts.failpoints) env.TSRAFT_FAILPOINTS = opts.failpoints;
    appendFileSync(
      s.logPath,
      `==== ${new Date().toISOString()} start node ${id}${opts.failpoints ? ` TSRAFT_FAILPOINTS=${opts.failpoints}` : ""}: ${kvNodeArgs(spec).slice(1).join(" ")}\n`,
    );
    const proc = startKvNode(spec, { env, logFile: s.logPath });
    s.proc = proc;
    void proc.exited.then(({ code, signal }) => {
      s.exits.push(signal ? `signal ${signal}` : `code ${code}`);
    });
  }

  /** Sends `signal` and waits for the exit; a graceful stop that hangs is SIGKILLed after `ms`. */
  async stop(id: number, signal: NodeJS.Signals = "SIGTERM", ms = 10_000): Promise<void> {
    await this.slot(id).proc?.stop(signal, ms);
  }

  /** kill -9 (the process gets no chance to clean up). */
  kill(id: number): Promise<void> {
    return this.stop(id, "SIGKILL");
  }

  /** SIGSTOP: the process freezes, its sockets stay open. */
  pause(id: number): void {
    this.slot(id).proc?.pause();
  }

  /** SIGCONT. */
  resume(id: number): void {
    this.slot(id).proc?.resume();
  }

  /** True while node `id` is paused. */
  isPaused(id: number): boolean {
    return this.slot(id).proc?.paused ?? false;
  }

  /** Waits up to `ms` for node `id` to exit on its own; true if it did. */
  async waitExit(id: number, ms: number): Promise<boolean> {
    const proc = this.slot(id).proc;
    if (proc === undefined || !proc.running) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    const r = await Promise.race([proc.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return r;
  }

  /** GET a JSON document from node `id`; undefined if it does not answer 200 in time. */
  async getJson<T>(id: number, path: string, timeoutMs = 1000): Promise<T | undefined> {
    const r = await httpRequest({ method: "GET", port: this.httpPort(id), path, timeoutMs });
    return r.kind === "answer" && r.status === 200 ? (parseJson(r.body) as T | undefined) : undefined;
  }

  status(id: number): Promise<NodeStatus | undefined> {
    return this.getJson<NodeStatus>(id, "/status");
  }

  /** The leader, if every running member that answers names the same one and it says it leads. */
  async leader(): Promise<number | undefined> {
    const ids = this.memberList.filter((id) => this.isRunning(id) && !this.isPaused(id));
    const statuses = await Promise.all(ids.map((id) => this.status(id)));
    const lead = statuses.find((s) => s?.state === "StateLeader")?.id;
    if (lead === undefined) return undefined;
    return statuses.every((s) => s !== undefined && s.lead === lead) ? lead : undefined;
  }

  /** Waits for {@link leader}; throws after `ms`. */
  async waitForLeader(ms = 20_000): Promise<number> {
    const deadline = performance.now() + ms;
    for (;;) {
      const lead = await this.leader();
      if (lead !== undefined) return lead;
      if (performance.now() > deadline) throw new Error(`no leader agreed on within ${ms} ms`);
      await sleep(100);
    }
  }

  /** Removes member `id` through node `via` (DELETE /members/<id>); resolves with the HTTP outcome. */
  async removeMember(via: number, id: number): Promise<string> {
    const r = await httpRequest({
      method: "DELETE",
      port: this.httpPort(via),
      path: `/members/${id}`,
      timeoutMs: 10_000,
    });
    if (r.kind === "answer" && r.status === 204) {
      this.memberList = this.memberList.filter((m) => m !== id);
      return "ok";
    }
    return r.kind === "answer" ? `${r.status} ${errorCodeOf(r.body) ?? r.body}` : r.error;
  }

  /** Adds member `id` (not yet started) through node `via`, taking over client slot of `replacing`. */
  async addMember(via: number, id: number, replacing: number | undefined): Promise<string> {
    const r = await httpRequest({
      method: "POST",
      port: this.httpPort(via),
      path: "/members",
      body: JSON.stringify({ id, url: this.peerUrl(id) }),
      timeoutMs: 10_000,
    });
    if (r.kind === "answer" && r.status === 201) {
      this.memberList = [...this.memberList, id];
      if (replacing !== undefined) {
        for (let i = 0; i < this.slotNode.length; i++)
          if (this.slotNode[i] === replacing) this.slotNode[i] = id;
      }
      return "ok";
    }
    return r.kind === "answer" ? `${r.status} ${errorCodeOf(r.body) ?? r.body}` : r.error;
  }

  /**
   * Re-reads the membership from node `via` (after a conf change whose answer was lost, the change
   * may still have happened). Client slots of members that left move to members that joined.
   */
  async syncMembers(via: number): Promise<void> {
    const r = await this.getJson<{ members: { id: number; learner: boolean }[] }>(via, "/members");
    if (r === undefined) return;
    const now = r.members.filter((m) => !m.learner && this.slots.has(m.id)).map((m) => m.id);
    const joined = now.filter((id) => !this.memberList.includes(id));
    const left = this.memberList.filter((id) => !now.includes(id));
    this.memberList = [...this.memberList.filter((id) => now.includes(id)), ...joined];
    for (let i = 0; i < this.slotNode.length; i++) {
      const k = left.indexOf(this.slotNode[i]!);
      if (k >= 0) this.slotNode[i] = joined[k] ?? this.memberList[i % this.memberList.length]!;
    }
  }

  /** The network proxy in front of node `id`. */
  proxy(id: number): PeerProxy {
    const p = this.proxies.get(id);
    if (p === undefined) throw new Error(`chaos cluster: no proxy for ${id}`);
    return p;
  }

  /** Stops every process (gracefully, SIGKILL after `ms`) and every proxy. */
  async shutdown(ms = 10_000): Promise<void> {
    await Promise.all([...this.slots.keys()].map((id) => this.stop(id, "SIGTERM", ms)));
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
  }

  /** Kills everything at once (a run that is being abandoned). */
  async destroy(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((id) => this.kill(id)));
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
  }
}
