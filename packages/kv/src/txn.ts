/**
 * Transactions (etcd's Txn): compares on any keys, then one list of operations if they all hold
 * (`success`), another if not (`failure`). The state machine runs a transaction when it applies its entry, so it is atomic
 * (nothing runs between its compares and its operations, on any node) and takes one revision
 * (mvcc-store.ts). A compare-and-swap (`PUT /kv/<key>?prev=`) is the transaction "if the value of
 * `key` is `prev` then put, else get" (see {@link casTxn}).
 */
import { CHANGES_PER_REVISION, type KeyValue } from "./mvcc-types.js";

/** What a compare looks at: the value, the version, the mod or create revision, or whether the key exists. */
export type CompareTarget = "value" | "version" | "mod" | "create" | "exists";
/** How a compare compares: the key's target, then the operand. */
export type CompareOp = "=" | "!=" | "<" | ">";

/**
 * One condition on one key. A missing key has version, mod and create revision 0; a compare of its
 * value is false whatever the operator (etcd's rule: there is no value to compare). `exists` takes
 * `=` or `!=` only.
 */
export type Compare =
  | { readonly key: Uint8Array; readonly target: "value"; readonly op: CompareOp; readonly value: Uint8Array }
  | {
      readonly key: Uint8Array;
      readonly target: "version" | "mod" | "create";
      readonly op: CompareOp;
      readonly number: number;
    }
  | {
      readonly key: Uint8Array;
      readonly target: "exists";
      readonly op: "=" | "!=";
      readonly exists: boolean;
    };

/** One operation of a branch. */
export type TxnOp =
  | { readonly op: "put"; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: "delete"; readonly key: Uint8Array }
  | { readonly op: "get"; readonly key: Uint8Array };

/**
 * A transaction: `success` runs if every compare holds (an empty list holds), `failure` otherwise
 * (etcd's names; `then` would make every transaction object a thenable, which `await` calls).
 */
