/**
 * The leader's pace for followers far behind (catch-up-pace.ts): on a fake clock, the byte rate,
 * the floor of twice the commit rate, order and overtaking, clearing; then a real three-node
 * cluster whose follower, back from a stop 3,000 entries behind, catches up through the pacer.
 */
import { join } from "node:path";
import { type Message, MessageType, newEntry, newMessage } from "@tsraft/raft/raftpb";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  counterValue,
  MapStateMachine,
  proposeRange,
  tempDir,
  waitFor,
  waitForLeader,
} from "../../test/raftnode/harness.js";
import { createNodeMetrics, type NodeMetrics } from "../metrics.js";
import { CatchUpPacer, FAR_BEHIND_ENTRIES } from "./catch-up-pace.js";
import { RaftNode } from "./raft-node.js";

const KiB = 1024;

/** A MsgApp to `to` of `n` entries of `size` bytes after `index`, from a leader committed at `commit`. */
function app(to: number, index: number, commit: number, n = 1, size = 16 * KiB): Message {
  const entries = Array.from({ length: n }, (_, i) =>
    newEntry({ index: index + 1 + i, term: 1, data: new Uint8Array(size) }),
  );
  return newMessage({ type: MessageType.MsgApp, from: 1, to, term: 1, index, logTerm: 1, commit, entries });
}

describe("CatchUpPacer", () => {
  let sent: { t: number; m: Message }[];
  let paced: number;
  const deliver = (msgs: readonly Message[]) => {
    for (const m of msgs) sent.push({ t: Date.now(), m });
  };
  const pacer = (bytesPerSec: number) =>
    new CatchUpPacer(
      bytesPerSec,
      deliver,
      (_to, bytes) => {
        paced += bytes;
      },
      () => Date.now(),
    );

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    sent = [];
    paced = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends everything at once when disabled or when the follower is near the commit", () => {
    const off = pacer(0);
    off.send([app(2, 0, 50_000, 64)]);
    expect(sent).toHaveLength(1);
    const on = pacer(1024 * KiB);
    on.send([app(2, 49_500, 50_000, 64), app(3, 50_000 - FAR_BEHIND_ENTRIES, 50_000, 64)]);
    expect(sent).toHaveLength(3);
    expect(paced).toBe(0);
  });

  it("paces MsgApps far behind the commit at the byte rate, in order, and lets others overtake", () => {
    const p = pacer(1024 * KiB); // 1 MiB/s: a 256 KiB MsgApp every 250 ms
    const start = Date.now();
    const apps = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => app(2, 1000 + i * 16, 90_000, 16));
    p.send(apps);
    const hb = newMessage({ type: MessageType.MsgHeartbeat, from: 1, to: 2, term: 1 });
    p.send([hb]);
    // The first goes at once, the heartbeat overtakes the rest.
    expect(sent.map((s) => s.m)).toEqual([apps[0], hb]);
    // A MsgApp near the commit to the same follower still waits behind the paced ones (order).
    const near = app(2, 89_990, 90_000, 1);
    p.send([near]);
    expect(sent).toHaveLength(2);
    vi.advanceTimersByTime(10_000);
    const order = sent.filter((s) => s.m.type === MessageType.MsgApp).map((s) => s.m);
    expect(order).toEqual([...apps, near]);
    const times = sent.filter((s) => s.m.type === MessageType.MsgApp).map((s) => s.t - start);
    for (let i = 1; i < apps.length; i++) expect(times[i]).toBeGreaterThanOrEqual(i * 250);
    expect(times[apps.length - 1]).toBeLessThanOrEqual((apps.length - 1) * 250 + 5);
    expect(paced).toBe(8 * 16 * 16 * KiB + 16 * KiB); // the one held for order counts too
  });

  it("never paces below twice the leader's commit rate, so the follower catches up", () => {
    const p = pacer(16 * KiB); // one 16 KiB entry per second by bytes...
    // ...but the leader commits 100 entries/s: the follower gets ≥ 200 entries/s.
    let commit = 100_000;
    for (let i = 0; i < 20; i++) {
      p.send([newMessage({ type: MessageType.MsgApp, from: 1, to: 3, term: 1, index: commit, commit })]);
      vi.advanceTimersByTime(250);
      commit += 25;
    }
    expect(p.commitRate()).toBeGreaterThan(85); // 100/s, measured up to now (the last 250 ms without)
    expect(p.commitRate()).toBeLessThanOrEqual(100);
    sent = [];
    const start = Date.now();
    const every = (100 / (2 * p.commitRate())) * 1000; // ~550 ms a MsgApp of 100 entries
    const apps = [0, 1, 2, 3].map((i) => app(2, 10_000 + i * 100, commit, 100));
    p.send(apps);
    vi.advanceTimersByTime(5_000);
    const times = sent.map((s) => s.t - start);
    expect(sent.map((s) => s.m)).toEqual(apps);
    // 100 entries at twice the commit rate: one every ~550 ms, not one every 100 s.
    expect(times[3]).toBeGreaterThanOrEqual(3 * every - 1);
    expect(times[3]).toBeLessThanOrEqual(3 * every + 5);
    expect(times[3]).toBeLessThan(2_000);
  });

  it("forgets the commit rate once the commit index stops moving", () => {
    const p = pacer(16 * KiB);
    for (let commit = 2_000; commit <= 4_000; commit += 100) {
      p.send([newMessage({ type: MessageType.MsgApp, from: 1, to: 3, term: 1, index: commit, commit })]);
      vi.advanceTimersByTime(100);
    }
    expect(p.commitRate()).toBeGreaterThan(500);
    vi.advanceTimersByTime(6_000);
    expect(p.commitRate()).toBe(0);
    // Idle, a far-behind follower gets the byte rate alone: 16 KiB/s, one entry a second.
    sent = [];
    const start = Date.now();
    p.send([app(2, 100, 4_000, 1), app(2, 101, 4_000, 1), app(2, 102, 4_000, 1)]);
    vi.advanceTimersByTime(3_000);
    expect(sent.map((x) => x.t - start)).toEqual([0, 1_000, 2_000]);
  });

  it("drops what it holds when cleared or stopped", () => {
    const p = pacer(16 * KiB);
    p.send([app(2, 1000, 90_000, 4), app(2, 1004, 90_000, 4)]);
    expect(sent).toHaveLength(1);
    p.clear();
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(1);
    p.send([app(2, 1008, 90_000, 4), app(2, 1012, 90_000, 4)]);
    p.stop();
    vi.advanceTimersByTime(60_000);
    expect(vi.getTimerCount()).toBe(0);
    // Stopped: it passes messages through (the node drops them itself once stopping).
    p.send([app(2, 1016, 90_000, 4)]);
    expect(sent.at(-1)?.m.index).toBe(1016);
  });
});

