/**
 * Ranges and transactions on a real 3-node cluster, through the typed client (@tsraft/kv/client):
 * - pages read at one revision are exactly the store as of that revision while writers change the
 *   keys being paged (a model replays every acknowledged write up to that revision);
 * - a counter incremented by 16 clients with compare-and-swap transactions on 3 nodes loses no
 *   update: its final value is the number of transactions that succeeded, and every success saw a
 *   different value.
 */
import { KvClient } from "@tsraft/kv/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_MISSING, Cluster } from "./cluster.js";

let cluster: Cluster | undefined;
let urls: string[] = [];
beforeAll(async () => {
  if (CLI_MISSING) return;
  cluster = await Cluster.start();
  urls = [...cluster.nodes.values()].map((n) => n.url);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

/** A client that starts on node `i` (of 3) and moves on to the others when one fails. */
const clientOn = (i: number) =>
  new KvClient({ endpoints: [0, 1, 2].map((k) => urls[(i + k) % 3]!), attempts: 20, retryDelayMs: 50 });

const pad = (i: number) => String(i).padStart(3, "0");

describe.skipIf(CLI_MISSING)("ranges and transactions on a cluster", () => {
  it("pagination at a fixed revision is stable under concurrent writes", async () => {
    const seed = clientOn(0);
    const KEYS = 300;
    const acked: { revision: number; key: string; value: string | undefined }[] = [];
    for (let i = 0; i < KEYS; i++) {
      const value = `v0-${i}`;
      const { revision } = await seed.put(`p/${pad(i)}`, value);
      acked.push({ revision, key: `p/${pad(i)}`, value });
    }
    // Four writers, each owning the keys ≡ w (mod 4): updates, deletes and new keys, in the range
    // being paged, until the reader is done. Every acknowledged write is recorded with its revision.
    let reading = true;
    const writers = [0, 1, 2, 3].map(async (w) => {
      const kv = clientOn(w);
      const live = new Set<number>();
      for (let i = w; i < KEYS; i += 4) live.add(i);
      for (let n = 0; reading; n++) {
        const i = w + 4 * ((n * 7) % (KEYS / 4));
        const key = `p/${pad(i)}`;
        if (n % 5 === 4 && live.has(i)) {
          const { revision } = await kv.delete(key);
          live.delete(i);
          acked.push({ revision, key, value: undefined });
        } else if (n % 5 === 3) {
          const k = `p/${pad(i)}-new-${n}`;
          const { revision } = await kv.put(k, `new-${n}`);
          acked.push({ revision, key: k, value: `new-${n}` });
        } else {
          const { revision } = await kv.put(key, `v${n}-${i}`);
          live.add(i);
          acked.push({ revision, key, value: `v${n}-${i}` });
        }
      }
    });
    // The reader, on another node, 7 keys a page: the revision is the first page's.
    const reader = clientOn(1);
    const pages: string[][] = [];
    let revision = 0;
    try {
      for await (const page of reader.range({ prefix: "p/", limit: 7 })) {
        revision = page.revision;
        pages.push(page.kvs.map((e) => `${e.key}=${e.text}`));
      }
    } finally {
      reading = false;
      await Promise.all(writers);
    }
    // The store as of `revision`: every acknowledged write up to it, replayed in revision order.
    const model = new Map<string, string>();
    for (const w of [...acked].sort((a, b) => a.revision - b.revision)) {
      if (w.revision > revision) break;
      if (w.value === undefined) model.delete(w.key);
      else model.set(w.key, w.value);
    }
    const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`);
    const writesDuring = acked.filter((w) => w.revision > revision).length;
    console.log(
      `pagination: ${pages.length} pages of ≤7 keys at revision ${revision}, ${expected.length} keys; ` +
        `${writesDuring} writes acknowledged after that revision while paging`,
    );
    expect(pages.flat()).toEqual(expected);
    expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(expected.length / 7));
    // The writers did change the range while it was paged (else this test would prove nothing)...
    expect(writesDuring).toBeGreaterThanOrEqual(20);
    // ...and a one-page read at that revision, now, on a third node, agrees.
    const again: string[] = [];
    for await (const page of clientOn(2).range({ prefix: "p/", revision, limit: 10_000 }))
      again.push(...page.kvs.map((e) => `${e.key}=${e.text}`));
    expect(again).toEqual(expected);
    expect((await clientOn(2).count({ prefix: "p/", revision })).count).toBe(expected.length);
  }, 120_000);

  it("a counter incremented by 16 clients with compare-and-swap transactions loses no update", async () => {
    const CLIENTS = 16;
    const EACH = 8;
    let attempts = 0;
    /** The value each successful transaction wrote, and at which revision. */
    const wrote: { value: number; revision: number }[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const kv = clientOn(c % 3);
        const got = await kv.get("counter");
        let value = got === undefined ? 0 : Number(got.text);
        let mod = got?.modRevision ?? 0;
        for (let i = 0; i < EACH; ) {
          attempts++;
          const r = await kv.txn({
            // A missing key's mod revision is 0: the first increment creates it.
            compare: [{ key: "counter", target: "mod", value: mod }],
            success: [
              { op: "put", key: "counter", value: String(value + 1) },
              { op: "put", key: `inc/${c}/${i}`, value: String(value + 1) },
            ],
            failure: [{ op: "get", key: "counter" }],
          });
          if (r.succeeded) {
            wrote.push({ value: value + 1, revision: r.revision });
            value += 1;
            mod = r.revision;
            i++;
          } else {
            // Someone else moved it: retry from what the failure branch read, in the same revision.
            const cur = r.results[0];
            if (cur?.op !== "get" || cur.kv === undefined) throw new Error("the failure branch read nothing");
            value = Number(cur.kv.text);
            mod = cur.kv.modRevision;
          }
        }
      }),
    );
    const kv = clientOn(0);
    const counter = await kv.get("counter");
    const marks = await kv.count({ prefix: "inc/" });
    console.log(
      `counter: ${CLIENTS} clients × ${EACH} increments = ${Number(counter?.text)} after ${attempts} transactions ` +
        `(${attempts - wrote.length} failed their compare and retried)`,
    );
    expect(Number(counter?.text)).toBe(CLIENTS * EACH);
    expect(marks.count).toBe(CLIENTS * EACH);
    // Every success wrote a different value, 1 to N, and in revision order: no two read the same.
    const byRevision = [...wrote].sort((a, b) => a.revision - b.revision).map((w) => w.value);
    expect(byRevision).toEqual(Array.from({ length: CLIENTS * EACH }, (_, i) => i + 1));
    // The clients did contend (else nothing was tested): some compares failed.
    expect(attempts).toBeGreaterThan(CLIENTS * EACH);
  }, 120_000);
});
