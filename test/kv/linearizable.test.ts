/**
 * Linearizable reads: a read that starts after a write's 204 returns that write, from every node
 * (followers included), and right after a leader change — including from a deposed leader that was
 * frozen (SIGSTOP) while the others elected a new one, which must not answer from its stale state.
 */
import { describe, expect, it } from "vitest";
import { CLI_MISSING, clusterPerTest, waitFor } from "./cluster.js";

/** ReadIndex rounds completed by a node (one per batch of concurrent linearizable reads). */
const ROUNDS = 'tsraft_read_index_total{result="success"}';

const startCluster = clusterPerTest();

describe.skipIf(CLI_MISSING)("linearizable reads", () => {
  it("see every acknowledged write from every node, across a leader change", async () => {
    const c = await startCluster();
    const ids = [1, 2, 3];
    const rounds = () => Promise.all(ids.map((id) => c.metric(id, ROUNDS)));
    const before = await rounds();
    for (let i = 0; i < 30; i++) {
      const writer = ids[i % 3]!;
      expect(await c.putRetry(writer, "x", `value-${i}`)).toBe(204);
      const reads = await Promise.all(ids.map((id) => c.get(id, "x")));
      expect(reads, `after write ${i} via node ${writer}`).toEqual(ids.map(() => [200, `value-${i}`]));
    }
    // On localhost a follower usually has the write by the time the client asks, so a stale read
    // is rare even without ReadIndex: check the mechanism too. Every one of those reads, followers
    // included, went through a ReadIndex round of its own (they were issued one at a time per node)...
    const after = await rounds();
    for (const i of ids.keys()) expect(after[i]! - before[i]!).toBeGreaterThanOrEqual(30);
    // ...and a serializable read does not.
    for (const id of ids) expect(await c.get(id, "x", "serializable")).toEqual([200, "value-29"]);
    expect(await rounds()).toEqual(after);

    // Many concurrent reads share ReadIndex rounds, and all see the write before them.
    expect(await c.putRetry(1, "burst", "b")).toBe(204);
    const PER_NODE = 60;
    const burst = await Promise.all(
      Array.from({ length: 3 * PER_NODE }, (_, i) => c.get(ids[i % 3]!, "burst")),
    );
    expect(burst.every(([s, b]) => s === 200 && b === "b")).toBe(true);
    const shared = await rounds();
    ids.forEach((_, i) => {
      expect(shared[i]! - after[i]!).toBeGreaterThanOrEqual(1);
      expect(shared[i]! - after[i]!).toBeLessThan(PER_NODE);
    });

    // Freeze the leader; the others elect a new one and take a write the old leader never saw.
    const old = await c.waitForLeader();
    c.node(old).proc!.kill("SIGSTOP");
    const others = ids.filter((id) => id !== old);
    const key = "after-change";
    await waitFor(
      "a write acknowledged by the new leader",
      async () => (await c.put(others[0]!, key, "new")) === 204,
      30_000,
    );
    for (const id of others) expect(await c.get(id, key)).toEqual([200, "new"]);

    // Thaw the old leader and read from it at once: it may fail (5xx) while it learns it was
    // deposed, but it must never answer from its stale state (404).
    c.node(old).proc!.kill("SIGCONT");
    const stale: string[] = [];
    await waitFor(
      "the old leader to serve the new write",
      async () => {
        const [status, body] = await c.get(old, key);
        if (status === 200 && body === "new") return true;
        if (status > 0 && status < 500) stale.push(`${status} ${body}`);
        return false;
      },
      20_000,
    );
    expect(stale).toEqual([]);
  }, 60_000);
});