export interface Txn {
  readonly compare: readonly Compare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

/** What one operation did. */
export type TxnOpResult =
  | { readonly op: "put" }
  | { readonly op: "delete"; readonly deleted: boolean }
  /** `kv`: the key as the transaction saw it at that point (after its earlier operations), if present. */
  | { readonly op: "get"; readonly kv: KeyValue | undefined };

/** What a transaction did. */
export interface TxnResult {
  /** Every compare held: `success` ran (else `failure` did). */
  readonly succeeded: boolean;
  /** The store's revision after it: the transaction's own if it changed anything. */
  readonly revision: number;
  readonly results: readonly TxnOpResult[];
}

/** Most compares, and most operations per branch (etcd's --max-txn-ops default is 128). */
export const MAX_TXN_OPS = 128;

/** A transaction that breaks a rule (too many operations, a key written twice in a branch...). */
export class TxnError extends Error {
  override readonly name = "TxnError";
}

/**
 * Throws a {@link TxnError} unless `txn` is one the state machine runs: at most {@link MAX_TXN_OPS}
 * compares and operations per branch, each key put or deleted at most once per branch (a revision
 * changes a key once; gets may repeat), numbers that are non-negative integers.
 */
export function validateTxn(txn: Txn): void {
  if (txn.compare.length > MAX_TXN_OPS) {
    throw new TxnError(`${txn.compare.length} compares, more than the ${MAX_TXN_OPS} allowed`);
  }
  for (const c of txn.compare) {
    if (c.target === "exists" && c.op !== "=" && c.op !== "!=") {
      throw new TxnError(`an exists compare takes = or != (got ${c.op})`);
    }
    if ("number" in c && (!Number.isSafeInteger(c.number) || c.number < 0)) {
      throw new TxnError(`compare operand ${c.number} is not a non-negative integer`);
    }
  }
  for (const [name, ops] of [
    ["success", txn.success],
    ["failure", txn.failure],
  ] as const) {
    if (ops.length > MAX_TXN_OPS) {
      throw new TxnError(`${ops.length} operations in ${name}, more than the ${MAX_TXN_OPS} allowed`);
    }
    const written = new Set<string>();
    for (const o of ops) {
      if (o.op === "get") continue;
      const k = Buffer.from(o.key).toString("hex");
      if (written.has(k)) {
        throw new TxnError(
          `key ${JSON.stringify(Buffer.from(o.key).toString("utf8"))} is written twice in ${name} (a transaction changes a key once)`,
        );
      }
      written.add(k);
    }
  }
  if (Math.max(txn.success.length, txn.failure.length) > CHANGES_PER_REVISION)
    throw new TxnError("too many operations");
}

/** True if neither branch writes: the transaction can be answered from a linearizable read. */
export function isReadOnly(txn: Txn): boolean {
  return txn.success.every((o) => o.op === "get") && txn.failure.every((o) => o.op === "get");
}

/** The compare-and-swap (or compare-and-delete) of `PUT|DELETE /kv/<key>?prev=` as a transaction. */
export function casTxn(write: TxnOp & { op: "put" | "delete" }, prev: Uint8Array): Txn {
  return {
    compare: [{ key: write.key, target: "value", op: "=", value: prev }],
    success: [write],
    failure: [{ op: "get", key: write.key }],
  };
}

/** What a transaction needs from the store: reads now, and writes at one revision. */
export interface TxnStore {
  get(key: Uint8Array): KeyValue | undefined;
  put(key: Uint8Array, value: Uint8Array, revision: number, sub: number): void;
  delete(key: Uint8Array, revision: number, sub: number): boolean;
}

/** `store` for a transaction that only reads (isReadOnly): a write throws. */
export function readOnlyStore(store: Pick<TxnStore, "get">): TxnStore {
  const refuse = (): never => {
    throw new Error("kv: a read-only transaction tried to write");
  };
  return { get: (k) => store.get(k), put: refuse, delete: refuse };
}

/**
 * Runs `txn` against `store`: evaluates the compares, then runs the chosen branch in order, its
 * writes at `revision` (the store's next one), numbered from sub 0. Returns the result with the
 * revision the store is at afterwards (`revision` if something changed, else `revision - 1`).
 */
export function runTxn(store: TxnStore, txn: Txn, revision: number): TxnResult {
  const succeeded = txn.compare.every((c) => holds(c, store.get(c.key)));
  const results: TxnOpResult[] = [];
  let sub = 0;
  for (const o of succeeded ? txn.success : txn.failure) {
    switch (o.op) {
      case "put":
        store.put(o.key, o.value, revision, sub++);
        results.push(PUT_RESULT);
        break;
      case "delete": {
        const deleted = store.delete(o.key, revision, sub);
        if (deleted) sub++;
        results.push(deleted ? DELETED : NOT_DELETED);
        break;
      }
      case "get":
        results.push({ op: "get", kv: store.get(o.key) });
        break;
    }
  }
  return { succeeded, revision: sub > 0 ? revision : revision - 1, results };
}

const PUT_RESULT: TxnOpResult = { op: "put" };
const DELETED: TxnOpResult = { op: "delete", deleted: true };
const NOT_DELETED: TxnOpResult = { op: "delete", deleted: false };

/** Whether compare `c` holds for the key's current state `kv`. */
export function holds(c: Compare, kv: KeyValue | undefined): boolean {
  switch (c.target) {
    case "exists":
      return (kv !== undefined) === c.exists ? c.op === "=" : c.op === "!=";
    case "value":
      return kv === undefined ? false : test(Buffer.compare(kv.value, c.value), c.op);
    case "version":
      return test(Math.sign((kv?.version ?? 0) - c.number), c.op);
    case "mod":
      return test(Math.sign((kv?.modRevision ?? 0) - c.number), c.op);
    case "create":
      return test(Math.sign((kv?.createRevision ?? 0) - c.number), c.op);
  }
}

function test(cmp: number, op: CompareOp): boolean {
  switch (op) {
    case "=":
      return cmp === 0;
    case "!=":
      return cmp !== 0;
    case "<":
      return cmp < 0;
    case ">":
      return cmp > 0;
  }
}
