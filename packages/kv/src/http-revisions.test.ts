/**
 * Revisions over HTTP: `GET /kv/<key>` answers the key's create and mod revision and version and
 * the store's revision in headers; writes answer the revision they made (or found) in X-Revision.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type KvHttpKit, startKvHttpKit } from "../test/kv-http-kit.js";

let kit: KvHttpKit;
beforeAll(async () => {
  kit = await startKvHttpKit();
});
afterAll(() => kit.close());

const headersOf = (r: Response) =>
  Object.fromEntries(
    ["x-revision", "x-create-revision", "x-mod-revision", "x-version"].map((h) => [h, r.headers.get(h)]),
  );

describe("revisions in headers", () => {
  it("GET /kv/<key> carries the key's revisions and the store's; writes their revision", async () => {
    const put = (key: string, value: string, query = "") =>
      fetch(`${kit.base}/kv/${key}${query}`, { method: "PUT", body: value });
    expect((await put("a", "1")).headers.get("x-revision")).toBe("1");
    expect((await put("b", "1")).headers.get("x-revision")).toBe("2");
    expect((await put("a", "2")).headers.get("x-revision")).toBe("3");
    const cas = await put("a", "3", "?prev=2");
    expect([cas.status, cas.headers.get("x-revision")]).toEqual([204, "4"]);
    const get = await fetch(`${kit.base}/kv/a`);
    expect(await get.text()).toBe("3");
    expect(headersOf(get)).toEqual({
      "x-revision": "4",
      "x-create-revision": "1",
      "x-mod-revision": "4",
      "x-version": "3",
    });
    // A delete of an absent key changes nothing: the revision it answers is the store's.
    const del = await fetch(`${kit.base}/kv/nothing`, { method: "DELETE" });
    expect([del.status, del.headers.get("x-revision")]).toEqual([204, "4"]);
    expect((await fetch(`${kit.base}/kv/a`, { method: "DELETE" })).headers.get("x-revision")).toBe("5");
    expect((await put("a", "again")).headers.get("x-revision")).toBe("6");
    expect(headersOf(await fetch(`${kit.base}/kv/a?consistency=serializable`))).toEqual({
      "x-revision": "6",
      "x-create-revision": "6",
      "x-mod-revision": "6",
      "x-version": "1",
    });
  });
});
