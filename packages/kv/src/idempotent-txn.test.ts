/**
 * Transactions with an idempotency key in the state machine (sqlite-idempotency.ts,
 * txn-result-codec.ts): applied once, every retry answered with the first attempt's whole result
 * (gets included, as they were then); the key on another request refused as for a put; a result
 * too large to record refused without applying anything; records of the first release (puts and
 * deletes) still decoded; images carry transaction records, so a restored member answers retries
 * as the source does and hashes the same.
 */
import { describe, expect, it } from "vitest";
import { b, imageOf, keyedEntry, openSm, put, tempDir, text, useSqliteKit } from "../test/sqlite-kit.js";
import { txnResultJson } from "./http-txn.js";
import { decodeResult, encodeResult } from "./idempotency.js";
import type { ApplyResult } from "./sqlite-state-machine.js";
import type { Txn } from "./txn.js";
import { encodeCompactCommand, encodeTxnCommand } from "./txn-command.js";
import { MAX_RECORDED_TXN_RESULT_BYTES } from "./txn-result-codec.js";

useSqliteKit();

const keyedTxn = (index: number, key: string, txn: Txn) => keyedEntry(index, key, encodeTxnCommand(txn));

/** What a client is answered for `r` (http-txn.ts), and whether it was a replay. */
const answer = (r: ApplyResult | undefined) =>
  r?.kind === "txn" ? { json: txnResultJson(r.result), replayed: r.replayed === true } : r;

/** If `a` holds `prev`: put a = `next`, get b, put b = `next`, get b; else get a and b. */
const swap = (prev: string, next: string): Txn => ({
  compare: [{ key: b("a"), target: "value", op: "=", value: b(prev) }],
  success: [
    { op: "put", key: b("a"), value: b(next) },
    { op: "get", key: b("b") },
    { op: "put", key: b("b"), value: b(next) },
    { op: "get", key: b("b") },
  ],
  failure: [
    { op: "get", key: b("a") },
    { op: "get", key: b("b") },
  ],
});

