/**
 * `GET /kv?...` (ranges) against a one-node stand-in: prefixes and from/to, pages and their
 * cursor, keys_only and count_only, reads at a past revision (and 410 once compacted), and every
 * bad query refused. Pagination under concurrent writes on a real cluster: test/kv/range.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KvHttpKit, startKvHttpKit } from "../test/kv-http-kit.js";
import { encodeCompactCommand } from "./txn-command.js";

let kit: KvHttpKit;
beforeAll(async () => {
  kit = await startKvHttpKit();
  for (const k of ["a", "app/1", "app/2", "app/3", "apq", "b", "b\u00e9"]) {
    await fetch(`${kit.base}/kv/${encodeURIComponent(k)}`, { method: "PUT", body: `v-${k}` });
  }
});
afterAll(() => kit.close());

const range = async (query: string) => {
  const r = await fetch(`${kit.base}/kv?${query}`);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const keys = (body: Record<string, unknown>) => (body.kvs as { key: string }[]).map((kv) => kv.key);

describe("GET /kv (ranges)", () => {
  it("selects by prefix, by from/to, or everything, in key order, with revisions", async () => {
    const all = await range("");
    expect(all.status).toBe(200);
    expect(keys(all.body)).toEqual(["a", "app/1", "app/2", "app/3", "apq", "b", "b\u00e9"]);
    expect(all.body).toMatchObject({ revision: 7, more: false });
    expect((all.body.kvs as unknown[])[1]).toEqual({
      key: "app/1",
      value: "v-app/1",
      createRevision: 2,
      modRevision: 2,
      version: 1,
    });
    expect(keys((await range("prefix=app/")).body)).toEqual(["app/1", "app/2", "app/3"]);
    expect(keys((await range("prefix=ap")).body)).toEqual(["app/1", "app/2", "app/3", "apq"]);
    expect(keys((await range("from=app/2&to=b")).body)).toEqual(["app/2", "app/3", "apq"]);
    expect(keys((await range("from=apq")).body)).toEqual(["apq", "b", "b\u00e9"]);
    expect(keys((await range(`prefix=${encodeURIComponent("b\u00e9")}`)).body)).toEqual(["b\u00e9"]);
    expect(keys((await range("prefix=zzz")).body)).toEqual([]);
  });

  it("pages with limit and after, and says where the next page starts", async () => {
    const first = await range("limit=3");
    expect(keys(first.body)).toEqual(["a", "app/1", "app/2"]);
    expect(first.body).toMatchObject({ more: true, next: "app/2" });
    const second = await range(`limit=3&after=${encodeURIComponent(String(first.body.next))}`);
    expect(keys(second.body)).toEqual(["app/3", "apq", "b"]);
    const third = await range("limit=3&after=b");
    expect(keys(third.body)).toEqual(["b\u00e9"]);
    expect(third.body.more).toBe(false);
    expect(third.body.next).toBeUndefined();
  });

  it("keys_only and count_only; linearizable unless serializable", async () => {
    const reads = kit.node.reads;
    expect((await range("prefix=app/&keys_only")).body.kvs).toEqual([
      { key: "app/1", createRevision: 2, modRevision: 2, version: 1 },
      { key: "app/2", createRevision: 3, modRevision: 3, version: 1 },
      { key: "app/3", createRevision: 4, modRevision: 4, version: 1 },
    ]);
    expect((await range("prefix=ap&count_only=true")).body).toEqual({ revision: 7, count: 4 });
    expect(kit.node.reads).toBe(reads + 2);
    expect((await range("count_only&consistency=serializable")).body).toEqual({ revision: 7, count: 7 });
    expect(kit.node.reads).toBe(reads + 2);
  });

  it("reads at a past revision, consistently across pages, until it is compacted", async () => {
    const at = kit.sm.revision();
    await fetch(`${kit.base}/kv/app/2`, { method: "DELETE" });
    await fetch(`${kit.base}/kv/app/0`, { method: "PUT", body: "new" });
    await fetch(`${kit.base}/kv/app/3`, { method: "PUT", body: "changed" });
    expect(keys((await range("prefix=app/")).body)).toEqual(["app/0", "app/1", "app/3"]);
    const old = await range(`prefix=app/&revision=${at}&limit=2`);
    expect(old.body).toMatchObject({ revision: at, more: true });
    expect(keys(old.body)).toEqual(["app/1", "app/2"]);
    const rest = await range(`prefix=app/&revision=${at}&limit=2&after=app/2`);
    expect(rest.body.kvs).toEqual([
      { key: "app/3", value: "v-app/3", createRevision: 4, modRevision: 4, version: 1 },
    ]);
    expect((await range(`prefix=app/&revision=${at}&count_only`)).body).toEqual({ revision: at, count: 3 });
    const future = await range(`revision=${kit.sm.revision() + 1}`);
    expect([future.status, future.body.code]).toEqual([400, "FutureRevision"]);
    // Compacted past it: 410, saying where the history starts.
    await kit.node.propose(encodeCompactCommand(at + 1));
    const gone = await range(`prefix=app/&revision=${at}`);
    expect(gone).toEqual({
      status: 410,
      body: {
        code: "Compacted",
        error: `revision ${at} is compacted (the history starts after revision ${at + 1})`,
        revision: at,
        compactRevision: at + 1,
      },
    });
    expect((await range(`prefix=app/&revision=${at + 1}`)).status).toBe(200);
  });

  it("refuses bad queries with 400 and what is wrong", async () => {
    const cases: [string, RegExp][] = [
      ["prefix=a&from=a", /prefix, or from and to, not both/],
      ["to=b", /to needs from/],
      ["limit=0", /limit must be an integer from 1 to 10000/],
      ["limit=10001", /limit/],
      ["limit=abc", /limit/],
      ["revision=0", /revision must be an integer from 1/],
      ["revision=-3", /revision/],
      ["keys_only=maybe", /keys_only is a flag/],
      ["consistency=eventual", /consistency must be/],
      ["after=", /after is empty/],
      ["prefx=a", /unknown query parameter "prefx"/],
      [`prefix=${"k".repeat(4097)}`, /prefix is 4097 bytes/],
    ];
    for (const [query, message] of cases) {
      const r = await range(query);
      expect(r.status, query.slice(0, 40)).toBe(400);
      expect(r.body.error, query.slice(0, 40)).toMatch(message);
    }
    expect((await fetch(`${kit.base}/kv`, { method: "POST" })).status).toBe(405);
  });
});
