/**
 * Disaster recovery (issue 15, item 5), as an operator does it with real processes: a 3-node
 * cluster under a write load loses two members for good (SIGKILL, data never used again); the
 * survivor (the last leader: it has every acknowledged write committed) is killed too and restarted
 * with `--force-new-cluster`. It then holds every acknowledged write, serves writes as a one-member
 * cluster, and two fresh members (new ids: removed ids are not reused) are added back with
 * `POST /members` + `--join` and catch up to the same state digest. `--force-new-cluster` on an
 * empty data directory is refused with a clear error and creates nothing.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { deriveClusterId } from "../../packages/kv/src/config.js";
import { CLI_MISSING, type Cluster, sharedCluster, waitFor } from "./cluster.js";
import { debugHash, runCli, startLoad, statusOf } from "./ops-kit.js";

describe.skipIf(CLI_MISSING)("--force-new-cluster", () => {
  let c: Cluster;
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-fnc-"));
  sharedCluster({ size: 3, spare: 2 }, (started) => {
    c = started;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("brings back a cluster that lost 2 of 3 members for good, without losing an acknowledged write", async () => {
    const clusterId = deriveClusterId(new Map([1, 2, 3].map((id) => [id, c.peerUrls.get(id)!])));
    const leader = await c.waitForLeader();
    const urls = [1, 2, 3].map((id) => c.node(id).url);
    const load = startLoad("pre", () => urls);
    await waitFor("150 acknowledged writes", async () => load.acks.length >= 150);
    // Two members die for good while writes are in flight; the writes then fail (no quorum).
    const dead = [1, 2, 3].filter((id) => id !== leader);
    await Promise.all(dead.map((id) => c.node(id).kill()));
    await load.stop();
    const acked = load.acks.slice();
    const before = (await statusOf(c.node(leader).url)).kv;
    await c.node(leader).kill();

    const survivor = c.node(leader);
    survivor.args.push("--force-new-cluster");
    survivor.start();
    await waitFor(
      "the survivor to lead a one-member cluster",
      async () => {
        const s = await statusOf(survivor.url);
        return s.state === "StateLeader" && s.members.length === 1 && s.members[0]!.id === leader;
      },
      30_000,
    );
    const after = await statusOf(survivor.url);
    console.log(
      `survivor ${leader}: ${acked.length} writes acknowledged before; applied ${before.appliedIndex} (revision ${before.revision}) before the kill, ${after.kv.appliedIndex} (revision ${after.kv.revision}) after --force-new-cluster`,
    );
    expect(after.kv.revision).toBeGreaterThanOrEqual(acked.length);
    for (const a of acked) {
      const res = await fetch(`${survivor.url}/kv/${a.key}`);
      expect([a.key, res.status, await res.text()]).toEqual([a.key, 200, a.value]);
    }
    // It serves writes.
    expect(await c.put(leader, "after-recovery", "1")).toBe(204);
    // The old ids are removed for good.
    const reuse = await fetch(`${survivor.url}/members`, {
      method: "POST",
      body: JSON.stringify({ id: dead[0], url: c.peerUrls.get(dead[0]!) }),
    });
    expect(reuse.status).toBe(409);

    // Two fresh members join, one after the other, while writes go on.
    const load2 = startLoad("post", () => [survivor.url]);
    let members = `${leader}=${c.peerUrls.get(leader)}`;
    for (const id of [4, 5]) {
      const add = await fetch(`${survivor.url}/members`, {
        method: "POST",
        body: JSON.stringify({ id, url: c.peerUrls.get(id) }),
      });
      expect(add.status, await add.text()).toBe(201);
      members += `,${id}=${c.peerUrls.get(id)}`;
      c.add(id, ["--cluster", members, "--cluster-id", String(clusterId), "--join"]).start();
      const target = (await statusOf(survivor.url)).kv.appliedIndex;
      await c.waitApplied(id, target, 30_000);
    }
    await waitFor("writes with three members", async () => load2.acks.length >= 50);
    await load2.stop();
    const final = (await statusOf(survivor.url)).kv.appliedIndex;
    const hashes = await waitFor("every member at the same state", async () => {
      const hs = await Promise.all([leader, 4, 5].map((id) => debugHash(c.node(id).url)));
      return hs.every((h) => h.appliedIndex === hs[0]!.appliedIndex && h.appliedIndex >= final)
        ? hs
        : undefined;
    });
    console.log(
      `after two joins: ${JSON.stringify(hashes.map((h) => [h.appliedIndex, h.keys, h.hash.slice(0, 12)]))}`,
    );
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    const s = await statusOf(c.node(4).url);
    expect(s.members.map((m) => [m.id, m.learner])).toEqual([
      [leader, false],
      [4, false],
      [5, false],
    ]);
    for (const a of load2.acks.slice(-20)) {
      const res = await fetch(`${c.node(5).url}/kv/${a.key}?consistency=serializable`);
      expect(await res.text()).toBe(a.value);
    }
  });

  it("is refused on an empty data directory, which it leaves absent", async () => {
    const empty = join(dir, "never");
    const r = await runCli([
      "--id",
      "1",
      "--cluster",
      "ws://127.0.0.1:1",
      "--port",
      "0",
      "--data-dir",
      empty,
      "--force-new-cluster",
    ]);
    console.log(`--force-new-cluster on ${empty}: exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--force-new-cluster needs the data directory of a surviving member/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(empty)).toBe(false);
  });
});
