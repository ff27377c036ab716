/**
 * The sequential specification of a key-value store with put, get, delete and compare-and-swap, as
 * tsraft-kv's HTTP API offers them, partitioned per key.
 */
import { fnv1aString } from "@tsraft/raft/rafttest";
import { ILLEGAL, type Illegal, type Model, type Operation, partitionBy, UNKNOWN_RETURN } from "./model.js";

/** What a client asked. Values are strings; tests make every written value unique. */
export type KvInput =
  | { readonly type: "put"; readonly key: string; readonly value: string }
  | { readonly type: "get"; readonly key: string }
  | { readonly type: "delete"; readonly key: string }
  /** Compare-and-swap: writes `value` only if the key currently holds `prev` (an absent key never matches). */
  | { readonly type: "cas"; readonly key: string; readonly prev: string; readonly value: string };

/**
 * What the client saw: `ok` (a write applied, HTTP 204), `value` (a read; `null` = absent, HTTP 404),
 * `mismatch` (a compare-and-swap that did not match, HTTP 412) or `unknown` (no answer: the operation
 * may or may not have taken effect).
 */
export type KvOutput =
  | { readonly type: "ok" }
  | { readonly type: "value"; readonly value: string | null }
  | { readonly type: "mismatch" }
  | { readonly type: "unknown" };

/** A key's state: its value, or `null` when absent. */
export type KvState = string | null;

/** One operation of a key-value history. */
export type KvOperation = Operation<KvInput, KvOutput>;

/** Shared output objects (outputs are immutable). */
export const OK: KvOutput = { type: "ok" };
export const MISMATCH: KvOutput = { type: "mismatch" };
export const UNKNOWN: KvOutput = { type: "unknown" };

/** True when the client never learnt the outcome. */
export function isAmbiguous(op: KvOperation): boolean {
  return op.output.type === "unknown" || op.return === UNKNOWN_RETURN;
}

/** FNV-1a over the UTF-16 code units; absent hashes apart from every string. */
function hashState(s: KvState): number {
  return s === null ? 0x7f4a7c15 : fnv1aString(s) | 0;
}

function show(v: string | null): string {
  return v === null ? "∅" : JSON.stringify(v);
}

/**
 * The key-value model. Every output is checked against the key's state; an `unknown` output accepts
 * whatever the operation would do in that state.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => null,
  step(state: KvState, input: KvInput, output: KvOutput): KvState | Illegal {
    switch (input.type) {
      case "put":
        return output.type === "ok" || output.type === "unknown" ? input.value : ILLEGAL;
      case "delete":
        return output.type === "ok" || output.type === "unknown" ? null : ILLEGAL;
      case "get":
        if (output.type === "unknown") return state;
        return output.type === "value" && output.value === state ? state : ILLEGAL;
      case "cas": {
        const matches = state === input.prev;
        if (output.type === "unknown") return matches ? input.value : state;
        if (output.type === "ok") return matches ? input.value : ILLEGAL;
        if (output.type === "mismatch") return matches ? ILLEGAL : state;
        return ILLEGAL;
      }
    }
  },
  hash: hashState,
  equal: (a, b) => a === b,
  partition: (history) => partitionBy(history, (input) => input.key),
  describeOperation(input, output) {
    const out = output.type === "value" ? show(output.value) : output.type === "unknown" ? "?" : output.type;
    switch (input.type) {
      case "put":
        return `put(${input.key}, ${show(input.value)}) -> ${out}`;
      case "get":
        return `get(${input.key}) -> ${out}`;
      case "delete":
        return `delete(${input.key}) -> ${out}`;
      case "cas":
        return `cas(${input.key}, ${show(input.prev)} => ${show(input.value)}) -> ${out}`;
    }
  },
  describeState: show,
};
