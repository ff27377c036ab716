/**
 * The typed client against one-node stand-ins (test/kv-http-kit.ts): each call, what it retries and
 * what it refuses to (a write after an ambiguous answer), timeouts and AbortSignal, several
 * endpoints, ranges read at one revision, and watches resuming on another endpoint, or after the
 * server cut off a stalled consumer, without losing or repeating an event. Against a real cluster:
 * test/kv/watch.test.ts, test/kv/range-txn.test.ts.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { rejection } from "../../test/client-kit.js";
import { type KvHttpKit, startKvHttpKit } from "../../test/kv-http-kit.js";
import { closeKvWatches, createKvHttpServer } from "../http.js";
import { encodeTxnCommand } from "../txn-command.js";
import { KvClient, type WatchEvent } from "./index.js";

let kits: KvHttpKit[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    closeKvWatches(s);
    s.closeAllConnections();
    s.close();
  }
  await Promise.all(kits.map((k) => k.close()));
  kits = [];
});
async function kit(): Promise<KvHttpKit> {
  const k = await startKvHttpKit();
  kits.push(k);
  return k;
}

/** A server that accepts requests and never answers. */
async function blackHole(): Promise<string> {
  const s = createServer(() => {});
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe("KvClient", () => {
  it("get, put, delete, compare-and-swap, with revisions", async () => {
    const k = await kit();
    const kv = new KvClient({ endpoints: [k.base] });
    expect(await kv.get("a")).toBeUndefined();
    expect(await kv.put("a", "1")).toEqual({ revision: 1 });
    expect(await kv.put("a", Uint8Array.of(0, 255))).toEqual({ revision: 2 });
    const a = await kv.get("a");
    expect([a?.key, [...a!.value], a?.createRevision, a?.modRevision, a?.version]).toEqual([
      "a",
      [0, 255],
      1,
      2,
      2,
    ]);
    await kv.put("t", "x");
    expect((await kv.put("t", "y", { prev: "x" })).revision).toBe(4);
    const e = await rejection(kv.put("t", "z", { prev: "x" }));
    expect([e.code, e.status, e.details.current]).toEqual(["CompareFailed", 412, "y"]);
    expect((await kv.delete("t")).revision).toBe(5);
    expect((await kv.get("t", { serializable: true }))?.text).toBeUndefined();
    expect((await rejection(kv.put("k".repeat(5000), "v"))).code).toBe("KeyTooLong");
  });

  it("ranges: pages read at the first page's revision, whatever is written between them", async () => {
    const k = await kit();
    const kv = new KvClient({ endpoints: [k.base] });
    for (let i = 0; i < 25; i++) await kv.put(`r/${String(i).padStart(2, "0")}`, `v${i}`);
    const pages: string[][] = [];
    let revision = 0;
    for await (const page of kv.range({ prefix: "r/", limit: 10 })) {
      pages.push(page.kvs.map((x) => `${x.key}=${x.text}`));
      revision = page.revision;
      // Writes between pages: a new key, a changed one, a deleted one, all in pages not read yet.
      await kv.put("r/99", "late");
      await kv.put("r/20", "changed");
      await kv.delete("r/24");
    }
    expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(pages.flat()).toEqual(
      Array.from({ length: 25 }, (_, i) => `r/${String(i).padStart(2, "0")}=v${i}`),
    );
    expect(revision).toBe(25);
    // 9 writes between the pages, two of them deletes of a key already deleted (no revision).
    expect(await kv.count({ prefix: "r/" })).toEqual({ revision: 32, count: 25 });
    expect(await kv.count({ prefix: "r/", revision: 25 })).toEqual({ revision: 25, count: 25 });
    const keysOnly = [];
    for await (const p of kv.range({ from: "r/20", to: "r/23", keysOnly: true })) keysOnly.push(...p.kvs);
    expect(keysOnly.map((x) => [x.key, x.value.length, x.version])).toEqual([
      ["r/20", 0, 4],
      ["r/21", 0, 1],
      ["r/22", 0, 1],
    ]);
  });

  it("transactions, a read-only one retried like a read", async () => {
    const k = await kit();
    const kv = new KvClient({ endpoints: [k.base] });
    await kv.put("n", "1");
    const r = await kv.txn({
      compare: [
        { key: "n", target: "value", value: "1" },
        { key: "n", target: "version", op: ">", value: 0 },
      ],
      success: [
        { op: "put", key: "n", value: "2" },
        { op: "put", key: "bytes", value: Uint8Array.of(1, 2, 3) },
        { op: "get", key: "n" },
      ],
      failure: [{ op: "get", key: "n" }],
    });
    expect(r.succeeded).toBe(true);
    expect(r.revision).toBe(2);
    const got = r.results[2];
    expect(got?.op === "get" && got.kv?.text).toBe("2");
    expect([...(await kv.get("bytes"))!.value]).toEqual([1, 2, 3]);
    k.node.failNext = { code: "Timeout", times: 1 };
    // Read-only: no proposal, so the injected failure is not even reached.
    const read = await kv.txn({ success: [{ op: "get", key: "missing" }] });
    expect(read.results).toEqual([{ op: "get", kv: undefined }]);
  });

  it("retries a write only when it surely did not happen; otherwise Ambiguous, never repeated", async () => {
    const k = await kit();
    const [closedPort] = await freePorts(1);
    const kv = new KvClient({ endpoints: [`http://127.0.0.1:${closedPort}`, k.base], retryDelayMs: 1 });
    // Connection refused on the first endpoint (nothing sent): retried on the second.
    expect((await kv.put("a", "1")).revision).toBe(1);
    // 503 NoLeader twice: nothing was proposed, retried (the third attempt of three succeeds).
    const one = new KvClient({ endpoints: [k.base], retryDelayMs: 1 });
    const before = k.node.proposals;
    k.node.failNext = { code: "NoLeader", times: 2 };
    expect((await one.put("a", "2")).revision).toBe(2);
    expect(k.node.proposals - before).toBe(3);
    k.node.failNext = { code: "TooManyRequests", times: 3 };
    expect((await rejection(one.put("a", "x"))).code).toBe("Unavailable");
    // 503 Stopped, 504: the write may have applied: not retried.
    for (const code of ["Stopped", "Timeout"]) {
      const n = k.node.proposals;
      k.node.failNext = { code, times: 1 };
      const e = await rejection(kv.put("a", "3"));
      expect([e.code, e.ambiguous, e.details.code]).toEqual(["Ambiguous", true, code]);
      expect(e.message).toMatch(/the write may have applied/);
      expect(k.node.proposals - n).toBe(1);
    }
    // A write to a node that takes the request and never answers: Ambiguous after the timeout.
    const hole = await blackHole();
    const slow = new KvClient({ endpoints: [hole, k.base], timeoutMs: 200 });
    const e = await rejection(slow.put("a", "4"));
    expect(e.code).toBe("Ambiguous");
    expect(e.message).toMatch(/no answer within 200 ms/);
    // A read there is retried on the next endpoint.
    expect((await slow.get("a"))?.text).toBe("2");
  });

  it("a read gives up with Unavailable; a call obeys its AbortSignal", async () => {
    const hole = await blackHole();
    const kv = new KvClient({ endpoints: [hole], timeoutMs: 100, attempts: 3, retryDelayMs: 1 });
    const t0 = performance.now();
    const e = await rejection(kv.get("a"));
    expect(e.code).toBe("Unavailable");
    expect(e.message).toMatch(/no answer after 3 attempts/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    const ac = new AbortController();
    const p = new KvClient({ endpoints: [hole] }).get("a", { signal: ac.signal });
    ac.abort(new Error("changed my mind"));
    await expect(p).rejects.toThrow("changed my mind");
  });

  it("a watch resumes on the next endpoint when its node goes away, losing and repeating nothing", async () => {
    const k = await kit();
    // A second HTTP server on the same state machine: another "node" with the same history.
    const other = createKvHttpServer({
      node: k.node,
      store: k.sm,
      logger: pino({ level: "silent" }),
      registry: new Registry(),
    });
    servers.push(other);
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const kv = new KvClient({ endpoints: [k.base, otherUrl], retryDelayMs: 10 });
    for (let i = 0; i < 20; i++) await kv.put(`w/${i % 4}`, `before-${i}`);
    const resumes: string[] = [];
    const ac = new AbortController();
    const events: WatchEvent[] = [];
    const watching = (async () => {
      for await (const e of kv.watch({
        prefix: "w/",
        from: 5,
        signal: ac.signal,
        onResume: (r) => resumes.push(`${r.endpoint === otherUrl ? "other" : "first"} from ${r.from}`),
      })) {
        events.push(e);
        if (e.revision === 60) ac.abort();
      }
    })();
    for (let i = 20; i < 40; i++) await kv.put(`w/${i % 4}`, `during-${i}`);
    await expect.poll(() => events.length, { timeout: 5000 }).toBeGreaterThanOrEqual(35);
    // The first node goes away mid-stream.
    closeKvWatches(k.server);
    k.server.closeAllConnections();
    // Writes go on through the other node (the first one's connections were just cut).
    const writer = new KvClient({ endpoints: [otherUrl] });
    await writer.txn({
      success: [
        { op: "put", key: "w/a", value: "t1" },
        { op: "put", key: "w/b", value: "t2" },
      ],
    });
    for (let i = 41; i <= 60; i++) await writer.put(`w/${i % 4}`, `after-${i}`);
    await watching;
    expect(resumes.length).toBe(1);
    expect(resumes[0]).toMatch(/^other from (3[6-9]|4[01])$/);
    const history = k.sm.changes(5, 61, undefined, 1000).map((c) => `${c.revision} ${c.key} ${c.value}`);
    expect(events.map((e) => `${e.revision} ${e.key} ${Buffer.from(e.value)}`)).toEqual(history);
  });

  it("a watch whose consumer stalls is cut off by the server (SlowWatcher) and resumes, losing nothing", async () => {
    const registry = new Registry();
    const k = await startKvHttpKit({
      registry,
      watch: { slowWatcherMs: 300, writeBytes: 64 * 1024, progressMs: 200 },
    });
    kits.push(k);
    const cutoffs = async () =>
      ((await registry.getSingleMetric("tsraft_kv_watch_cutoffs_total")!.get()).values[0]?.value ??
        0) as number;
    const value = "v".repeat(8 * 1024);
    const put = (i: number) =>
      k.node.propose(
        encodeTxnCommand({
          compare: [],
          success: [{ op: "put", key: Buffer.from(`s/${i % 50}`), value: Buffer.from(`${i}-${value}`) }],
          failure: [],
        }),
      );
    const kv = new KvClient({ endpoints: [k.base], retryDelayMs: 10 });
    const resumes: string[] = [];
    const ac = new AbortController();
    const revisions: number[] = [];
    let stalled = false;
    const TOTAL = 3000;
    const watching = (async () => {
      for await (const e of kv.watch({
        prefix: "s/",
        from: 1,
        signal: ac.signal,
        onResume: (r) => resumes.push(r.reason),
      })) {
        revisions.push(e.revision);
        if (new TextDecoder().decode(e.value) !== `${e.revision - 1}-${value}`)
          throw new Error(`event ${e.revision}: wrong value`);
        if (e.revision === 10 && !stalled) {
          // The consumer stops reading (the stream's bytes pile up in the socket buffers) until the
          // server has cut it off; the writes go on meanwhile.
          stalled = true;
          await expect.poll(cutoffs, { timeout: 30_000, interval: 50 }).toBe(1);
        }
        if (e.revision === TOTAL) break;
      }
    })();
    for (let i = 0; i < TOTAL; i++) {
      await put(i);
      // A turn of the event loop per write, as a server taking requests has: the hub pumps meanwhile.
      await new Promise((r) => setImmediate(r));
    }
    await watching;
    expect(resumes.length).toBeGreaterThanOrEqual(1);
    expect(resumes[0]).toMatch(/^SlowWatcher: .*did not read its events/);
    // Every revision once, in order, across the cut-off and the resume.
    expect(revisions).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  }, 60_000);
});