describe("transactions with an idempotency key", () => {
  it("apply once; a retry answers the first result, gets included, after the store moved on", async () => {
    const sm = openSm(tempDir());
    const [, first] = await sm.apply([put(1, "a", "0"), keyedTxn(2, "t1", swap("0", "1"))]);
    expect(first).toMatchObject({ kind: "txn", result: { succeeded: true, revision: 2 } });
    expect(first).not.toHaveProperty("replayed");
    if (first?.kind !== "txn") throw new Error("not a txn result");
    const [before, after] = first.result.results.filter((r) => r.op === "get");
    expect(before).toEqual({ op: "get", kv: undefined });
    expect(after).toMatchObject({ kv: { createRevision: 2, modRevision: 2, version: 1 } });
    // Another write moves b on; the retry, whose compare no longer holds, answers the first result.
    const [, retry] = await sm.apply([put(3, "b", "other"), keyedTxn(4, "t1", swap("0", "1"))]);
    expect(answer(retry)).toEqual({ ...answer(first), replayed: true });
    expect([text(sm.get(b("a"))), text(sm.get(b("b"))), sm.revision()]).toEqual(["1", "other", 3]);
  });

  it("a failed compare is recorded and replayed with the values its gets read then", async () => {
    const sm = openSm(tempDir());
    const [, , first] = await sm.apply([
      put(1, "a", "x"),
      put(2, "b", "y"),
      keyedTxn(3, "t2", swap("0", "1")),
    ]);
    expect(first).toMatchObject({ kind: "txn", result: { succeeded: false, revision: 2 } });
    const [, , retry] = await sm.apply([
      put(4, "a", "0"),
      put(5, "b", "z"),
      keyedTxn(6, "t2", swap("0", "1")),
    ]);
    expect(answer(retry)).toEqual({ ...answer(first), replayed: true });
    if (retry?.kind !== "txn") throw new Error("not a txn result");
    expect(retry.result.results.map((r) => (r.op === "get" ? text(r.kv?.value) : r.op))).toEqual(["x", "y"]);
    // Not applied by the retry either, though its compare now holds.
    expect(text(sm.get(b("a")))).toBe("0");
  });

  it("refuses the key on another request, a transaction or a put, as for puts", async () => {
    const sm = openSm(tempDir());
    await sm.apply([keyedTxn(1, "t3", swap("0", "1"))]);
    const other = await sm.apply([
      keyedTxn(2, "t3", swap("0", "2")),
      keyedEntry(3, "t3", put(0, "a", "3").data),
    ]);
    expect(other).toEqual([{ kind: "key-reused" }, { kind: "key-reused" }]);
    expect(sm.revision()).toBe(0);
  });

  it("a compaction in an envelope is an invalid command, recorded, never run", async () => {
    const sm = openSm(tempDir());
    await sm.apply([put(1, "a", "0"), put(2, "a", "1")]);
    const entry = (index: number) => keyedEntry(index, "c1", encodeCompactCommand(2));
    const [r] = await sm.apply([entry(3)]);
    expect(r).toEqual({ kind: "invalid", error: "a compaction is not an idempotent command" });
    expect(sm.compactRevision()).toBe(0);
    expect(await sm.apply([entry(4)])).toEqual([r]);
  });

  it("refuses, without applying it, a transaction whose result is larger than a record keeps", async () => {
    const big = Buffer.alloc(1536 * 1024, 7); // three: more than MAX_RECORDED_TXN_RESULT_BYTES
    const readAll: Txn = {
      compare: [],
      success: [
        { op: "put", key: b("marker"), value: b("1") },
        ...["v1", "v2", "v3"].map((k) => ({ op: "get" as const, key: b(k) })),
      ],
      failure: [],
    };
    const log = [
      put(1, "v1", big),
      put(2, "v2", big),
      put(3, "v3", big),
      put(4, "before", "1"),
      keyedTxn(5, "t4", readAll),
      put(6, "after", "1"),
    ];
    // In one batch (the refusal rolls back inside it) and one entry at a time: the same state.
    const sm = openSm(tempDir());
    const results = await sm.apply(log);
    const one = openSm(tempDir());
    for (const e of log) await one.apply([e]);
    expect(one.stateHash()).toEqual(sm.stateHash());
    const r = results[4];
    expect(r).toMatchObject({ kind: "txn-too-large" });
    expect(r?.kind === "txn-too-large" && r.bytes).toBeGreaterThan(MAX_RECORDED_TXN_RESULT_BYTES);
    expect(results[5]).toEqual({ kind: "ok", revision: 5 });
    // Nothing of it applied: no marker, and five keys changed five times (the record aside).
    expect(sm.get(b("marker"))).toBeUndefined();
    expect(sm.stateHash()).toMatchObject({ revision: 5, keys: 5, changes: 5 });
    const [again] = await sm.apply([keyedTxn(7, "t4", readAll)]);
    expect(again).toEqual({ ...r, replayed: true });
    expect(sm.revision()).toBe(5);
    // Without a key nothing is recorded, so nothing bounds it.
    const [plain] = await sm.apply([{ index: 8, term: 1, kind: "normal", data: encodeTxnCommand(readAll) }]);
    expect(plain).toMatchObject({ kind: "txn", result: { succeeded: true, revision: 6 } });
  });

  it("records of the first release still decode (result kinds 1 to 3, byte for byte)", () => {
    const ok = Buffer.from("01000000000000002a", "hex");
    expect(decodeResult(ok)).toEqual({ kind: "ok", revision: 42, replayed: true });
    expect(encodeResult({ kind: "ok", revision: 42 })).toEqual(ok);
    const mismatch = Buffer.from("020176", "hex");
    expect(decodeResult(mismatch)).toEqual({
      kind: "compare-failed",
      current: Buffer.from("v"),
      replayed: true,
    });
    expect(encodeResult({ kind: "compare-failed", current: b("v") })).toEqual(mismatch);
    expect(decodeResult(Buffer.from("0200", "hex"))).toMatchObject({ current: undefined });
    expect(decodeResult(Buffer.from("036e6f", "hex"))).toEqual({ kind: "invalid", error: "no" });
    expect(() => decodeResult(Buffer.from([9]))).toThrow(/unknown recorded result kind 9/);
  });

  it("images carry transaction records: a restored member answers retries as the source, same hash", async () => {
    const src = openSm(tempDir());
    await src.apply([
      put(1, "a", "0"),
      keyedTxn(2, "t5", swap("0", "1")),
      keyedTxn(3, "t6", swap("0", "2")), // fails its compare: gets recorded
      put(4, Buffer.from([0xff, 0]), Buffer.from([0, 0xfe])),
    ]);
    const img = await imageOf(src);
    const dst = openSm(tempDir());
    await dst.restore(img.index, img.chunks);
    expect(dst.stateHash()).toEqual(src.stateHash());
    const retries = [keyedTxn(5, "t5", swap("0", "1")), keyedTxn(6, "t6", swap("0", "2"))];
    const fromSrc = await src.apply(retries);
    expect(fromSrc.map((r) => r !== undefined && "replayed" in r && r.replayed)).toEqual([true, true]);
    expect((await dst.apply(retries)).map(answer)).toEqual(fromSrc.map(answer));
    expect(dst.stateHash()).toEqual(src.stateHash());
  });
});
