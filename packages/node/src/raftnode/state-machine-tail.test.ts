/**
 * The contract that lets a state machine skip its own fsync (the KV's SQLite runs with
 * `synchronous=NORMAL` and commits in batches, as etcd's backend does): after a crash, a state
 * machine that lost any tail of what it had applied — back to some earlier applied index, however
 * far — is brought back by the node to every committed entry, each applied exactly once and in
 * order: from the WAL when the entries after its applied index are still there, from the latest
 * snapshot (then the WAL) when they were compacted away.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { MapStateMachine, MemNetwork, waitFor } from "../../test/raftnode/harness.js";
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

/** What the state machine would still hold after losing everything it applied past `sm.applied`. */
function copy(sm: MapStateMachine): MapStateMachine {
  const c = new MapStateMachine();
  for (const [k, v] of sm.data) c.data.set(k, v);
  c.applied = sm.applied;
  return c;
}

describe("a state machine that lost the tail of what it applied", () => {
  it("is caught up from the WAL or the latest snapshot, each entry applied once, none lost", async () => {
    const fs = new MemFileSystem();
    // The data directory exists (durably) before the node's first start, as an operator makes it.
    await fs.mkdir("/n1");
    await fs.syncDir("/");
    const sm = new MapStateMachine();
    const n = await start(fs, sm);
    await waitFor(() => n.isLeader(), "a single-node leader");
    // The states the state machine passes through, some of which a crash will take it back to.
    const past: MapStateMachine[] = [copy(sm)];
    for (let i = 1; i <= WRITES; i++) {
      // Acknowledged: applied on this node, so committed, so durable in its WAL.
      await n.propose(enc.encode(`k${i % 17}=v${i}`));
      if (i % 10 === 3 || i > WRITES - 3) past.push(copy(sm));
    }
    const final = sm.dump();
    const lastApplied = sm.applied;
    const snapshotIndex = n.status().snapshotIndex;
    expect(snapshotIndex).toBeGreaterThan(WRITES - 2 * SNAPSHOT_COUNT);

    // A power loss now: the WAL and snapshot files as of their last fsync (every write above was
    // acknowledged, so all of it is there); the state machine goes back to one of its past states.
    const image = fs.crashImage({ data: "durable", dirs: "durable" });
    await n.stop();
    const firstInWal = Math.min(
      ...(await image.readdir("/n1/wal"))
        .map((f) => parseSegmentName(f))
        .filter((s) => s !== undefined)
        .map((s) => s.index),
    );
    // The WAL no longer holds the early entries: those states can only come back through the snapshot.
    expect(past.filter((p) => p.applied < firstInWal).length).toBeGreaterThan(2);
    expect(past.filter((p) => p.applied > snapshotIndex).length).toBeGreaterThan(0);

    for (const lost of [...past, copy(sm)]) {
      const from = lost.applied;
      const restarted = await start(image.clone(), lost);
      await waitFor(() => lost.applied >= lastApplied || restarted.stopped, `catching up from ${from}`);
      // MapStateMachine throws on a re-applied or skipped entry, which would have stopped the node.
      expect(restarted.stopped, `restart from ${from}`).toBe(false);
      expect(lost.dump(), `restart from ${from}`).toBe(final);
      // Restored from the snapshot exactly when it was behind it.
      expect(lost.restores, `restart from ${from}`).toBe(from < snapshotIndex ? 1 : 0);
      // And the node works on: a new write applies on top.
      await waitFor(() => restarted.isLeader(), "the leader again");
      expect(await restarted.propose(enc.encode("after=crash"))).toMatch(/^after@\d+$/);
      await restarted.stop();
    }
  });
});
