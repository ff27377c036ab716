/**
 * RaftNode's request API on an in-memory network and file system: what `propose` resolves with,
 * its typed errors (NoLeader, Timeout, Stopped, TooManyRequests, RequestTooLarge, Aborted),
 * linearizable reads sharing one ReadIndex round, leadership transfer, status and events, and
 * fail-stop on a WAL fsync error.
 */
import { createServer } from "node:net";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  counterValue,
  MapStateMachine,
  MemNetwork,
  waitFor,
  waitForLeader,
} from "../../test/raftnode/harness.js";
import { MemFileSystem, type MemFsOp } from "../mem-fs.js";
import { WalFailedError } from "../wal/errors.js";
import { isRaftNodeError, type RaftNodeError } from "./errors.js";
import type { RaftNodeOptions } from "./options.js";
import { RaftNode } from "./raft-node.js";

const enc = new TextEncoder();
const IDS = [1, 2, 3];

let nodes: RaftNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  nodes = [];
});

interface Cluster {
  net: MemNetwork;
  fss: Map<number, MemFileSystem>;
  sms: Map<number, MapStateMachine>;
  start(id: number, extra?: Partial<RaftNodeOptions>): Promise<RaftNode>;
}

function cluster(ids = IDS, base: Partial<RaftNodeOptions> = {}): Cluster {
  const net = new MemNetwork();
  const fss = new Map<number, MemFileSystem>();
  const sms = new Map<number, MapStateMachine>();
  const peers = new Map(ids.map((id) => [id, `ws://node-${id}`]));
  return {
    net,
    fss,
    sms,
    async start(id, extra = {}) {
      if (!fss.has(id)) fss.set(id, new MemFileSystem());
      if (!sms.has(id)) sms.set(id, new MapStateMachine());
      const n = await RaftNode.start({
        id,
        clusterId: 9,
        peers,
        dataDir: `/n${id}`,
        stateMachine: sms.get(id)!,
        fs: fss.get(id)!,
        transportFactory: net.factory,
        tickMs: 10,
        electionTick: 20,
        logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
        ...base,
        ...extra,
      });
      nodes.push(n);
      return n;
    },
  };
}

