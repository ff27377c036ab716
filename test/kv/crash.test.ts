/**
 * kill -9 the leader in the middle of a stream of acknowledged writes: a new leader takes over,
 * every write that was answered 204 is readable afterwards, and the killed node, restarted on its
 * data directory, catches up.
 */
import { describe, expect, it } from "vitest";
import { CLI_MISSING, clusterPerTest, sleep } from "./cluster.js";

const startCluster = clusterPerTest();

describe.skipIf(CLI_MISSING)("kill -9 the leader under load", () => {
  it("keeps every acknowledged write, elects a new leader, and the old one catches up", async () => {
    const c = await startCluster();
    const oldLeader = await c.waitForLeader();
    const acked = new Map<string, string>();
    let killedAt = 0;
    let ackedAfterKill = 0;
    let stop = false;
    const writer = async (w: number) => {
      for (let seq = 0; !stop; seq++) {
        // Spread the writes over every node, the doomed leader included.
        const running = c.running();
        const node = running[(w + seq) % running.length]!;
        const key = `w${w}-${seq}`;
        const value = `v-${w}-${seq}`;
        const status = await c.put(node.id, key, value);
        if (status === 204) {
          acked.set(key, value);
          if (killedAt > 0) ackedAfterKill++;
        } else if (status !== 0 && status !== 503 && status !== 504) {
          throw new Error(`unexpected status ${status} for ${key} on node ${node.id}`);
        } else {
          await sleep(50);
        }
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));
    await sleep(1500);
    const ackedBeforeKill = acked.size;
    expect(ackedBeforeKill).toBeGreaterThan(20);
    killedAt = Date.now();
    await c.node(oldLeader).kill();

    const newLeader = await c.waitForLeader();
    expect(newLeader).not.toBe(oldLeader);
    // The survivors keep acknowledging writes under the new leader.
    const until = Date.now() + 15_000;
    while (ackedAfterKill < 50 && Date.now() < until) await sleep(100);
    stop = true;
    await writers;
    expect(ackedAfterKill).toBeGreaterThanOrEqual(50);

    // Every acknowledged write is there, read linearizably from each survivor.
    for (const n of c.running()) {
      const missing: string[] = [];
      const entries = [...acked];
      for (let i = 0; i < entries.length; i += 50) {
        const batch = entries.slice(i, i + 50);
        const got = await Promise.all(batch.map(([k]) => c.get(n.id, k)));
        got.forEach(([status, body], j) => {
          const [k, v] = batch[j]!;
          if (status !== 200 || body !== v) missing.push(`${k}: ${status} ${body}`);
        });
      }
      expect(missing, `node ${n.id}`).toEqual([]);
    }

    // The killed node restarts on its data and catches up with the leader.
    const target = (await c.status(newLeader)).commit;
    c.node(oldLeader).start();
    const s = await c.waitApplied(oldLeader, target);
    expect(s.lead).toBe(newLeader);
    const stale: string[] = [];
    for (const [k, v] of acked) {
      const [status, body] = await c.get(oldLeader, k, "serializable");
      if (status !== 200 || body !== v) stale.push(k);
    }
    expect(stale).toEqual([]);
  }, 60_000);
});
