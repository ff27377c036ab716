/**
 * Transactions: the compare rules (etcd's, for present and missing keys), the validation rules, and
 * the entry encoding of transactions and compactions (round trip, fixed layout, malformed input).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../test/fc.js";
import { CommandDecodeError, encodeCommand } from "./command.js";
import type { KeyValue } from "./mvcc-types.js";
import { type Compare, type CompareOp, holds, type Txn, TxnError, validateTxn } from "./txn.js";
import { decodeKvCommand, encodeCompactCommand, encodeTxnCommand } from "./txn-command.js";

const SEED = 0x7c16;
const b = (s: string) => Buffer.from(s);
const kv: KeyValue = { key: b("k"), value: b("m"), createRevision: 3, modRevision: 7, version: 2 };

describe("compares", () => {
  it("follow etcd's rules on a present key and a missing one", () => {
    const c = (target: Compare["target"], op: CompareOp, operand: string | number | boolean): Compare =>
      target === "value"
        ? { key: b("k"), target, op, value: b(operand as string) }
        : target === "exists"
          ? { key: b("k"), target, op: op as "=" | "!=", exists: operand as boolean }
          : { key: b("k"), target, op, number: operand as number };
    const table: [Compare, boolean, boolean][] = [
      // compare, on kv, on a missing key
      [c("value", "=", "m"), true, false],
      [c("value", "!=", "m"), false, false], // a missing key has no value: every value compare is false
      [c("value", "<", "n"), true, false],
      [c("value", ">", "l"), true, false],
      [c("value", ">", "m"), false, false],
      [c("version", "=", 2), true, false],
      [c("version", "=", 0), false, true], // missing: version 0
      [c("version", ">", 0), true, false],
      [c("mod", "<", 8), true, true],
      [c("mod", "=", 7), true, false],
      [c("create", "=", 3), true, false],
      [c("create", "=", 0), false, true],
      [c("create", "!=", 0), true, false],
      [c("exists", "=", true), true, false],
      [c("exists", "=", false), false, true],
      [c("exists", "!=", true), false, true],
    ];
    for (const [compare, present, missing] of table) {
      const what = `${compare.target} ${compare.op}`;
      expect(holds(compare, kv), `${what} on a present key`).toBe(present);
      expect(holds(compare, undefined), `${what} on a missing key`).toBe(missing);
    }
  });

  it("validation refuses a key written twice in a branch, too many operations, bad operands", () => {
    const put = (k: string) => ({ op: "put" as const, key: b(k), value: b("v") });
    validateTxn({
      compare: [],
      success: [put("a"), { op: "get", key: b("a") }, put("b")],
      failure: [put("a")],
    });
    expect(() =>
      validateTxn({ compare: [], success: [put("a"), { op: "delete", key: b("a") }], failure: [] }),
    ).toThrow(/"a" is written twice in success/);
    expect(() =>
      validateTxn({ compare: [], success: Array.from({ length: 129 }, (_, i) => put(`k${i}`)), failure: [] }),
    ).toThrow(TxnError);
    expect(() =>
      validateTxn({
        compare: [{ key: b("a"), target: "version", op: "=", number: -1 }],
        success: [],
        failure: [],
      }),
    ).toThrow(/not a non-negative integer/);
  });
});

const arbBytes = fc.uint8Array({ maxLength: 12 });
const arbCompare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    key: arbBytes,
    target: fc.constant("value" as const),
    op: fc.constantFrom<CompareOp>("=", "!=", "<", ">"),
    value: arbBytes,
  }),
  fc.record({
    key: arbBytes,
    target: fc.constantFrom("version" as const, "mod" as const, "create" as const),
    op: fc.constantFrom<CompareOp>("=", "!=", "<", ">"),
    number: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  }),
  fc.record({
    key: arbBytes,
    target: fc.constant("exists" as const),
    op: fc.constantFrom("=" as const, "!=" as const),
    exists: fc.boolean(),
  }),
);
/** A branch: gets anywhere, and writes to distinct keys. */
const arbBranch = fc
  .array(
    fc.oneof(
      fc.record({ op: fc.constant("put" as const), key: arbBytes, value: arbBytes }),
      fc.record({ op: fc.constant("delete" as const), key: arbBytes }),
      fc.record({ op: fc.constant("get" as const), key: arbBytes }),
    ),
    { maxLength: 8 },
  )
  .map((ops) => {
    const seen = new Set<string>();
    return ops.filter((o) => {
      if (o.op === "get") return true;
      const k = Buffer.from(o.key).toString("hex");
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  });
const arbTxn: fc.Arbitrary<Txn> = fc.record({
  compare: fc.array(arbCompare, { maxLength: 6 }),
  success: arbBranch,
  failure: arbBranch,
});

/** Byte arrays as plain arrays, so that views and copies compare equal. */
const plain = (v: unknown): unknown =>
  v instanceof Uint8Array
    ? [...v]
    : Array.isArray(v)
      ? v.map(plain)
      : typeof v === "object" && v !== null
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
        : v;

describe("transaction and compaction entries", () => {
  it("round-trip", () => {
    fc.assert(
      fc.property(arbTxn, (txn) => {
        const back = decodeKvCommand(encodeTxnCommand(txn));
        expect(back.op).toBe("txn");
        expect(plain(back)).toEqual(plain({ op: "txn", txn }));
      }),
      { seed: SEED, numRuns: runs(300) },
    );
    expect(decodeKvCommand(encodeCompactCommand(300))).toEqual({ op: "compact", revision: 300 });
    // Version 1's put and delete still decode through the same function.
    expect(plain(decodeKvCommand(encodeCommand({ op: "put", key: b("a"), value: b("1") })))).toEqual(
      plain({ op: "put", key: b("a"), value: b("1") }),
    );
  });

  it("have a fixed layout", () => {
    const bytes = encodeTxnCommand({
      compare: [{ key: b("k"), target: "mod", op: "<", number: 300 }],
      success: [{ op: "put", key: b("k"), value: b("v") }],
      failure: [{ op: "get", key: b("k") }],
    });
    expect([...bytes]).toEqual([
      2, 3, 0, 1, 3, 3, 1, 0x6b, 0xac, 0x02, 1, 1, 1, 0x6b, 1, 0x76, 1, 3, 1, 0x6b,
    ]);
    expect([...encodeCompactCommand(5)]).toEqual([2, 4, 5]);
  });

  it("malformed bytes are refused with a clear error, never read past the end", () => {
    const good = encodeTxnCommand({
      compare: [{ key: b("key"), target: "value", op: "=", value: b("value") }],
      success: [{ op: "put", key: b("key"), value: b("new") }],
      failure: [],
    });
    for (let n = 2; n < good.length; n++) {
      expect(() => decodeKvCommand(good.subarray(0, n)), `truncated at ${n}`).toThrow(CommandDecodeError);
    }
    expect(() => decodeKvCommand(Buffer.concat([good, Buffer.from([0])]))).toThrow(/trailing bytes/);
    expect(() => decodeKvCommand(Uint8Array.of(2, 9))).toThrow(/unknown command op 9/);
    expect(() => decodeKvCommand(Uint8Array.of(2, 3, 1))).toThrow(/unknown transaction flags 1/);
    // A count larger than the bytes left: refused, not allocated for.
    expect(() => decodeKvCommand(Uint8Array.of(2, 3, 0, 0xff, 0xff, 0xff, 0x7f))).toThrow(
      /bad compares count/,
    );
    expect(() => decodeKvCommand(Uint8Array.of(2, 3, 0, 1, 9, 1, 0))).toThrow(/bad compare/);
  });
});
