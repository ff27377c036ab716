import { describe, expect, it } from "vitest";
import type { GroupOperation } from "../lincheck/kv-group-model.js";
import type { KvOperation } from "../lincheck/kv-model.js";
import { UNKNOWN_RETURN } from "../lincheck/model.js";
import { checkWatchStreams, type Row, settleTransactions } from "./watch-check.js";

// The watch checks on hand-made streams: each violation of the module comment is named.

const put = (revision: number, key: string, value: string): Row => ({ revision, kind: "put", key, value });
const del = (revision: number, key: string): Row => ({ revision, kind: "delete", key, value: "" });
const ackedPut = (key: string, value: string): KvOperation => ({
  clientId: 0,
  input: { type: "put", key, value },
  call: 0,
  return: 1,
  output: { type: "ok" },
});
const ackedTxn = (value: string): GroupOperation => ({
  clientId: 0,
  input: { type: "txn", group: "g0", prev: null, value },
  call: 0,
  return: 1,
  output: { type: "succeeded" },
});

const good = [
  put(1, "k1", "a"),
  put(2, "g0/a", "t-a"),
  put(2, "g0/b", "t-b"),
  del(3, "k1"),
  put(4, "k2", "b"),
];
const state = new Map([
  ["g0/a", "t-a"],
  ["g0/b", "t-b"],
  ["k2", "b"],
]);
const history = [ackedPut("k1", "a"), ackedPut("k2", "b")];
const check = (streams: Row[][], s = state) =>
  checkWatchStreams(
    streams.map((rows, i) => ({ node: i + 1, rows, error: undefined })),
    4,
    history,
    [ackedTxn("t")],
    s,
  ).failures;

describe("watch checks", () => {
  it("pass on identical, complete streams that replay to the store", () => {
    expect(check([good, good, [...good, put(5, "late", "x")]])).toEqual([]);
  });

  it("name a gap, a duplicate, a repeated key in a revision, and a stream that stopped short", () => {
    expect(check([good.filter((r) => r.revision !== 3)])[0]).toMatch(
      /revision 4 after .* \(expected revision 3\)/,
    );
    expect(check([[...good.slice(0, 4), good[3]!, good[4]!]])[0]).toMatch(/key k1 twice in revision 3/);
    expect(check([[good[0]!, good[0]!, ...good.slice(1)]])[0]).toMatch(/key k1 twice in revision 1/);
    expect(check([good.slice(0, 4)], new Map([...state].filter(([k]) => k !== "k2")))).toEqual([
      "watch on node 1: stopped at revision 3 of 4",
      "acknowledged put of k2 = b is in no watch event",
    ]);
  });

  it("name two watches that differ, a lost acknowledged write, and a replay that is not the store", () => {
    const other = [...good.slice(0, 4), put(4, "k2", "c")];
    expect(check([good, other])).toContain(
      "watches on nodes 1 and 2 differ at event 4: 4 put k2 b vs 4 put k2 c",
    );
    const torn = [put(1, "k1", "a"), put(2, "g0/a", "t-a"), put(3, "g0/b", "t-b"), del(4, "k1")];
    const f = check(
      [torn],
      new Map([
        ["g0/a", "t-a"],
        ["g0/b", "t-b"],
      ]),
    );
    expect(f).toContain("acknowledged put of k2 = b is in no watch event");
    expect(f.some((x) => /transaction t on g0: .* \(want both, in one revision\)/.test(x))).toBe(true);
    expect(check([good], new Map([...state, ["k3", "z"]]))).toEqual([
      "events replayed to revision 4 give k3 = ∅, the store has z",
    ]);
  });
});

describe("settling ambiguous transactions from the watches", () => {
  it("a delivered one succeeded, an undelivered one leaves the history, the rest are kept", () => {
    const ambiguous = (value: string): GroupOperation => ({
      clientId: 1,
      input: { type: "txn", group: "g0", prev: null, value },
      call: 0,
      return: UNKNOWN_RETURN,
      output: { type: "unknown" },
    });
    const range: GroupOperation = {
      clientId: 2,
      input: { type: "range", group: "g0" },
      call: 0,
      return: 1,
      output: { type: "range", a: null, b: null },
    };
    const h = [ambiguous("t1"), ambiguous("t2"), range, ackedTxn("t3")];
    const delivered = (k: string, v: string) => k === "g0/a" && v === "t1-a";
    const out = settleTransactions(h, delivered);
    expect(out.map((o) => [o.input.type === "txn" ? o.input.value : "range", o.output.type])).toEqual([
      ["t1", "succeeded"],
      ["range", "range"],
      ["t3", "succeeded"],
    ]);
    expect(out[0]!.return).toBe(UNKNOWN_RETURN);
    // Without watches nothing is settled.
    expect(settleTransactions(h, () => undefined)).toEqual(h);
  });
});
