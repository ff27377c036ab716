/**
 * The retrying workload (workload.ts, `retryAmbiguous`) and its checker side: a write sent again
 * with its Idempotency-Key after ambiguous answers becomes one history operation from its first
 * call to its definite answer; a write refused as not applied before any ambiguous attempt is left
 * out; one that never gets a definite answer stays ambiguous. A group's transaction is retried the
 * same way. The committed log, merged with the idempotency decoder, counts a keyed write (or
 * transaction) once however many times it was proposed, as the state machine applies it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  decodeCommand,
  decodeIdempotent,
  decodeKvCommand,
  encodeCommand,
  encodeIdempotent,
  encodeTxnCommand,
} from "@tsraft/kv";
import { type Entry, EntryType } from "@tsraft/raft/raftpb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UNKNOWN_RETURN } from "../lincheck/model.js";
import { checkAcknowledgedWrites } from "../lincheck/patch.js";
import { mergeCommittedLogs } from "./committed-log.js";
import { KvClient, type RetryPlan } from "./workload.js";

// A scripted server: per key, the answers of successive attempts (the last one repeats).
let server: Server;
let port: number;
const scripts: Record<string, [number, string][]> = {
  "after-504": [
    [504, JSON.stringify({ code: "Timeout" })],
    [503, JSON.stringify({ code: "NoLeader" })],
    [503, JSON.stringify({ code: "LeaderChanged" })],
    [204, ""],
  ],
  "not-applied": [
    [503, JSON.stringify({ code: "Superseded" })],
    [204, ""],
  ],
  "never-definite": [[504, JSON.stringify({ code: "Timeout" })]],
  // Transactions, by their Idempotency-Key.
  "txn:t-ok": [
    [503, JSON.stringify({ code: "LeaderChanged" })],
    [200, JSON.stringify({ succeeded: true, revision: 3, results: [{ op: "put" }, { op: "put" }] })],
  ],
  "txn:t-failed": [
    [504, JSON.stringify({ code: "Timeout" })],
    [
      200,
      JSON.stringify({
        succeeded: false,
        revision: 3,
        results: [
          { op: "get", kv: { key: "g/a", value: "x-a" } },
          { op: "get", kv: { key: "g/b", value: "x-b" } },
        ],
      }),
    ],
  ],
};
const attempts = new Map<string, number>();
const keysSeen = new Map<string, Set<string>>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const key =
      req.url === "/txn"
        ? `txn:${String(req.headers["idempotency-key"])}`
        : decodeURIComponent((req.url ?? "").slice(4).split("?")[0]!);
    const n = attempts.get(key) ?? 0;
    attempts.set(key, n + 1);
    const seen = keysSeen.get(key) ?? new Set();
    seen.add(String(req.headers["idempotency-key"]));
    keysSeen.set(key, seen);
    const script = scripts[key]!;
    const [status, body] = script[Math.min(n, script.length - 1)]!;
    req.resume();
    res.writeHead(status);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function client(): KvClient {
  let t = 0;
  return new KvClient(7, { nodeOfSlot: () => 1, members: () => [1], httpPort: () => port }, () => ++t, 1000);
}

/** Every attempt to node 1, under Idempotency-Key `key`, for `budgetMs`. */
const toNode1 = (key: string, budgetMs = 60_000): RetryPlan => ({ nodeFor: () => 1, key, budgetMs });

describe("KvClient.executeWithRetries", () => {
  it("retries an ambiguous write with its key until a definite answer: one operation, first call to last answer", async () => {
    const c = client();
    const input = { type: "put" as const, key: "after-504", value: "v" };
    const r = await c.executeWithRetries(input, toNode1("key-1"));
    expect(r.attempts).toBe(4);
    expect(r.kind).toBe("ok");
    // It spans the first attempt's call (the clock's first tick) to the last attempt's answer.
    expect(r.op).toMatchObject({ clientId: 7, input, call: 1, output: { type: "ok" } });
    expect(r.op!.return).toBeGreaterThan(6);
    expect([...keysSeen.get("after-504")!]).toEqual(["key-1"]);
    c.close();
  });

  it("leaves out a write refused as not applied before any ambiguous attempt, without retrying", async () => {
    const c = client();
    const r = await c.executeWithRetries({ type: "put", key: "not-applied", value: "v" }, toNode1("key-2"));
    expect([r.kind, r.attempts, r.op]).toEqual(["failed", 1, undefined]);
    c.close();
  });

  it("keeps a write ambiguous when no attempt within the budget is definite", async () => {
    const c = client();
    const r = await c.executeWithRetries(
      { type: "put", key: "never-definite", value: "v" },
      toNode1("key-3", 5),
    );
    expect(r.kind).toBe("ambiguous");
    expect(r.op?.return).toBe(UNKNOWN_RETURN);
    expect(r.attempts).toBeGreaterThan(1);
    c.close();
  });
});

