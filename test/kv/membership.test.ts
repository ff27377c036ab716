/**
 * Membership through the HTTP API: add a learner that joins with --join and catches up, promote
 * it to voter, remove a voter; the cluster keeps serving writes throughout.
 */
import { describe, expect, it } from "vitest";
import { CLI_MISSING, type Cluster, clusterPerTest, waitFor } from "./cluster.js";

const startCluster = clusterPerTest();

async function members(c: Cluster, id: number) {
  const res = await fetch(`${c.node(id).url}/members`);
  const body = (await res.json()) as { members: { id: number; url: string; learner: boolean }[] };
  return body.members.sort((a, b) => a.id - b.id);
}

describe.skipIf(CLI_MISSING)("membership", () => {
  it("adds a learner, promotes it, removes a voter", async () => {
    const c = await startCluster({ spare: 1 });
    const leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) expect(await c.putRetry(1 + (i % 3), `k${i}`, `v${i}`)).toBe(204);

    // Add node 4 as a learner (through a follower: the conf change is forwarded like any proposal).
    const via = leader === 1 ? 2 : 1;
    const url4 = c.peerUrls.get(4)!;
    const add = await fetch(`${c.node(via).url}/members`, {
      method: "POST",
      body: JSON.stringify({ id: 4, url: url4, learner: true }),
    });
    expect(add.status).toBe(201);
    expect(await add.json()).toEqual({ id: 4, url: url4, learner: true });
    const all = [1, 2, 3, 4].map((id) => c.peerUrls.get(id)).join(",");
    c.add(4, ["--cluster", all, "--join"]).start();
    const commit = (await c.status(leader)).commit;
    await c.waitApplied(4, commit);
    for (let i = 0; i < 20; i++) expect(await c.get(4, `k${i}`, "serializable")).toEqual([200, `v${i}`]);
    expect(await members(c, 4)).toContainEqual({ id: 4, url: url4, learner: true });
    // A learner serves linearizable reads too (ReadIndex through the leader).
    expect(await c.get(4, "k0")).toEqual([200, "v0"]);

    // Promote it: four voters.
    expect((await fetch(`${c.node(leader).url}/members/4/promote`, { method: "POST" })).status).toBe(204);
    await waitFor("node 4 to be a voter everywhere", async () => {
      const lists = await Promise.all([1, 2, 3, 4].map((id) => members(c, id)));
      return lists.every((l) => l.length === 4 && l.every((m) => !m.learner));
    });

    // Remove a voter that is not the leader, and stop it.
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    expect((await fetch(`${c.node(leader).url}/members/${victim}`, { method: "DELETE" })).status).toBe(204);
    await c.node(victim).stop();
    const rest = [1, 2, 3, 4].filter((id) => id !== victim);
    await waitFor("the removal to reach every remaining node", async () => {
      const lists = await Promise.all(rest.map((id) => members(c, id)));
      return lists.every((l) => l.map((m) => m.id).join() === rest.join());
    });
    // Three voters left (the leader, the other founder, node 4): writes still commit, node 4 sees them.
    for (let i = 0; i < 10; i++) expect(await c.putRetry(rest[i % 3]!, `after${i}`, `x${i}`)).toBe(204);
    expect(await c.get(4, "after9")).toEqual([200, "x9"]);

    // Bad membership requests are refused by the real node too.
    const dup = await fetch(`${c.node(leader).url}/members`, {
      method: "POST",
      body: JSON.stringify({ id: 4, url: url4 }),
    });
    expect(dup.status).toBeGreaterThanOrEqual(400);
    expect(dup.status).toBeLessThan(500);
  }, 60_000);
});
