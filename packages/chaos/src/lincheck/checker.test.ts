import { describe, expect, it } from "vitest";
import { checkOperations } from "./checker.js";
import { type KvInput, type KvOperation, type KvOutput, kvModel, MISMATCH, OK, UNKNOWN } from "./kv-model.js";
import { ILLEGAL, type Model, type Operation, UNKNOWN_RETURN } from "./model.js";
import { describeResult } from "./report.js";

// Small histories with verdicts worked out by hand. Times are abstract integers.

const put = (key: string, value: string): KvInput => ({ type: "put", key, value });
const get = (key: string): KvInput => ({ type: "get", key });
const del = (key: string): KvInput => ({ type: "delete", key });
const cas = (key: string, prev: string, value: string): KvInput => ({ type: "cas", key, prev, value });
const val = (value: string | null): KvOutput => ({ type: "value", value });

function op(clientId: number, input: KvInput, call: number, ret: number, output: KvOutput): KvOperation {
  return { clientId, input, call, return: ret, output };
}

const verdict = (h: KvOperation[]) => checkOperations(kvModel, h).outcome;

describe("kv model, hand-made histories", () => {
  it("accepts the empty history", () => {
    expect(verdict([])).toBe("ok");
  });

  it("accepts sequential put then get of the value; rejects a get of another value", () => {
    expect(verdict([op(0, put("x", "a"), 0, 1, OK), op(1, get("x"), 2, 3, val("a"))])).toBe("ok");
    expect(verdict([op(0, put("x", "a"), 0, 1, OK), op(1, get("x"), 2, 3, val("b"))])).toBe("illegal");
  });

  it("a read before any write sees an absent key", () => {
    expect(verdict([op(0, get("x"), 0, 1, val(null))])).toBe("ok");
    expect(verdict([op(0, get("x"), 0, 1, val("a"))])).toBe("illegal");
  });

  it("a read concurrent with a write may see either value", () => {
    const w = op(0, put("x", "a"), 0, 10, OK);
    expect(verdict([w, op(1, get("x"), 2, 3, val(null))])).toBe("ok");
    expect(verdict([w, op(1, get("x"), 2, 3, val("a"))])).toBe("ok");
  });

  it("rejects a read that goes back in time (new value, then old value, after the write returned)", () => {
    // Both reads overlap the write, but the first sees the new value, so the second (which started
    // after the first finished) must too.
    const h = [
      op(0, put("x", "a"), 0, 1, OK),
      op(0, put("x", "b"), 2, 10, OK),
      op(1, get("x"), 3, 4, val("b")),
      op(2, get("x"), 5, 6, val("a")),
    ];
    expect(verdict(h)).toBe("illegal");
    // Swap the reads' results: the old value first, then the new one — fine.
    expect(verdict([h[0]!, h[1]!, op(1, get("x"), 3, 4, val("a")), op(2, get("x"), 5, 6, val("b"))])).toBe(
      "ok",
    );
  });

  it("operations touching at an instant count as concurrent", () => {
    expect(verdict([op(0, put("x", "a"), 0, 5, OK), op(1, get("x"), 5, 6, val(null))])).toBe("ok");
    expect(verdict([op(0, put("x", "a"), 0, 5, OK), op(1, get("x"), 6, 7, val(null))])).toBe("illegal");
  });

  it("compare-and-swap succeeds only on a match, fails only on a mismatch", () => {
    const w = op(0, put("x", "a"), 0, 1, OK);
    expect(verdict([w, op(1, cas("x", "a", "b"), 2, 3, OK), op(1, get("x"), 4, 5, val("b"))])).toBe("ok");
    expect(verdict([w, op(1, cas("x", "z", "b"), 2, 3, OK)])).toBe("illegal");
    expect(verdict([w, op(1, cas("x", "a", "b"), 2, 3, MISMATCH)])).toBe("illegal");
    expect(verdict([w, op(1, cas("x", "z", "b"), 2, 3, MISMATCH), op(1, get("x"), 4, 5, val("a"))])).toBe(
      "ok",
    );
    // An absent key matches no prev.
    expect(verdict([op(1, cas("x", "a", "b"), 0, 1, MISMATCH)])).toBe("ok");
  });

  it("two concurrent compare-and-swaps from the same value cannot both succeed", () => {
    const h = [
      op(0, put("x", "a"), 0, 1, OK),
      op(1, cas("x", "a", "b"), 2, 5, OK),
      op(2, cas("x", "a", "c"), 2, 5, OK),
    ];
    expect(verdict(h)).toBe("illegal");
    expect(verdict([h[0]!, h[1]!, op(2, cas("x", "a", "c"), 2, 5, MISMATCH)])).toBe("ok");
  });

  it("delete makes the key absent", () => {
    const h = [op(0, put("x", "a"), 0, 1, OK), op(0, del("x"), 2, 3, OK)];
    expect(verdict([...h, op(1, get("x"), 4, 5, val(null))])).toBe("ok");
    expect(verdict([...h, op(1, get("x"), 4, 5, val("a"))])).toBe("illegal");
  });

  it("an operation with an unknown outcome may take effect late, or never", () => {
    const lost = op(0, put("x", "a"), 0, UNKNOWN_RETURN, UNKNOWN);
    // Never took effect.
    expect(verdict([lost, op(1, get("x"), 10, 11, val(null))])).toBe("ok");
    // Took effect long after its client gave up.
    expect(verdict([lost, op(1, get("x"), 10, 11, val(null)), op(1, get("x"), 20, 21, val("a"))])).toBe("ok");
    // But once seen, it cannot be unseen.
    expect(verdict([lost, op(1, get("x"), 10, 11, val("a")), op(1, get("x"), 20, 21, val(null))])).toBe(
      "illegal",
    );
    // And it cannot take effect before it was called.
    expect(verdict([op(1, get("x"), 0, 1, val("a")), op(0, put("x", "a"), 5, UNKNOWN_RETURN, UNKNOWN)])).toBe(
      "illegal",
    );
  });

  it("checks each key on its own: a violation on one key fails the history", () => {
    const h = [
      op(0, put("x", "a"), 0, 1, OK),
      op(1, put("y", "b"), 0, 1, OK),
      op(2, get("x"), 2, 3, val("a")),
      op(3, get("y"), 2, 3, val("a")),
    ];
    const r = checkOperations(kvModel, h);
    expect(r.outcome).toBe("illegal");
    expect(r.partitions.map((p) => [p.name, p.outcome])).toEqual([
      ["x", "ok"],
      ["y", "illegal"],
    ]);
  });

  it("returns a witness linearization for an ok history", () => {
    const h = [
      op(0, put("x", "a"), 0, 10, OK),
      op(1, get("x"), 1, 2, val(null)),
      op(2, get("x"), 3, 4, val("a")),
    ];
    const r = checkOperations(kvModel, h);
    expect(r.outcome).toBe("ok");
    expect(r.partitions[0]!.linearization).toEqual([1, 0, 2]);
  });

  it("explains an illegal history: the longest prefix, its state, and the stuck operations", () => {
    const h = [
      op(0, put("x", "a"), 0, 1, OK),
      op(0, put("x", "b"), 2, 3, OK),
      op(1, get("x"), 4, 5, val("a")),
    ];
    const r = checkOperations(kvModel, h);
    const text = describeResult(kvModel, r, { timeOrigin: 0 });
    expect(text).toContain('partition "x": illegal');
    expect(text).toContain('longest consistent prefix: 2/3 operations, ending in state "b"');
    expect(text).toContain('[client 1 4.0..5.0] get(x) -> "a"   impossible in this state');
  });
});

