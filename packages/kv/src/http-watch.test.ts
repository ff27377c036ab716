/**
 * `GET /watch` against a one-node stand-in: a watch from a revision receives exactly the history
 * (while writes go on), whole revisions marked by `id:`, resumes by Last-Event-ID, the Compacted
 * error, many watchers with different ranges, and a slow consumer cut off with memory bounded.
 * Resuming on another node after a kill: test/kv/watch.test.ts.
 */
import { type IncomingMessage, request } from "node:http";
import { newRandom } from "@tsraft/raft";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { type KvHttpKit, startKvHttpKit } from "../test/kv-http-kit.js";
import { SseParser } from "./client/sse-parser.js";
import { type KeyRange, prefixRange } from "./mvcc-types.js";
import { encodeCompactCommand, encodeTxnCommand } from "./txn-command.js";

let kits: KvHttpKit[] = [];
afterEach(async () => {
  await Promise.all(kits.map((k) => k.close()));
  kits = [];
});
async function kit(options: Parameters<typeof startKvHttpKit>[0] = {}): Promise<KvHttpKit> {
  const k = await startKvHttpKit(options);
  kits.push(k);
  return k;
}

const b = (s: string) => Buffer.from(s);

/** A seeded mix of puts, deletes and transactions over `n` steps (values unique). */
async function writes(k: KvHttpKit, n: number, tag: string): Promise<void> {
  const next = newRandom(0x9e3779b9 ^ tag.length);
  for (let i = 0; i < n; i++) {
    const key = `${next() < 0.5 ? "a/" : "b/"}${Math.floor(next() * 8)}`;
    const p = next();
    if (p < 0.6) await k.node.propose(encodePut(key, `${tag}-${i}`));
    else if (p < 0.8) await fetch(`${k.base}/kv/${key}`, { method: "DELETE" });
    else {
      await k.node.propose(
        encodeTxnCommand({
          compare: [],
          success: [
            { op: "put", key: b(`a/t${i % 3}`), value: b(`${tag}-t${i}`) },
            { op: "delete", key: b(`b/${i % 8}`) },
            { op: "put", key: b(`c/${i % 2}`), value: b(`${tag}-c${i}`) },
          ],
          failure: [],
        }),
      );
    }
  }
}

function encodePut(key: string, value: string): Uint8Array {
  return encodeTxnCommand({
    compare: [],
    success: [{ op: "put", key: b(key), value: b(value) }],
    failure: [],
  });
}

interface Received {
  event: string;
  data: Record<string, unknown>;
  id: string | undefined;
}

/** Opens a watch with fetch; `read(until)` collects events until `until` says stop. */
async function openWatch(base: string, query: string, headers: Record<string, string> = {}) {
  const ac = new AbortController();
  const res = await fetch(`${base}/watch?${query}`, { signal: ac.signal, headers });
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  const reader = res.body!.getReader();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const got: Received[] = [];
  return {
    got,
    async read(until: (e: Received) => boolean): Promise<void> {
      for (;;) {
        const r = await reader.read();
        if (r.done) return;
        for (const e of parser.push(decoder.decode(r.value, { stream: true }))) {
          const rec = { event: e.event, data: JSON.parse(e.data) as Record<string, unknown>, id: e.id };
          got.push(rec);
          if (until(rec)) return;
        }
      }
    },
    close: () => ac.abort(),
  };
}

/** The history as the watch should send it: changes in [from, to] to keys in `range`. */
function expected(k: KvHttpKit, from: number, to: number, range?: KeyRange) {
  return k.sm
    .changes(from, to + 1, range, 100_000)
    .map(
      (c) => `${c.revision}.${c.sub} ${c.value === undefined ? "delete" : "put"} ${c.key} ${c.value ?? ""}`,
    );
}

