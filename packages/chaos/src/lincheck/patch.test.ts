import { describe, expect, it } from "vitest";
import { checkOperations } from "./checker.js";
import { type KvInput, type KvOperation, type KvOutput, kvModel, OK, UNKNOWN } from "./kv-model.js";
import { UNKNOWN_RETURN } from "./model.js";
import { type CommittedWrite, checkAcknowledgedWrites, patchKvHistory } from "./patch.js";

const put = (key: string, value: string): KvInput => ({ type: "put", key, value });
const get = (key: string): KvInput => ({ type: "get", key });
const del = (key: string): KvInput => ({ type: "delete", key });
const cas = (key: string, prev: string, value: string): KvInput => ({ type: "cas", key, prev, value });
const val = (value: string | null): KvOutput => ({ type: "value", value });
const op = (input: KvInput, call: number, ret: number, output: KvOutput): KvOperation => ({
  clientId: 0,
  input,
  call,
  return: ret,
  output,
});
const lost = (input: KvInput, call: number): KvOperation => op(input, call, UNKNOWN_RETURN, UNKNOWN);
const logPut = (index: number, key: string, value: string, prev: string | null = null): CommittedWrite => ({
  index,
  type: "put",
  key,
  value,
  prev,
});
const logDel = (index: number, key: string): CommittedWrite => ({
  index,
  type: "delete",
  key,
  value: null,
  prev: null,
});

describe("patchKvHistory", () => {
  it("removes ambiguous writes absent from the log, and ambiguous reads", () => {
    const h = [
      op(put("x", "a"), 0, 1, OK),
      lost(put("x", "b"), 2),
      lost(get("x"), 3),
      lost(cas("x", "a", "c"), 4),
    ];
    const p = patchKvHistory(h, [logPut(1, "x", "a")]);
    expect(p.history).toEqual([h[0]]);
    expect([p.ambiguousBefore, p.removed, p.placed, p.ambiguousAfter]).toEqual([3, 3, 0, 0]);
  });

  it("places an ambiguous write found in the log no later than the next acknowledged write's return", () => {
    const h = [lost(put("x", "b"), 0), op(put("y", "c"), 5, 9, OK), op(put("y", "d"), 10, 20, OK)];
    const p = patchKvHistory(h, [logPut(3, "x", "b"), logPut(4, "y", "c"), logPut(5, "y", "d")]);
    expect(p.history[0]).toEqual({ ...h[0], return: 9, output: OK });
    expect([p.placed, p.ambiguousAfter]).toEqual([1, 0]);
  });

  it("keeps a placed compare-and-swap's outcome for the model to decide", () => {
    const h = [lost(cas("x", "a", "b"), 0), op(put("x", "c"), 5, 9, OK)];
    const p = patchKvHistory(h, [logPut(3, "x", "b", "a"), logPut(4, "x", "c")]);
    expect(p.history[0]).toEqual({ ...h[0], return: 9, output: UNKNOWN });
    // The entry applied on an absent key, so the swap did not happen: a read of b would be illegal.
    expect(checkOperations(kvModel, [...p.history, op(get("x"), 10, 11, val("c"))]).outcome).toBe("ok");
  });

  it("with nothing acknowledged after it, a write in the log stays open-ended", () => {
    const p = patchKvHistory([lost(put("x", "b"), 0)], [logPut(3, "x", "b")]);
    expect(p.history[0]!.return).toBe(UNKNOWN_RETURN);
    expect(p.ambiguousAfter).toBe(1);
  });

  it("settles ambiguous deletes by counting: none applied, all applied, or unknown", () => {
    const h = [
      op(del("x"), 0, 1, OK),
      lost(del("x"), 2),
      lost(del("y"), 2),
      lost(del("z"), 2),
      lost(del("z"), 3),
      op(put("w", "a"), 20, 30, OK),
    ];
    const p = patchKvHistory(h, [logDel(1, "x"), logDel(2, "y"), logDel(3, "z"), logPut(4, "w", "a")]);
    // x: one delete committed, one acknowledged: the ambiguous one never applied (removed).
    // y: one more committed than acknowledged, one ambiguous: it applied, before the put of w returned.
    // z: one more committed, two ambiguous: which one is unknown, both stay ambiguous.
    expect(p.history.map((o) => [o.input.key, o.return])).toEqual([
      ["x", 1],
      ["y", 30],
      ["z", UNKNOWN_RETURN],
      ["z", UNKNOWN_RETURN],
      ["w", 30],
    ]);
    expect(p.history[1]!.output).toEqual(OK);
    expect([p.removed, p.placed, p.ambiguousAfter]).toEqual([1, 1, 2]);
  });

  it("makes a history checkable that a lost-then-found write would otherwise explain wrongly", () => {
    // The read at 10 saw b; without the log the checker may place the ambiguous put anywhere, with it
    // the put must have happened by 9 (before the acknowledged put of c at a later index returned).
    const h = [lost(put("x", "b"), 0), op(put("y", "c"), 5, 9, OK), op(get("x"), 10, 11, val(null))];
    expect(checkOperations(kvModel, h).outcome).toBe("ok");
    const p = patchKvHistory(h, [logPut(3, "x", "b"), logPut(4, "y", "c")]);
    expect(checkOperations(kvModel, p.history).outcome).toBe("illegal");
  });
});

describe("checkAcknowledgedWrites", () => {
  it("passes when every acknowledged write is committed once", () => {
    const h = [op(put("x", "a"), 0, 1, OK), op(cas("x", "a", "b"), 2, 3, OK), op(del("x"), 4, 5, OK)];
    const r = checkAcknowledgedWrites(h, [logPut(1, "x", "a"), logPut(2, "x", "b", "a"), logDel(3, "x")]);
    expect(r).toEqual({
      lostWrites: [],
      lostDeletes: new Map(),
      duplicated: [],
      phantoms: [],
      phantomDeletes: new Map(),
    });
  });

  it("finds lost writes and deletes, duplicates and phantoms", () => {
    const h = [
      op(put("x", "a"), 0, 1, OK),
      op(put("x", "b"), 2, 3, OK),
      op(del("y"), 4, 5, OK),
      lost(put("x", "q"), 6),
    ];
    const r = checkAcknowledgedWrites(h, [logPut(1, "x", "a"), logPut(2, "x", "a"), logPut(3, "x", "zz")]);
    expect(r.lostWrites).toEqual([h[1]]);
    expect(r.lostDeletes).toEqual(new Map([["y", 1]]));
    expect(r.duplicated).toEqual(["a"]);
    expect(r.phantoms).toEqual(["zz"]);
  });

  it("finds deletes committed beyond what clients sent", () => {
    const h = [op(del("x"), 0, 1, OK), lost(del("x"), 2)];
    expect(checkAcknowledgedWrites(h, [logDel(1, "x"), logDel(2, "x")]).phantomDeletes).toEqual(new Map());
    const r = checkAcknowledgedWrites(h, [logDel(1, "x"), logDel(2, "x"), logDel(3, "x")]);
    expect(r.phantomDeletes).toEqual(new Map([["x", 1]]));
  });
});
