/**
 * The contract that lets a durable state machine skip its own fsync on every apply (the KV's
 * SQLite runs with `synchronous=NORMAL` and commits in batches, as etcd's backend does) and lets
 * the node compact its log without copying the state: after a crash, a durable state machine that
 * lost any tail of what it applied — back to any point at or after its last `sync()` — is brought
 * back by the node to every committed entry, each applied exactly once and in order, from the WAL
 * (which keeps every entry after the last index `sync()` made durable). A volatile one (a fresh
 * instance after the crash) is restored from the snapshot's image, then the WAL. A durable one
 * that lost state it had reported durable is refused with a clear error instead of being served.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DurableMapStateMachine, MapStateMachine, MemNetwork, waitFor } from "../../test/raftnode/harness.js";
import { MemFileSystem } from "../mem-fs.js";
import { parseSegmentName } from "../wal/segment.js";
import { RaftNode } from "./raft-node.js";

const enc = new TextEncoder();
const PEERS = new Map([[1, "ws://node-1"]]);
const SNAPSHOT_COUNT = 20;
const WRITES = 150;

let nodes: RaftNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  nodes = [];
});

async function start(fs: MemFileSystem, sm: MapStateMachine): Promise<RaftNode> {
  const n = await RaftNode.start({
    id: 1,
    clusterId: 7,
    peers: PEERS,
    dataDir: "/n1",
    stateMachine: sm,
    fs,
    transportFactory: new MemNetwork().factory,
    tickMs: 10,
    electionTick: 5,
    snapshotCount: SNAPSHOT_COUNT,
    snapshotCatchUpEntries: 5,
    // Small segments, so that snapshots release the early ones: the oldest entries are then in no
    // WAL segment at all, only in the snapshot.
    walSegmentSize: 2048,
    logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
  });
  nodes.push(n);
  return n;
}

describe("a durable state machine that lost the tail of what it applied", () => {
  it("is caught up from the WAL, each entry applied once, none lost; a volatile one from the image", async () => {
    const fs = new MemFileSystem();
    // The data directory exists (durably) before the node's first start, as an operator makes it.
    await fs.mkdir("/n1");
    await fs.syncDir("/");
    const sm = new DurableMapStateMachine();
    const n = await start(fs, sm);
    await waitFor(() => n.isLeader(), "a single-node leader");
    // The states the state machine passes through; a crash may take it back to any of them that is
    // at or after its last sync.
    const past: MapStateMachine[] = [sm.copy()];
    for (let i = 1; i <= WRITES; i++) {
      // Acknowledged: applied on this node, so committed, so durable in its WAL.
      await n.propose(enc.encode(`k${i % 17}=v${i}`));
      if (i % 10 === 3 || i > WRITES - 3) past.push(sm.copy());
    }
    const final = sm.dump();
    const lastApplied = sm.applied;
    const snapshotIndex = n.status().snapshotIndex;
    expect(snapshotIndex).toBeGreaterThan(WRITES - 2 * SNAPSHOT_COUNT);
    expect(sm.syncs, "compactions asked the state machine to sync").toBeGreaterThan(3);
    const durable = sm.durableCopy();
    expect(durable.applied).toBeGreaterThanOrEqual(snapshotIndex);

    // A power loss now: the WAL and snapshot files as of their last fsync (every write above was
    // acknowledged, so all of it is there); the state machine goes back to a past state.
    const image = fs.crashImage({ data: "durable", dirs: "durable" });
    await n.stop();
    const firstInWal = Math.min(
      ...(await image.readdir("/n1/wal"))
        .map((f) => parseSegmentName(f))
        .filter((s) => s !== undefined)
        .map((s) => s.index),
    );
    // The WAL no longer holds the early entries: those states could only come back from an image.
    expect(past.filter((p) => p.applied < firstInWal).length).toBeGreaterThan(2);
    // No image was written: compaction copied nothing (the state machine is durable on its own).
    expect((await image.readdir("/n1/snap")).filter((f) => f.endsWith(".image"))).toEqual([]);

    const recoverable = [...past.filter((p) => p.applied >= durable.applied), sm.copy(), durable];
    expect(recoverable.length).toBeGreaterThan(2);
    for (const state of recoverable) {
      const lost = DurableMapStateMachine.from(state);
      const from = lost.applied;
      const restarted = await start(image.clone(), lost);
      await waitFor(() => lost.applied >= lastApplied || restarted.stopped, `catching up from ${from}`);
      // MapStateMachine throws on a re-applied or skipped entry, which would have stopped the node.
      expect(restarted.stopped, `restart from ${from}`).toBe(false);
      expect(lost.dump(), `restart from ${from}`).toBe(final);
      expect(lost.restores, `restart from ${from}: no image needed`).toBe(0);
      // And the node works on: a new write applies on top.
      await waitFor(() => restarted.isLeader(), "the leader again");
      expect(await restarted.propose(enc.encode("after=crash"))).toMatch(/^after@\d+$/);
      await restarted.stop();
    }

    // Behind what it reported durable (its data deleted, say): refused, with the reason.
    const behind = DurableMapStateMachine.from(past.find((p) => p.applied < snapshotIndex)!);
    await expect(start(image.clone(), behind)).rejects.toThrow(/lost state it reported durable/);
  });
});

describe("a volatile state machine after a crash", () => {
  it("starts empty, is restored from the newest image, then replays the WAL", async () => {
    const fs = new MemFileSystem();
    await fs.mkdir("/n1");
    await fs.syncDir("/");
    const sm = new MapStateMachine();
    const n = await start(fs, sm);
    await waitFor(() => n.isLeader(), "a single-node leader");
    for (let i = 1; i <= WRITES; i++) await n.propose(enc.encode(`k${i % 17}=v${i}`));
    const final = sm.dump();
    const lastApplied = sm.applied;
    const snapshotIndex = n.status().snapshotIndex;
    expect(snapshotIndex).toBeGreaterThan(WRITES - 2 * SNAPSHOT_COUNT);
    await waitFor(() => sm.imagesHeld === 0, "images released");
    const image = fs.crashImage({ data: "durable", dirs: "durable" });
    await n.stop();
    expect((await image.readdir("/n1/snap")).some((f) => f.endsWith(".image"))).toBe(true);

    const fresh = new MapStateMachine();
    const restarted = await start(image.clone(), fresh);
    await waitFor(() => fresh.applied >= lastApplied || restarted.stopped, "catching up");
    expect(restarted.stopped).toBe(false);
    expect(fresh.restores).toBe(1);
    expect(fresh.dump()).toBe(final);
  });
});
