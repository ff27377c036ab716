/**
 * `POST /txn` against a one-node stand-in (test/kv-http-kit.ts): the JSON in and out, one revision
 * per transaction, read-only transactions answered without a log entry, and every bad input
 * refused with what is wrong. Atomicity under concurrent clients on a real cluster:
 * test/kv/txn.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KvHttpKit, startKvHttpKit } from "../test/kv-http-kit.js";

let kit: KvHttpKit;
beforeAll(async () => {
  kit = await startKvHttpKit({ maxRequestBytes: 64 * 1024 });
});
afterAll(() => kit.close());

const txn = async (body: unknown, query = "") => {
  const r = await fetch(`${kit.base}/txn${query}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    status: r.status,
    revision: r.headers.get("x-revision"),
    body: (await r.json()) as Record<string, unknown>,
  };
};

describe("POST /txn", () => {
  it("runs the success branch when every compare holds, the failure branch otherwise, at one revision", async () => {
    await fetch(`${kit.base}/kv/counter`, { method: "PUT", body: "41" });
    const rev = kit.sm.revision();
    const ok = await txn({
      compare: [
        { key: "counter", target: "value", value: "41" },
        { key: "counter", target: "mod", op: "=", value: rev },
        { key: "lock", target: "exists", value: false },
      ],
      success: [
        { op: "put", key: "counter", value: "42" },
        { op: "put", key: "lock", valueBase64: Buffer.from([0xff, 0]).toString("base64") },
        { op: "get", key: "counter" },
        { op: "delete", key: "nothing" },
      ],
      failure: [{ op: "get", key: "counter" }],
    });
    expect(ok).toEqual({
      status: 200,
      revision: String(rev + 1),
      body: {
        succeeded: true,
        revision: rev + 1,
        results: [
          { op: "put" },
          { op: "put" },
          {
            op: "get",
            kv: { key: "counter", value: "42", createRevision: rev, modRevision: rev + 1, version: 2 },
          },
          { op: "delete", deleted: false },
        ],
      },
    });
    // Both puts share the revision.
    expect(kit.sm.getKeyValue(Buffer.from("lock"))?.modRevision).toBe(rev + 1);
    const failed = await txn({
      compare: [{ key: "counter", target: "version", op: "<", value: 2 }],
      success: [{ op: "delete", key: "counter" }],
      failure: [
        { op: "get", key: "lock" },
        { op: "get", key: "absent" },
      ],
    });
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({
      succeeded: false,
      revision: rev + 1,
      results: [
        { op: "get", kv: { key: "lock", valueBase64: "/wA=" } },
        { op: "get", kv: null },
      ],
    });
  });

  it("answers a transaction that only reads from a read barrier, without a log entry", async () => {
    const proposals = kit.node.proposals;
    const reads = kit.node.reads;
    const r = await txn({
      compare: [{ key: "counter", target: "exists", value: true }],
      success: [{ op: "get", key: "counter" }],
    });
    expect(r.body).toMatchObject({ succeeded: true, results: [{ op: "get", kv: { value: "42" } }] });
    expect(kit.node.proposals).toBe(proposals);
    expect(kit.node.reads).toBe(reads + 1);
    await txn({ success: [{ op: "get", key: "counter" }] }, "?consistency=serializable");
    expect(kit.node.reads).toBe(reads + 1);
  });

  it("refuses bad transactions with 400 and what is wrong, changing nothing", async () => {
    const before = kit.sm.revision();
    const cases: [unknown, string, RegExp][] = [
      ["{not json", "InvalidJSON", /not valid JSON/],
      [[], "InvalidTxn", /must be a JSON object/],
      [{ compare: {} }, "InvalidTxn", /compare must be an array/],
      [{ succes: [] }, "InvalidTxn", /unknown field "succes"/],
      [{ compare: [{ key: "a", target: "size", value: 1 }] }, "InvalidTxn", /target must be one of/],
      [{ compare: [{ key: "a", target: "mod", op: "<=", value: 1 }] }, "InvalidTxn", /op must be one of/],
      [{ compare: [{ key: "a", target: "mod", value: "1" }] }, "InvalidTxn", /non-negative integer/],
      [{ compare: [{ key: "a", target: "exists", op: "<", value: true }] }, "InvalidTxn", /= or !=/],
      [{ compare: [{ key: "a", target: "value" }] }, "InvalidJSON", /value must be a string/],
      [{ success: [{ op: "put", key: "a" }] }, "InvalidJSON", /value must be a string/],
      [{ success: [{ op: "put", key: "a", value: "1", valueBase64: "MQ==" }] }, "InvalidJSON", /not both/],
      [{ success: [{ op: "put", key: "a", valueBase64: "**" }] }, "InvalidJSON", /valueBase64, base64/],
      [{ success: [{ op: "put", key: "", value: "1" }] }, "InvalidKey", /empty key/],
      [{ success: [{ op: "put", key: 7, value: "1" }] }, "InvalidKey", /key must be a string/],
      [{ success: [{ op: "put", key: "k".repeat(4097), value: "1" }] }, "KeyTooLong", /4097 bytes/],
      [{ success: [{ op: "patch", key: "a" }] }, "InvalidTxn", /op must be put, delete or get/],
      [{ success: [{ op: "get", key: "a", value: "x" }] }, "InvalidTxn", /unknown field "value"/],
      [
        {
          success: [
            { op: "put", key: "a", value: "1" },
            { op: "delete", key: "a" },
          ],
        },
        "InvalidTxn",
        /"a" is written twice in success/,
      ],
      [
        { failure: Array.from({ length: 129 }, (_, i) => ({ op: "get", key: `k${i}` })) },
        "InvalidTxn",
        /129 operations in failure, more than the 128 allowed/,
      ],
    ];
    for (const [body, code, message] of cases) {
      const r = await txn(body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.code, JSON.stringify(body).slice(0, 80)).toBe(code);
      expect(r.body.error).toMatch(message);
    }
    const writing = await txn(
      { success: [{ op: "put", key: "a", value: "1" }] },
      "?consistency=serializable",
    );
    expect([writing.status, writing.body.code]).toEqual([400, "BadQuery"]);
    expect((await fetch(`${kit.base}/txn`)).status).toBe(405);
    const large = await fetch(`${kit.base}/txn`, { method: "POST", body: "x".repeat(65 * 1024) });
    expect(large.status).toBe(413);
    expect(kit.sm.revision()).toBe(before);
  });

  it("a compare-and-swap (PUT ?prev=) is the transaction it stands for", async () => {
    await fetch(`${kit.base}/kv/cas`, { method: "PUT", body: "a" });
    const ok = await fetch(`${kit.base}/kv/cas?prev=a`, { method: "PUT", body: "b" });
    expect(ok.status).toBe(204);
    const no = await fetch(`${kit.base}/kv/cas?prev=a`, { method: "PUT", body: "c" });
    expect([no.status, await no.json()]).toEqual([
      412,
      { error: "the current value is not prev", code: "CompareFailed", current: "b" },
    ]);
    const same = await txn({
      compare: [{ key: "cas", target: "value", value: "a" }],
      success: [{ op: "put", key: "cas", value: "c" }],
      failure: [{ op: "get", key: "cas" }],
    });
    expect(same.body).toMatchObject({ succeeded: false, results: [{ op: "get", kv: { value: "b" } }] });
  });
});