async function startAll(c: Cluster, extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode[]> {
  const ns = await Promise.all(IDS.map((id) => c.start(id, extra)));
  await waitForLeader(ns);
  return ns;
}

const codeOf = (e: unknown) => (isRaftNodeError(e) ? e.code : `not a RaftNodeError: ${String(e)}`);
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe("propose", () => {
  it("resolves with the state machine's result on the leader and through a follower", async () => {
    const c = cluster();
    const ns = await startAll(c);
    const leader = ns.find((n) => n.isLeader())!;
    const follower = ns.find((n) => !n.isLeader())!;
    const r1 = await leader.propose(enc.encode("a=1"));
    const r2 = await follower.propose(enc.encode("b=2"));
    expect(r1).toMatch(/^a@\d+$/);
    expect(r2).toMatch(/^b@\d+$/);
    // The result is the one of this entry on this node: its index is the follower's applied entry.
    expect(c.sms.get(follower.id)!.data.get("b")).toBe("2");
    expect(Number((r2 as string).split("@")[1])).toBeGreaterThan(Number((r1 as string).split("@")[1]));
    expect(await counterValue(leader.metrics.proposals, { result: "committed" })).toBe(1);
    // The series the KV server exposes at /metrics.
    const text = await follower.metrics.registry.metrics();
    for (const series of [
      'tsraft_proposals_total{result="committed"} 1',
      "tsraft_leader_changes_seen_total 1",
      "tsraft_has_leader 1",
      "tsraft_is_leader 0",
    ]) {
      expect(text).toContain(series);
    }
    expect(text).toMatch(/tsraft_wal_fsync_duration_seconds_count [1-9]/);
    expect(text).toMatch(/tsraft_proposal_duration_seconds_count 1/);
    expect(text).toMatch(/tsraft_applied_entries_total [1-9]/);
  });

  it("rejects with NoLeader at once when no leader is known", async () => {
    const c = cluster();
    const lonely = await c.start(1); // its peers never start
    const t0 = Date.now();
    const e = await rejection(lonely.propose(enc.encode("x=1")));
    expect(codeOf(e)).toBe("NoLeader");
    expect(Date.now() - t0).toBeLessThan(100);
    expect(codeOf(await rejection(lonely.linearizableRead()))).toBe("NoLeader");
    expect(await counterValue(lonely.metrics.proposals, { result: "dropped" })).toBe(1);
  });

  it("rejects with Timeout when the entry cannot commit, Stopped on stop, and bounds pending proposals", async () => {
    const c = cluster();
    const ns = await startAll(c, { maxPendingProposals: 3 });
    const leader = ns.find((n) => n.isLeader())!;
    c.net.isolate(leader.id, IDS); // it keeps leading for an election timeout, but cannot commit
    const t0 = Date.now();
    const e = await rejection(leader.propose(enc.encode("lost=1"), { timeoutMs: 50 }));
    expect(codeOf(e)).toBe("Timeout");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(await counterValue(leader.metrics.proposals, { result: "timeout" })).toBe(1);

    const pending = [1, 2, 3].map((i) => leader.propose(enc.encode(`p${i}=1`)).catch((x: unknown) => x));
    expect(codeOf(await rejection(leader.propose(enc.encode("p4=1"))))).toBe("TooManyRequests");
    await leader.stop();
    for (const p of pending) {
      const err = await p;
      expect(codeOf(err)).toBe("Stopped");
    }
    expect(codeOf(await rejection(leader.propose(enc.encode("late=1"))))).toBe("Stopped");
  });

  it("refuses oversized proposals and honours an AbortSignal", async () => {
    const c = cluster();
    const ns = await startAll(c, { maxRequestBytes: 1024 });
    const leader = ns.find((n) => n.isLeader())!;
    const big = await rejection(leader.propose(new Uint8Array(1025)));
    expect(codeOf(big)).toBe("RequestTooLarge");
    c.net.isolate(leader.id, IDS);
    const ac = new AbortController();
    const p = leader.propose(enc.encode("a=1"), { signal: ac.signal });
    ac.abort(new Error("client went away"));
    const e = await rejection(p);
    expect(codeOf(e)).toBe("Aborted");
    expect((e as RaftNodeError).cause).toEqual(new Error("client went away"));
    const pre = AbortSignal.abort("already");
    expect(codeOf(await rejection(leader.propose(enc.encode("b=1"), { signal: pre })))).toBe("Aborted");
  });
});

describe("linearizableRead", () => {
  it("batches concurrent reads into one ReadIndex round, and sees earlier writes", async () => {
    const c = cluster();
    const ns = await startAll(c);
    const leader = ns.find((n) => n.isLeader())!;
    const follower = ns.find((n) => !n.isLeader())!;
    await leader.propose(enc.encode("seen=yes"));
    const rounds = () => counterValue(follower.metrics.readIndexRequests, { result: "success" });
    expect(await rounds()).toBe(0);

    // 50 reads issued together share one round.
    const burst = Array.from({ length: 50 }, () => follower.linearizableRead());
    // 30 more while that round is in flight (it needs the leader's answer: a later macrotask)
    // share the next one.
    await new Promise((r) => setImmediate(r));
    const second = Array.from({ length: 30 }, () => follower.linearizableRead());
    await Promise.all(burst);
    expect(c.sms.get(follower.id)!.data.get("seen")).toBe("yes");
    await Promise.all(second);
    expect(await rounds()).toBe(2);

    // On the leader too: one round for many reads.
    const before = await counterValue(leader.metrics.readIndexRequests, { result: "success" });
    await Promise.all(Array.from({ length: 20 }, () => leader.linearizableRead()));
    expect(await counterValue(leader.metrics.readIndexRequests, { result: "success" })).toBe(before + 1);
  });

  it("times out when the leader cannot confirm its leadership", async () => {
    const c = cluster();
    const ns = await startAll(c);
    const leader = ns.find((n) => n.isLeader())!;
    c.net.isolate(leader.id, IDS);
    expect(codeOf(await rejection(leader.linearizableRead({ timeoutMs: 60 })))).toBe("Timeout");
  });
});

describe("leadership, status, events", () => {
  it("transfers leadership, reports status as JSON, emits leader-change", async () => {
    const c = cluster();
    const ns = await startAll(c);
    const leader = ns.find((n) => n.isLeader())!;
    const target = ns.find((n) => !n.isLeader())!;
    const changes: number[] = [];
    target.on("leader-change", (e) => changes.push(e.lead));

    const st = JSON.parse(JSON.stringify(leader.status())) as Record<string, unknown>;
    expect(st).toMatchObject({ id: leader.id, lead: leader.id, state: "StateLeader" });
    expect(Object.keys(st.progress as object).sort()).toEqual(["1", "2", "3"]);
    expect(target.status().progress).toBeUndefined();
    expect(target.members().map((m) => m.id)).toEqual(IDS);

    await leader.transferLeadership(target.id);
    expect(target.isLeader()).toBe(true);
    expect(changes).toContain(target.id);
    await waitFor(() => ns.every((n) => n.leader() === target.id), "everyone follows the transferee");
    expect(codeOf(await rejection(target.transferLeadership(42)))).toBe("MemberNotFound");
  });

  it("a leadership transfer raft gives up on fails then, not at the request's timeout", async () => {
    const c = cluster();
    const ns = await startAll(c);
    const leader = ns.find((n) => n.isLeader())!;
    const target = ns.find((n) => !n.isLeader())!;
    // The target cannot hear the leader: it never catches up nor gets MsgTimeoutNow, and raft
    // abandons the transfer after an election timeout (20 ticks of 10 ms), long before 30 s.
    c.net.cut(leader.id, target.id);
    const e = await rejection(leader.transferLeadership(target.id, { timeoutMs: 30_000 }));
    expect(codeOf(e)).toBe("Timeout");
    expect((e as RaftNodeError).message).toMatch(/abandoned the leadership transfer/);
    expect(leader.isLeader()).toBe(true);
    c.net.heal();
    await leader.transferLeadership(target.id);
    expect(target.isLeader()).toBe(true);
  });

  it("runs a single-node cluster", async () => {
    const c = cluster([1]);
    const n = await c.start(1);
    await waitFor(() => n.isLeader(), "self-election");
    expect(await n.propose(enc.encode("solo=1"))).toMatch(/^solo@/);
    await n.linearizableRead();
  });

  it("a first start that fails (port taken) can be retried: the empty WAL still bootstraps", async () => {
    const [port] = await freePorts(1);
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", () => r()));
    const fs = new MemFileSystem();
    const opts: RaftNodeOptions = {
      id: 1,
      clusterId: 1,
      peers: new Map([[1, `ws://127.0.0.1:${port}`]]),
      dataDir: "/solo",
      stateMachine: new MapStateMachine(),
      fs,
      tickMs: 10,
    };
    await expect(RaftNode.start(opts)).rejects.toThrow(/EADDRINUSE/);
    await new Promise((r) => blocker.close(r));
    const n = await RaftNode.start(opts);
    nodes.push(n);
    await waitFor(() => n.isLeader(), "self-election after the retry");
    expect(await n.propose(enc.encode("k=v"))).toMatch(/^k@/);
  });

  it("refuses a data directory that belongs to another node", async () => {
    const c = cluster();
    const n1 = await c.start(1);
    await n1.stop();
    c.fss.set(2, c.fss.get(1)!);
    await expect(c.start(2, { dataDir: "/n1" })).rejects.toThrow(/belongs to node 1/);
  });
});

describe("fail-stop", () => {
  it("a WAL fsync error stops the node, which restarts from what was durable", async () => {
    let failing = false;
    const c = cluster();
    const fs1 = new MemFileSystem(async (op: MemFsOp) => {
      if (failing && op.kind === "datasync" && op.path.startsWith("/n1/wal/")) {
        throw Object.assign(new Error("EIO: injected"), { code: "EIO" });
      }
    });
    c.fss.set(1, fs1);
    const ns = await startAll(c);
    const n1 = ns[0]!;
    const causes: unknown[] = [];
    n1.on("stopped", (cause) => causes.push(cause));
    const some = ns.find((n) => n.id !== 1)!;
    await some.propose(enc.encode("before=1"));
    await waitFor(() => c.sms.get(1)!.data.has("before"), "node 1 applied");

    failing = true;
    // Node 1 must fsync the next entry (leader or follower), fails, and stops; the others go on.
    const own = rejection(n1.propose(enc.encode("n1=1")));
    await waitFor(() => n1.stopped, "node 1 stopped");
    const err = await own;
    expect(codeOf(err)).toBe("Stopped");
    expect((err as RaftNodeError).cause).toBeInstanceOf(WalFailedError);
    await waitFor(() => causes.length === 1, "stopped event");
    expect(causes[0]).toBeInstanceOf(WalFailedError);
    expect(codeOf(await rejection(n1.propose(enc.encode("x=1"))))).toBe("Stopped");
    const rest = ns.filter((n) => n !== n1);
    const l = await waitForLeader(rest);
    await l.propose(enc.encode("after=1"));

    // Restart from the same disk: it replays what was synced and catches up.
    failing = false;
    nodes = nodes.filter((n) => n !== n1);
    const back = await c.start(1);
    await waitFor(() => c.sms.get(1)!.data.get("after") === "1", "node 1 caught up after restart");
    expect(back.stopped).toBe(false);
  });

  it("a state machine error stops the node: it never applies past a failed entry", async () => {
    const c = cluster([1]);
    const sm = new MapStateMachine();
    const apply = sm.apply.bind(sm);
    sm.apply = (entries) => {
      if (entries.some((e) => new TextDecoder().decode(e.data) === "boom=1")) throw new Error("disk full");
      return apply(entries);
    };
    c.sms.set(1, sm);
    const n = await c.start(1);
    await waitFor(() => n.isLeader(), "self-election");
    await n.propose(enc.encode("ok=1"));
    const e = await rejection(n.propose(enc.encode("boom=1")));
    expect(codeOf(e)).toBe("Stopped");
    expect(((e as RaftNodeError).cause as Error).message).toBe("disk full");
    expect(n.stopped).toBe(true);
    await n.stop(); // idempotent
    expect(sm.data.has("boom")).toBe(false);
  });

  it("start() refuses a corrupt WAL: the node never runs on damaged data", async () => {
    const c = cluster([1]);
    const n = await c.start(1);
    await waitFor(() => n.isLeader(), "self-election");
    await n.propose(enc.encode("k=v"));
    await n.stop();
    const fs = c.fss.get(1)!;
    const seg = (await fs.readdir("/n1/wal")).find((f) => f.endsWith(".wal"))!;
    const bytes = await fs.readFile(`/n1/wal/${seg}`);
    bytes[40] = (bytes[40] ?? 0) ^ 0xff; // inside an early record: corruption, not a torn tail
    const fh = await fs.open(`/n1/wal/${seg}`, "readWrite");
    await fh.write(bytes, 40, 1, 40);
    await fh.datasync();
    await fh.close();
    await expect(c.start(1)).rejects.toThrow(/corrupt/);
  });
});
