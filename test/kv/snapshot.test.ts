/**
 * A follower stopped while the others write past a compaction catches up by snapshot: the leader
 * streams an image of its SQLite store (a logical dump from a read transaction, never whole in
 * memory), the follower restores it — and then has the leader's `/debug/hash` at the image's
 * index — and takes the rest from the log.
 */
import { describe, expect, it } from "vitest";
import { CLI_MISSING, clusterPerTest } from "./cluster.js";

const startCluster = clusterPerTest();

const SENT = 'tsraft_snapshots_sent_total{result="success"}';
const RECEIVED = 'tsraft_snapshots_received_total{result="success"}';

describe.skipIf(CLI_MISSING)("catch-up by snapshot", () => {
  it("a follower stopped across a compaction receives and restores a snapshot", async () => {
    const c = await startCluster({ args: ["--snapshot-count", "20", "--snapshot-catchup-entries", "5"] });
    const leader = await c.waitForLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    expect(await c.putRetry(leader, "before", "stop")).toBe(204);
    await c.node(follower).stop();

    // Far more than snapshot-count + catch-up entries: the leader's log no longer reaches back.
    for (let i = 0; i < 150; i += 10) {
      const statuses = await Promise.all(
        Array.from({ length: 10 }, (_, j) => c.putRetry(leader, `k${i + j}`, `v${i + j}`)),
      );
      expect(statuses.every((s) => s === 204)).toBe(true);
    }
    const target = (await c.status(leader)).commit;
    // The leader has applied all of it: the image it streams is at `target`.
    await c.waitApplied(leader, target);

    c.node(follower).start();
    await c.waitApplied(follower, target);
    expect(await c.metric(follower, RECEIVED)).toBeGreaterThanOrEqual(1);
    expect(await c.metric(leader, SENT)).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 150; i++) {
      expect(await c.get(follower, `k${i}`, "serializable")).toEqual([200, `v${i}`]);
    }
    expect(await c.get(follower, "before", "serializable")).toEqual([200, "stop"]);
    // Restored from the image the leader streamed at its applied index (nothing was written since):
    // the follower's whole store is the leader's, digest for digest, at that index.
    const restoredAt = (await c.status(follower)).snapshotIndex;
    expect(restoredAt).toBeGreaterThan(0);
    const hash = async (id: number) =>
      (await (await fetch(`${c.node(id).url}/debug/hash`)).json()) as { appliedIndex: number; hash: string };
    const [ours, theirs] = await Promise.all([hash(follower), hash(leader)]);
    expect(ours).toEqual(theirs);
    expect(ours.appliedIndex).toBe(target);
    expect(restoredAt).toBe(target);
    // And it keeps up by log afterwards.
    expect(await c.putRetry(follower, "after", "restore")).toBe(204);
    expect(await c.get(follower, "after", "serializable")).toEqual([200, "restore"]);
  }, 60_000);
});