describe("a follower far behind, with catchUpBytesPerSec", () => {
  let root: { path: string; cleanup: () => Promise<void> };
  const nodes: RaftNode[] = [];
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await root?.cleanup();
  });

  it("catches up through the leader's pacer and ends with the leader's state", async () => {
    root = await tempDir("tsraft-pace-");
    const ports = await freePorts(3);
    const urls = new Map([1, 2, 3].map((id, i) => [id, `ws://127.0.0.1:${ports[i]}`]));
    const sms = new Map<number, MapStateMachine>();
    const metrics = new Map<number, NodeMetrics>();
    const start = async (id: number): Promise<RaftNode> => {
      const sm = new MapStateMachine();
      const m = createNodeMetrics();
      sms.set(id, sm);
      metrics.set(id, m);
      const n = await RaftNode.start({
        id,
        clusterId: 0x5ace,
        peers: urls,
        dataDir: join(root.path, `n${id}`),
        stateMachine: sm,
        tickMs: 20,
        electionTick: 20,
        snapshotCount: 100_000, // no snapshot: the follower replays the log
        maxSizePerMsg: 4 * KiB,
        catchUpBytesPerSec: 64 * KiB,
        metrics: m,
        transport: { backoffInitialMs: 20, backoffMaxMs: 200 },
        logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
      });
      nodes.push(n);
      return n;
    };
    const [n1, n2] = [await start(1), await start(2)];
    let n3 = await start(3);
    await waitForLeader([n1, n2, n3]);
    await n3.stop();
    const leader = await waitForLeader([n1, n2]);
    await proposeRange(() => leader, 0, 3_000);
    n3 = await start(3);
    const target = leader.status().commit;
    await waitFor(() => sms.get(3)!.applied >= target, "node 3 to catch up", 30_000);
    const paced = await counterValue(metrics.get(leader.id)!.catchUpPacedBytes, { to: "3" });
    expect(paced).toBeGreaterThan(0);
    expect([...sms.get(3)!.data].sort()).toEqual([...sms.get(leader.id)!.data].sort());
  });
});
