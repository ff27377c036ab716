import { describe, expect, it } from "vitest";
import { checkOperations } from "./checker.js";
import {
  GROUP_SUCCEEDED,
  GROUP_UNKNOWN,
  type GroupInput,
  type GroupOperation,
  type GroupOutput,
  groupModel,
} from "./kv-group-model.js";
import { UNKNOWN_RETURN } from "./model.js";

// Small histories of transactions and ranges on groups, with verdicts worked out by hand.

const txn = (prev: string | null, value: string, group = "g0"): GroupInput => ({
  type: "txn",
  group,
  prev,
  value,
});
const range = (group = "g0"): GroupInput => ({ type: "range", group });
const seen = (a: string | null, b: string | null): GroupOutput => ({ type: "range", a, b });
const failed = (a: string | null, b: string | null): GroupOutput => ({ type: "failed", a, b });
const op = (input: GroupInput, call: number, ret: number, output: GroupOutput): GroupOperation => ({
  clientId: 0,
  input,
  call,
  return: ret,
  output,
});
const verdict = (h: GroupOperation[]) => checkOperations(groupModel, h).outcome;

describe("group model", () => {
  it("a transaction succeeds only from the value it compares (null: the key absent)", () => {
    expect(verdict([op(txn(null, "v1"), 0, 1, GROUP_SUCCEEDED)])).toBe("ok");
    expect(verdict([op(txn("x", "v1"), 0, 1, GROUP_SUCCEEDED)])).toBe("illegal");
    expect(verdict([op(txn("x", "v1"), 0, 1, failed(null, null))])).toBe("ok");
    const h = [op(txn(null, "v1"), 0, 1, GROUP_SUCCEEDED), op(txn("v1-a", "v2"), 2, 3, GROUP_SUCCEEDED)];
    expect(verdict(h)).toBe("ok");
    // A stale compare fails, and its failure branch reads the current pair.
    h.push(op(txn("v1-a", "v3"), 4, 5, failed("v2-a", "v2-b")));
    expect(verdict(h)).toBe("ok");
    h.push(op(txn("v1-a", "v4"), 6, 7, failed("v2-a", "v1-b")));
    expect(verdict(h)).toBe("illegal");
  });

  it("a range sees both keys of one transaction, never one of each (a torn read)", () => {
    const w = [op(txn(null, "v1"), 0, 1, GROUP_SUCCEEDED), op(txn("v1-a", "v2"), 2, 3, GROUP_SUCCEEDED)];
    expect(verdict([...w, op(range(), 4, 5, seen("v2-a", "v2-b"))])).toBe("ok");
    expect(verdict([...w, op(range(), 4, 5, seen("v1-a", "v1-b"))])).toBe("illegal");
    expect(verdict([...w, op(range(), 4, 5, seen("v2-a", "v1-b"))])).toBe("illegal");
    // Concurrent with the second transaction: either pair, still never a torn one.
    expect(verdict([w[0]!, { ...w[1]!, return: 10 }, op(range(), 4, 5, seen("v1-a", "v1-b"))])).toBe("ok");
    expect(verdict([w[0]!, { ...w[1]!, return: 10 }, op(range(), 4, 5, seen("v1-a", "v2-b"))])).toBe(
      "illegal",
    );
  });

  it("an unknown transaction may have applied or not", () => {
    const u = op(txn(null, "v1"), 0, UNKNOWN_RETURN, GROUP_UNKNOWN);
    expect(verdict([u, op(range(), 4, 5, seen("v1-a", "v1-b"))])).toBe("ok");
    expect(verdict([u, op(range(), 4, 5, seen(null, null))])).toBe("ok");
    expect(verdict([u, op(range(), 4, 5, seen("v1-a", null))])).toBe("illegal");
  });

  it("groups are independent", () => {
    const h = [op(txn(null, "v1", "g0"), 0, 1, GROUP_SUCCEEDED), op(range("g1"), 2, 3, seen(null, null))];
    expect(verdict([...h, op(range("g0"), 2, 3, seen("v1-a", "v1-b"))])).toBe("ok");
    expect(verdict([...h, op(range("g1"), 4, 5, seen("v1-a", "v1-b"))])).toBe("illegal");
  });
});
