/**
 * The whole cluster killed and restarted: all data present, nothing applied twice. Writes are
 * counted by the store's revision (one per applied put, and per delete of a present key), which
 * a double apply would push past the number of acknowledged writes.
 */
import { describe, expect, it } from "vitest";
import { CLI_MISSING, clusterPerTest, waitFor } from "./cluster.js";

const startCluster = clusterPerTest();

describe.skipIf(CLI_MISSING)("whole-cluster restart", () => {
  it("keeps every write exactly once across kill -9 of every node", async () => {
    // A small snapshot count, so a restart replays a snapshot plus a log tail.
    const c = await startCluster({ args: ["--snapshot-count", "25"] });
    await c.waitForLeader();
    const expected = new Map<string, string>();
    let writes = 0;
    for (let i = 0; i < 120; i += 6) {
      const batch = Array.from({ length: 6 }, (_, j) => i + j);
      const statuses = await Promise.all(batch.map((k) => c.putRetry(1 + (k % 3), `key-${k}`, `value-${k}`)));
      expect(statuses).toEqual(batch.map(() => 204));
      for (const k of batch) expected.set(`key-${k}`, `value-${k}`);
      writes += batch.length;
    }
    // Overwrites and deletes count too.
    for (let k = 0; k < 10; k++) {
      expect(await c.putRetry(2, `key-${k}`, `again-${k}`)).toBe(204);
      expected.set(`key-${k}`, `again-${k}`);
      writes++;
    }
    for (let k = 10; k < 20; k++) {
      const res = await fetch(`${c.node(3).url}/kv/key-${k}`, { method: "DELETE" });
      expect(res.status).toBe(204);
      expected.delete(`key-${k}`);
      writes++;
    }
    const leader = await c.waitForLeader();
    const commit = (await c.status(leader)).commit;
    const before = await Promise.all([1, 2, 3].map((id) => c.waitApplied(id, commit)));
    for (const s of before)
      expect(s.kv).toEqual({ appliedIndex: s.kv.appliedIndex, revision: writes, keys: expected.size });

    await Promise.all([1, 2, 3].map((id) => c.node(id).kill()));
    for (const id of [1, 2, 3]) c.node(id).start();
    const newLeader = await c.waitForLeader();
    // The new leader's term starts with an empty entry: everyone applies past the old commit.
    const newCommit = (await c.status(newLeader)).commit;
    expect(newCommit).toBeGreaterThan(commit);
    for (const id of [1, 2, 3]) {
      const s = await c.waitApplied(id, newCommit);
      expect(s.kv.revision, `node ${id} revision`).toBe(writes);
      expect(s.kv.keys, `node ${id} keys`).toBe(expected.size);
      expect(s.kv.appliedIndex).toBeGreaterThanOrEqual(before[id - 1]!.kv.appliedIndex);
      for (const [k, v] of expected) expect(await c.get(id, k, "serializable")).toEqual([200, v]);
      expect((await c.get(id, "key-15", "serializable"))[0]).toBe(404);
    }

    // Without a quorum a write cannot commit: 503 (with Retry-After) once the survivor knows there
    // is no leader, or 504 if it still believed in one; a serializable read still answers.
    const survivor = newLeader === 1 ? 2 : 1;
    await Promise.all([1, 2, 3].filter((id) => id !== survivor).map((id) => c.node(id).kill()));
    const res = await fetch(`${c.node(survivor).url}/kv/lonely`, { method: "PUT", body: "x" });
    expect([503, 504]).toContain(res.status);
    if (res.status === 503) expect(res.headers.get("retry-after")).toBe("1");
    const noLeader = await waitFor("the survivor to answer 503 NoLeader", async () => {
      const r = await fetch(`${c.node(survivor).url}/kv/lonely`, { method: "PUT", body: "x" });
      return r.status === 503 ? r : undefined;
    });
    expect(((await noLeader.json()) as { code: string }).code).toBe("NoLeader");
    expect(await c.get(survivor, "key-30", "serializable")).toEqual([200, "value-30"]);
  }, 60_000);
});