// A generic register with a deliberately expensive shape: many concurrent writes, then a read that
// no order explains. The memo must keep this polynomial; the budget must turn a runaway into unknown.
describe("search limits", () => {
  const register: Model<number, { w?: number }, number | undefined> = {
    init: () => 0,
    step: (s, input, output) => {
      if (input.w !== undefined) return input.w;
      return output === s ? s : ILLEGAL;
    },
    hash: (s) => s,
    equal: (a, b) => a === b,
    describeOperation: (i, o) => (i.w !== undefined ? `w(${i.w})` : `r -> ${o}`),
    describeState: (s) => String(s),
  };
  const wide = (n: number): Operation<{ w?: number }, number | undefined>[] => [
    ...Array.from({ length: n }, (_, i) => ({
      clientId: i,
      input: { w: i + 1 },
      call: 0,
      return: 100,
      output: undefined,
    })),
    { clientId: n, input: {}, call: 200, return: 201, output: -1 },
  ];

  it("rejects 12 concurrent writes followed by an impossible read without exploring 12! orders", () => {
    const r = checkOperations(register, wide(12));
    expect(r.outcome).toBe("illegal");
    // About 12 * 2^11 configurations (a set of writes and which came last), each tried against the
    // 12 writes: far below 12! = 479,001,600 orders.
    expect(r.partitions[0]!.steps).toBeLessThan(1_000_000);
  });

  it("turns an exhausted time budget into unknown", () => {
    const r = checkOperations(register, wide(22), { timeoutMs: 20 });
    expect(r.outcome).toBe("unknown");
  });
});
