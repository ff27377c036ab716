/**
 * The typed client's idempotency keys against a one-node stand-in (test/kv-http-kit.ts): a keyed
 * put, delete or transaction whose answer is lost after it applied is sent again and answered from
 * the record (`replayed`), applied once; without a key the same loss is `Ambiguous`, never
 * retried; a keyed write that never gets a definite answer is `Ambiguous`; a reused key is refused.
 */
import { afterEach, describe, expect, it } from "vitest";
import { rejection } from "../../test/client-kit.js";
import { type KvHttpKit, startKvHttpKit } from "../../test/kv-http-kit.js";
import { KvClient } from "./index.js";

let kits: KvHttpKit[] = [];
afterEach(async () => {
  await Promise.all(kits.map((k) => k.close()));
  kits = [];
});

/**
 * A client over a fresh stand-in whose fetch loses the answer of the first `lose` requests after
 * the server answered them (a reset on the way back: the write applied). `sent` lists the
 * Idempotency-Key of every request.
 */
async function lossy(lose: number) {
  const kit = await startKvHttpKit();
  kits.push(kit);
  const sent: (string | null)[] = [];
  let lost = 0;
  const fetchLosing: typeof fetch = async (input, init) => {
    sent.push(new Headers(init?.headers).get("idempotency-key"));
    const res = await fetch(input, init);
    const body = await res.arrayBuffer();
    if (lost++ < lose) throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
    return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers });
  };
  const kv = new KvClient({ endpoints: [kit.base], fetch: fetchLosing, retryDelayMs: 1, attempts: 3 });
  return { kit, kv, sent };
}

describe("KvClient with idempotency keys", () => {
  it("sends a keyed put again after a lost answer: answered from the record, applied once", async () => {
    const { kit, kv, sent } = await lossy(1);
    expect(await kv.put("a", "1", { idempotencyKey: "put-1" })).toEqual({ revision: 1, replayed: true });
    expect(sent).toEqual(["put-1", "put-1"]);
    expect(kit.sm.revision()).toBe(1);
    expect(await kv.delete("a", { idempotencyKey: "del-1" })).toEqual({ revision: 2 });
  });

  it("a keyed transaction's retry answers its first result, gets included", async () => {
    const { kit, kv } = await lossy(1);
    const t = {
      compare: [{ key: "n", target: "exists" as const, value: false }],
      success: [
        { op: "put" as const, key: "n", value: "1" },
        { op: "get" as const, key: "n" },
      ],
      failure: [{ op: "get" as const, key: "n" }],
    };
    const r = await kv.txn(t, { idempotencyKey: "txn-1" });
    // Without the record the retry would have failed its compare (n exists after the first).
    expect(r.succeeded).toBe(true);
    expect(r.replayed).toBe(true);
    const got = r.results[1];
    expect(got?.op === "get" && [got.kv?.text, got.kv?.modRevision]).toEqual(["1", 1]);
    expect(kit.sm.revision()).toBe(1);
  });

  it("without a key the same loss is Ambiguous and not retried", async () => {
    const { kv, sent } = await lossy(1);
    const e = await rejection(kv.put("a", "1"));
    expect([e.code, sent.length]).toEqual(["Ambiguous", 1]);
  });

  it("a keyed write with no definite answer in its attempts is Ambiguous; the same key later is safe", async () => {
    const { kit, kv, sent } = await lossy(3);
    const e = await rejection(kv.put("a", "1", { idempotencyKey: "put-2" }));
    expect(e.code).toBe("Ambiguous");
    expect(e.message).toMatch(/send it again with the same idempotency key/);
    expect(sent).toEqual(["put-2", "put-2", "put-2"]);
    expect(await kv.put("a", "1", { idempotencyKey: "put-2" })).toEqual({ revision: 1, replayed: true });
    expect(kit.sm.revision()).toBe(1);
  });

  it("refuses a key used for another request", async () => {
    const { kv } = await lossy(0);
    await kv.put("a", "1", { idempotencyKey: "k" });
    const e = await rejection(kv.txn({ success: [{ op: "delete", key: "a" }] }, { idempotencyKey: "k" }));
    expect([e.code, e.status]).toEqual(["IdempotencyKeyReused", 422]);
  });
});
