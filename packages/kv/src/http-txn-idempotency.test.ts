/**
 * `POST /txn` with an `Idempotency-Key` against a one-node stand-in (test/kv-http-kit.ts): a retry
 * answers the first attempt's body and revision with `Idempotent-Replayed: true`; the key on
 * another request gets the answer a `PUT` gets; a malformed key is refused; a read-only
 * transaction records nothing; a result too large to record is refused (422) without applying.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KvHttpKit, startKvHttpKit } from "../test/kv-http-kit.js";

let kit: KvHttpKit;
beforeAll(async () => {
  kit = await startKvHttpKit();
});
afterAll(() => kit.close());

const send = async (method: string, path: string, body: unknown, key?: string) => {
  const r = await fetch(`${kit.base}${path}`, {
    method,
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(key === undefined ? {} : { headers: { "idempotency-key": key } }),
  });
  return {
    status: r.status,
    revision: r.headers.get("x-revision"),
    replayed: r.headers.get("idempotent-replayed"),
    body: await r.text(),
  };
};
const txn = (body: unknown, key?: string) => send("POST", "/txn", body, key);

/** If `a` is absent: put a, get it; else get a. */
const createA = (value: string) => ({
  compare: [{ key: "a", target: "exists", value: false }],
  success: [
    { op: "put", key: "a", value },
    { op: "get", key: "a" },
  ],
  failure: [{ op: "get", key: "a" }],
});

describe("POST /txn with an Idempotency-Key", () => {
  it("applies once: a retry answers the first attempt's body and revision, marked as replayed", async () => {
    const first = await txn(createA("1"), "txn-1");
    expect(first).toMatchObject({ status: 200, replayed: null });
    expect(JSON.parse(first.body)).toMatchObject({
      succeeded: true,
      results: [{ op: "put" }, { op: "get" }],
    });
    await send("PUT", "/kv/a", "changed");
    const revision = kit.sm.revision();
    // Without the key this would fail its compare now (a exists) and read "changed".
    const retry = await txn(createA("1"), "txn-1");
    expect(retry).toEqual({ ...first, replayed: "true" });
    expect(kit.sm.revision()).toBe(revision);
  });

  it("refuses the key on another request with the answer a PUT gets", async () => {
    await txn(createA("2"), "txn-2");
    const byTxn = await txn(createA("3"), "txn-2");
    const byPut = await send("PUT", "/kv/b", "x", "txn-2");
    expect(byTxn.status).toBe(422);
    expect(JSON.parse(byTxn.body)).toMatchObject({ code: "IdempotencyKeyReused" });
    expect({ ...byTxn, revision: null }).toEqual({ ...byPut, revision: null });
    // And a put's key on a transaction.
    await send("PUT", "/kv/c", "1", "put-1");
    expect(await txn(createA("4"), "put-1")).toEqual({ ...byPut, revision: null });
  });

  it("refuses a malformed key as PUT does", async () => {
    const r = await txn(createA("5"), "no spaces");
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: "InvalidIdempotencyKey" });
  });

  it("records nothing for a read-only transaction: no log entry, and the key stays free", async () => {
    const proposals = kit.node.proposals;
    const read = await txn({ success: [{ op: "get", key: "a" }] }, "txn-6");
    expect(read).toMatchObject({ status: 200, replayed: null });
    expect(kit.node.proposals).toBe(proposals);
    const write = await txn({ success: [{ op: "put", key: "d", value: "1" }] }, "txn-6");
    expect(write).toMatchObject({ status: 200, replayed: null });
  });

  it("refuses (422) a transaction whose result is too large to record, applying nothing", async () => {
    const big = "x".repeat(1400 * 1024);
    for (const k of ["v1", "v2", "v3"]) expect((await send("PUT", `/kv/${k}`, big)).status).toBe(204);
    const revision = kit.sm.revision();
    const readAll = {
      success: [
        { op: "put", key: "marker", value: "1" },
        ...["v1", "v2", "v3"].map((key) => ({ op: "get", key })),
      ],
    };
    const r = await txn(readAll, "txn-7");
    expect(r.status).toBe(422);
    const error = JSON.parse(r.body) as { code: string; bytes: number; limit: number };
    expect(error).toMatchObject({ code: "TxnResultTooLarge", limit: 4 * 1024 * 1024 });
    expect(error.bytes).toBeGreaterThan(error.limit);
    expect(kit.sm.revision()).toBe(revision);
    expect(await txn(readAll, "txn-7")).toEqual({ ...r, replayed: "true" });
    // Without a key it runs.
    expect((await txn(readAll)).status).toBe(200);
    expect(kit.sm.revision()).toBe(revision + 1);
  });
});
