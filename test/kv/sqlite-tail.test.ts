/**
 * The KV's SQLite database does not fsync its commits and commits in batches (see
 * packages/kv/src/sqlite-state-machine.ts): after a power loss it may come back as of an earlier
 * commit, but never before its last `sync()`, which every log compaction waits for. Here every
 * node's database files are replaced by copies taken many acknowledged writes earlier — what such a
 * loss leaves when no compaction happened since — and the cluster restarted: every acknowledged
 * write is there on every node, none applied twice (the store's revision counts applied writes),
 * replayed from the Raft WAL. A database older than the last compaction has lost state it reported
 * durable (the WAL no longer holds those entries): the node refuses to start, saying so, as etcd
 * does when its backend is older than its snapshot.
 */
import { cpSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI_MISSING, type Cluster, clusterPerTest } from "./cluster.js";

const startCluster = clusterPerTest();

const IDS = [1, 2, 3];
const kvDir = (c: Cluster, id: number) => join(c.node(id).dataDir, "kv");

/** Acknowledged writes and what the store must hold after them. */
class Expected {
  readonly values = new Map<string, string>();
  /** Writes that changed the store: the revision every node must report. */
  writes = 0;

  async put(c: Cluster, id: number, key: string, value: string): Promise<void> {
    expect(await c.putRetry(id, key, value), `PUT ${key}`).toBe(204);
    this.values.set(key, value);
    this.writes++;
  }

  async delete(c: Cluster, id: number, key: string): Promise<void> {
    const res = await fetch(`${c.node(id).url}/kv/${encodeURIComponent(key)}`, { method: "DELETE" });
    expect(res.status, `DELETE ${key}`).toBe(204);
    if (this.values.delete(key)) this.writes++;
  }
}

/** Waits until every node applied the leader's commit index; returns that index. */
async function settle(c: Cluster): Promise<number> {
  const leader = await c.waitForLeader();
  const commit = (await c.status(leader)).commit;
  for (const id of IDS) await c.waitApplied(id, commit);
  return commit;
}

/** The applied index each node's state machine started from, as its "raft node started" line says. */
function startedFrom(c: Cluster, id: number): number | undefined {
  for (const line of [...c.node(id).output].reverse()) {
    if (!line.includes('"raft node started"')) continue;
    return (JSON.parse(line) as { smApplied: number }).smApplied;
  }
  return undefined;
}

/** Writes, keeps a copy of every database, writes more, kills the nodes and puts the copies back. */
async function revertDatabases(
  snapshotCount: number,
): Promise<{ c: Cluster; want: Expected; oldApplied: number; commit: number }> {
  const c = await startCluster({ args: ["--snapshot-count", String(snapshotCount)] });
  const want = new Expected();
  for (let i = 0; i < 30; i++) await want.put(c, 1 + (i % 3), `key-${i}`, `v1-${i}`);
  const oldApplied = await settle(c);
  // The databases as of now: stop cleanly (which commits) and keep a copy of each.
  await Promise.all(IDS.map((id) => c.node(id).stop()));
  for (const id of IDS) cpSync(kvDir(c, id), `${kvDir(c, id)}.old`, { recursive: true });
  for (const id of IDS) c.node(id).start();
  await c.waitForLeader();

  // Many more acknowledged writes: overwrites, new keys, deletes.
  for (let i = 0; i < 30; i += 2) await want.put(c, 1 + (i % 3), `key-${i}`, `v2-${i}`);
  for (let i = 30; i < 90; i++) await want.put(c, 1 + (i % 3), `key-${i}`, `v2-${i}`);
  for (let i = 1; i < 30; i += 6) await want.delete(c, 1 + (i % 3), `key-${i}`);
  const commit = await settle(c);
  expect(commit).toBeGreaterThan(oldApplied + 80);

  // A power loss that took every database back to the copy: kill, then put the old files back.
  await Promise.all(IDS.map((id) => c.node(id).kill()));
  for (const id of IDS) {
    rmSync(kvDir(c, id), { recursive: true, force: true });
    cpSync(`${kvDir(c, id)}.old`, kvDir(c, id), { recursive: true });
    // SQLite rebuilds its shared-memory index from the WAL file; a stale one must not survive.
    expect(existsSync(join(kvDir(c, id), "kv.sqlite-shm"))).toBe(false);
  }
  return { c, want, oldApplied, commit };
}

async function loseSqliteTail(snapshotCount: number): Promise<{ c: Cluster; oldApplied: number }> {
  const { c, want, oldApplied, commit } = await revertDatabases(snapshotCount);
  for (const id of IDS) c.node(id).start();
  await c.waitForLeader();
  const after = await settle(c);
  expect(after).toBeGreaterThanOrEqual(commit);

  for (const id of IDS) {
    const s = await c.status(id);
    expect(s.kv.revision, `node ${id} revision`).toBe(want.writes);
    expect(s.kv.keys, `node ${id} keys`).toBe(want.values.size);
    for (let i = 0; i < 90; i++) {
      const v = want.values.get(`key-${i}`);
      expect(await c.get(id, `key-${i}`, "serializable"), `node ${id} key-${i}`).toEqual(
        v === undefined ? [404, expect.any(String)] : [200, v],
      );
    }
  }
  return { c, oldApplied };
}

describe.skipIf(CLI_MISSING)("a SQLite database that lost its tail", () => {
  it("is replayed from the Raft WAL: no acknowledged write lost, none applied twice", async () => {
    const { c, oldApplied } = await loseSqliteTail(10_000);
    // Each node started from the old database, and the WAL brought it back.
    for (const id of IDS) expect(startedFrom(c, id), `node ${id}`).toBe(oldApplied);
  }, 90_000);

  it("is refused, with the reason, when it is older than the last compaction", async () => {
    const { c } = await revertDatabases(20);
    for (const id of IDS) c.node(id).start();
    for (const id of IDS) {
      expect(await c.node(id).exitCode(), `node ${id} exits`).not.toBe(0);
      expect(
        c.node(id).output.some((l) => l.includes("a durable state machine lost state it reported durable")),
        `node ${id} says why`,
      ).toBe(true);
    }
  }, 90_000);
});