function shown(events: Received[]) {
  let sub = 0;
  let last = -1;
  return events
    .filter((e) => e.event === "put" || e.event === "delete")
    .map((e) => {
      const rev = Number(e.data.revision);
      sub = rev === last ? sub + 1 : 0;
      last = rev;
      return `${rev}.${sub} ${e.event} ${e.data.key} ${e.data.value ?? ""}`;
    });
}

describe("GET /watch", () => {
  it("from a revision: exactly the history, in order, whole revisions marked by id, while writes go on", async () => {
    const k = await kit();
    await writes(k, 150, "before");
    const all = await openWatch(k.base, "from=1");
    const some = await openWatch(k.base, "prefix=a/&from=40");
    const writing = writes(k, 150, "during");
    await writing;
    const last = k.sm.revision();
    const stop = (e: Received) => e.id !== undefined && Number(e.id) >= last;
    await Promise.all([
      all.read(stop),
      some.read((e) => stop(e) || (e.event === "progress" && Number(e.data.revision) >= last)),
    ]);
    all.close();
    some.close();
    expect(all.got[0]).toMatchObject({ event: "created", data: { from: 1, compactRevision: 0 } });
    // Subs are numbered per revision among the events this watch got: compare (revision, kind, key, value).
    const strip = (xs: string[]) => xs.map((x) => x.replace(/^(\d+)\.\d+/, "$1"));
    expect(strip(shown(all.got))).toEqual(strip(expected(k, 1, last)));
    expect(strip(shown(some.got))).toEqual(strip(expected(k, 40, last, prefixRange(b("a/")))));
    expect(shown(all.got).length).toBeGreaterThan(300);
    // The id is on the last event of each revision, and only there.
    const changes = all.got.filter((e) => e.event === "put" || e.event === "delete");
    changes.forEach((e, i) => {
      const lastOfRevision = i === changes.length - 1 || changes[i + 1]!.data.revision !== e.data.revision;
      expect(e.id, `event ${i}`).toBe(lastOfRevision ? String(e.data.revision) : undefined);
    });
    console.log(
      `watch from revision 1: ${changes.length} events over ${last} revisions, equal to the history; prefix watch from 40: ${shown(some.got).length}`,
    );
  });

  it("resumes by Last-Event-ID exactly where the last whole revision ended", async () => {
    const k = await kit();
    await writes(k, 120, "x");
    const first = await openWatch(k.base, "from=1");
    await first.read((e) => e.id !== undefined && Number(e.id) >= 50);
    first.close();
    const lastId = first.got.filter((e) => e.id !== undefined).at(-1)!.id!;
    const last = k.sm.revision();
    const second = await openWatch(k.base, "from=1", { "last-event-id": lastId });
    await second.read((e) => e.id !== undefined && Number(e.id) >= last);
    second.close();
    expect(second.got[0]!.data.from).toBe(Number(lastId) + 1);
    expect([...shown(first.got), ...shown(second.got)].map((x) => x.replace(/^(\d+)\.\d+/, "$1"))).toEqual(
      expected(k, 1, last).map((x) => x.replace(/^(\d+)\.\d+/, "$1")),
    );
  });

  it("from a compacted revision: an error event that says so, and the stream ends", async () => {
    const k = await kit();
    await writes(k, 30, "y");
    await k.node.propose(encodeCompactCommand(10));
    const w = await openWatch(k.base, "from=10");
    await w.read(() => false);
    expect(w.got.map((e) => e.event)).toEqual(["created", "error"]);
    expect(w.got[1]!.data).toEqual({
      code: "Compacted",
      error: "revision 10 is compacted (the history starts after revision 10)",
      revision: 10,
      compactRevision: 10,
    });
    const ok = await openWatch(k.base, "from=11");
    await ok.read((e) => e.id !== undefined);
    ok.close();
    expect(ok.got[1]!.data.revision).toBe(11);
  });

  it("serves many watchers with different ranges from one read per round", async () => {
    const k = await kit();
    const queries = ["", "prefix=a/", "prefix=b/", "key=a/3", "prefix=c/"];
    const watchers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => openWatch(k.base, `${queries[i % 5]}&from=1`)),
    );
    await writes(k, 200, "many");
    const last = k.sm.revision();
    await Promise.all(
      watchers.map((w) =>
        w.read(
          (e) =>
            (e.id !== undefined && Number(e.id) >= last) ||
            (e.event === "progress" && Number(e.data.revision) >= last),
        ),
      ),
    );
    const ranges: (KeyRange | undefined)[] = [
      undefined,
      prefixRange(b("a/")),
      prefixRange(b("b/")),
      { start: b("a/3"), end: b("a/3\0") },
      prefixRange(b("c/")),
    ];
    watchers.forEach((w, i) => {
      w.close();
      const strip = (xs: string[]) => xs.map((x) => x.replace(/^(\d+)\.\d+/, "$1"));
      expect(strip(shown(w.got)), queries[i % 5]).toEqual(strip(expected(k, 1, last, ranges[i % 5])));
    });
  }, 60_000);

  it("cuts off a consumer that stops reading, with an event saying why, memory bounded meanwhile", async () => {
    const registry = new Registry();
    const k = await kit({ registry, watch: { slowWatcherMs: 500, writeBytes: 64 * 1024, progressMs: 200 } });
    // A client that reads nothing: the response stays paused, so the kernel's buffers fill, then the server's.
    const res = await new Promise<IncomingMessage>((resolve) =>
      request(`${k.base}/watch?from=1`, resolve).end(),
    );
    res.pause();
    const buffered = async () =>
      ((await registry.getSingleMetric("tsraft_kv_watch_buffered_bytes")!.get()).values[0]?.value ??
        0) as number;
    const value = "v".repeat(8 * 1024);
    let maxBuffered = 0;
    const heap0 = process.memoryUsage().heapUsed;
    let maxHeap = heap0;
    let written = 0;
    const sample = async () => {
      maxBuffered = Math.max(maxBuffered, await buffered());
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    };
    for (let i = 0; i < 3000; i++) {
      await k.node.propose(encodePut(`k/${i % 100}`, `${i}-${value}`));
      written += value.length;
      // A turn of the event loop per write, as a server taking requests has: the hub pumps meanwhile.
      await new Promise((r) => setImmediate(r));
      if (i % 20 === 0) await sample();
    }
    const cut = async () =>
      ((await registry.getSingleMetric("tsraft_kv_watch_cutoffs_total")!.get()).values[0]?.value ??
        0) as number;
    for (let waited = 0; (await cut()) === 0 && waited < 10_000; waited += 50) {
      await sample();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await cut()).toBe(1);
    // Now read everything the server had sent: events in order from revision 1, then the error event.
    const parser = new SseParser();
    const events: { event: string; data: Record<string, unknown> }[] = [];
    res.setEncoding("utf8");
    res.resume();
    res.on("data", (text: string) => {
      for (const e of parser.push(text))
        events.push({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> });
    });
    await new Promise<void>((resolve) => res.once("end", () => resolve()));
    const error = events.at(-1)!;
    expect(error.event).toBe("error");
    expect(error.data.code).toBe("SlowWatcher");
    expect(error.data.error).toMatch(/did not read its events for \d+ ms .* resume from revision \d+/);
    const puts = events.filter((e) => e.event === "put").map((e) => Number(e.data.revision));
    expect(puts).toEqual(Array.from({ length: puts.length }, (_, i) => i + 1));
    expect(error.data.revision).toBe(puts.length + 1);
    console.log(
      `slow consumer: ${(written / 2 ** 20).toFixed(1)} MiB of events written while it read nothing; cut off after ${puts.length} events ` +
        `(resume from ${error.data.revision}); server-side buffered at most ${(maxBuffered / 1024).toFixed(0)} KiB; heap grew ${((maxHeap - heap0) / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(maxBuffered).toBeLessThan(1024 * 1024);
    expect(written).toBeGreaterThan(20 * 1024 * 1024);
  }, 60_000);
});