describe("KvClient.executeGroupWithRetries", () => {
  it("retries an ambiguous transaction with its key: one operation, with the definite answer", async () => {
    const c = client();
    const input = { type: "txn" as const, group: "g", prev: null, value: "t-ok" };
    const r = await c.executeGroupWithRetries(input, toNode1("t-ok"));
    expect([r.kind, r.attempts]).toEqual(["ok", 2]);
    expect(r.op).toMatchObject({ clientId: 7, input, call: 1, output: { type: "succeeded" } });
    expect(r.op!.return).toBeGreaterThan(1);
    // A failed compare answered by the retry is definite too, with what its gets read.
    const f = await c.executeGroupWithRetries({ ...input, value: "t-failed" }, toNode1("t-failed"));
    expect([f.kind, f.attempts, f.op?.output]).toEqual([
      "mismatch",
      2,
      { type: "failed", a: "x-a", b: "x-b" },
    ]);
    c.close();
  });
});

describe("the committed log with idempotency keys", () => {
  const b = (s: string) => new TextEncoder().encode(s);
  let seq = 0;
  const keyedPut = (index: number, idem: string, value: string): Entry => ({
    index,
    term: 1,
    type: EntryType.EntryNormal,
    data: new Uint8Array([
      1,
      1,
      9,
      ++seq,
      ...encodeIdempotent(b(idem), encodeCommand({ op: "put", key: b("x"), value: b(value) })),
    ]),
  });

  it("counts a write proposed three times under one key once, as the state machine applies it", () => {
    const log = [
      keyedPut(1, "w1", "a"),
      keyedPut(2, "w2", "b"),
      keyedPut(3, "w1", "a"),
      keyedPut(4, "w1", "a"),
    ];
    const m = mergeCommittedLogs([{ id: 1, commit: 4, entries: log, error: undefined }], decodeCommand, {
      unwrap: decodeIdempotent,
      window: 100,
    });
    expect(m.writes.map((w) => [w.index, w.value])).toEqual([
      [1, "a"],
      [2, "b"],
    ]);
    expect(m.replays).toBe(2);
    expect(m.duplicateRequests).toEqual([]);
    const acked = {
      clientId: 0,
      input: { type: "put" as const, key: "x", value: "a" },
      call: 0,
      return: 1,
      output: { type: "ok" as const },
    };
    expect(checkAcknowledgedWrites([acked], m.writes).duplicated).toEqual([]);
    // Without the decoder the same log is undecodable: the mode needs it.
    expect(
      mergeCommittedLogs([{ id: 1, commit: 4, entries: log, error: undefined }], decodeCommand).undecodable,
    ).toHaveLength(4);
    // Past the window a key applies again, as in the state machine.
    const late = mergeCommittedLogs([{ id: 1, commit: 4, entries: log, error: undefined }], decodeCommand, {
      unwrap: decodeIdempotent,
      window: 1,
    });
    expect(late.writes.map((w) => w.index)).toEqual([1, 2, 3]);
  });

  it("counts a keyed transaction's retries as replays, and the writes beside it once", () => {
    const txn = encodeTxnCommand({
      compare: [],
      success: [{ op: "put", key: b("g/a"), value: b("t-a") }],
      failure: [],
    });
    const keyedTxn = (index: number): Entry => ({
      index,
      term: 1,
      type: EntryType.EntryNormal,
      data: new Uint8Array([1, 1, 9, ++seq, ...encodeIdempotent(b("t1"), txn)]),
    });
    const log = [keyedTxn(1), keyedPut(2, "w3", "c"), keyedTxn(3), keyedTxn(4)];
    // The runner's decoder (run.ts): single-key writes, and undefined for a transaction.
    const m = mergeCommittedLogs(
      [{ id: 1, commit: 4, entries: log, error: undefined }],
      (payload) => {
        const cmd = decodeKvCommand(payload);
        return cmd.op === "put" || cmd.op === "delete" ? cmd : undefined;
      },
      { unwrap: decodeIdempotent, window: 100 },
    );
    expect([m.replays, m.undecodable, m.writes.map((w) => w.index)]).toEqual([2, [], [2]]);
  });
});
