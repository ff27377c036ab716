/**
 * Failover as a client sees it (issue 15, item 7): kill -9 the leader of a 3-node cluster and PUT
 * to a follower at once. The answer comes within two election timeouts — success, or a definite,
 * retryable 503 (LeaderChanged: "may still be applied"; NoLeader/Superseded: "not applied") — not
 * after the whole request timeout. Retried with the same Idempotency-Key until it succeeds, the
 * write is applied exactly once (the store's revision moves by one), and the retry that finds it
 * applied says so (Idempotent-Replayed). A key reused for another request is refused with 422.
 */
import { describe, expect, it } from "vitest";
import { CLI_MISSING, type Cluster, sharedCluster, sleep } from "./cluster.js";

/** FAST_RAFT's election timeout: 20 ticks of 50 ms. */
const ELECTION_MS = 1000;

async function put(url: string, key: string, value: string, idem: string) {
  const t0 = performance.now();
  try {
    const res = await fetch(`${url}/kv/${key}`, {
      method: "PUT",
      body: value,
      headers: { "idempotency-key": idem },
      signal: AbortSignal.timeout(15_000),
    });
    const body = await res.text();
    const code = res.status >= 400 ? ((JSON.parse(body) as { code?: string }).code ?? "") : "";
    return {
      status: res.status,
      code,
      replayed: res.headers.get("idempotent-replayed") === "true",
      ms: performance.now() - t0,
    };
  } catch (e) {
    return {
      status: 0,
      code: String((e as { cause?: { code?: string } }).cause?.code ?? e),
      replayed: false,
      ms: performance.now() - t0,
    };
  }
}

describe.skipIf(CLI_MISSING)("failover: a write to a follower right after the leader is killed", () => {
  let c: Cluster;
  // A long request timeout: an answer within two election timeouts cannot be a timeout.
  sharedCluster({ size: 3, args: ["--request-timeout-ms", "10000"] }, (started) => {
    c = started;
  });

  it("answers within two election timeouts, and the keyed retry applies exactly once", async () => {
    const leader = await c.waitForLeader();
    const follower = [...c.nodes.values()].find((n) => n.id !== leader)!;
    expect(await c.putRetry(follower.id, "warm", "1")).toBe(204);
    const rev0 = (await c.status(follower.id)).kv.revision;

    await c.node(leader).kill();
    const first = await put(follower.url, "fo", "v1", "failover-1");
    console.log(
      `PUT to follower ${follower.id} after SIGKILL of leader ${leader}: ${first.status} ${first.code} in ${first.ms.toFixed(0)} ms (bound ${2 * ELECTION_MS} ms)`,
    );
    expect(first.ms).toBeLessThan(2 * ELECTION_MS);
    if (first.status !== 204) {
      expect(first.status).toBe(503);
      expect(["LeaderChanged", "NoLeader", "Superseded"]).toContain(first.code);
    }

    // Retry with the same key until it succeeds (any surviving node).
    const survivors = [...c.nodes.values()].filter((n) => n.running);
    let last = first;
    const answers = [`${first.status} ${first.code}`];
    for (let i = 0; last.status !== 204 && i < 100; i++) {
      await sleep(100);
      last = await put(survivors[i % survivors.length]!.url, "fo", "v1", "failover-1");
      answers.push(`${last.status} ${last.code}${last.replayed ? " replayed" : ""}`);
    }
    console.log(`attempts: ${answers.join(", ")}`);
    expect(last.status).toBe(204);
    // And once more: surely a replay now.
    const again = await put(survivors[0]!.url, "fo", "v1", "failover-1");
    expect([again.status, again.replayed]).toEqual([204, true]);

    const s = await c.status(survivors[0]!.id);
    await c.waitApplied(survivors[1]!.id, s.kv.appliedIndex);
    for (const n of survivors) {
      expect(await c.get(n.id, "fo")).toEqual([200, "v1"]);
      // The warm-up was the last write before: one write since, however many attempts.
      expect((await c.status(n.id)).kv.revision, `node ${n.id}`).toBe(rev0 + 1);
    }

    // The same key for another request: refused, nothing written.
    const reused = await put(survivors[0]!.url, "fo", "v2", "failover-1");
    expect([reused.status, reused.code]).toEqual([422, "IdempotencyKeyReused"]);
    expect(await c.get(survivors[0]!.id, "fo")).toEqual([200, "v1"]);
  });
});
