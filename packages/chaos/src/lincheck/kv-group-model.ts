/**
 * The sequential specification of tsraft-kv's multi-key operations, on groups of two keys
 * (`<group>/a` and `<group>/b`): a transaction that compares `a`'s value and, if it matches, writes
 * both keys (else reads both, in the same revision), and a range over the group read a page at a
 * time at one revision. Partitioned per group: groups share no key with each other or with the
 * single keys of kv-model.ts, so each part is checked on its own (P-compositionality).
 *
 * Only these transactions write a group, always both keys with values made from one unique value,
 * so a read that sees `a` from one transaction and `b` from another (a torn transaction or a torn
 * range) has no linearization.
 */
import { FNV1A_OFFSET, fnv1aString, fnv1aUnit } from "@tsraft/raft/rafttest";
import { ILLEGAL, type Illegal, type Model, type Operation, partitionBy, UNKNOWN_RETURN } from "./model.js";

/** What a client asked of a group. */
export type GroupInput =
  /**
   * If `<group>/a` holds `prev` (or, for `prev` null, does not exist): put a = `${value}-a`,
   * b = `${value}-b`; else get both.
   */
  | { readonly type: "txn"; readonly group: string; readonly prev: string | null; readonly value: string }
  /** `GET /kv?prefix=<group>/`, one key per page, the second page at the first page's revision. */
  | { readonly type: "range"; readonly group: string };

/**
 * What the client saw: a transaction that `succeeded`, or that failed its compare and read `a` and
 * `b` (null = absent); a range's `a` and `b`; or `unknown` (a transaction without an answer).
 */
export type GroupOutput =
  | { readonly type: "succeeded" }
  | { readonly type: "failed"; readonly a: string | null; readonly b: string | null }
  | { readonly type: "range"; readonly a: string | null; readonly b: string | null }
  | { readonly type: "unknown" };

/** A group's state: both keys' values (null = absent). */
export interface GroupState {
  readonly a: string | null;
  readonly b: string | null;
}

/** One operation of a group history. */
export type GroupOperation = Operation<GroupInput, GroupOutput>;

export const GROUP_UNKNOWN: GroupOutput = { type: "unknown" };
export const GROUP_SUCCEEDED: GroupOutput = { type: "succeeded" };

/** The values a successful transaction writes. */
export function groupValues(value: string): GroupState {
  return { a: `${value}-a`, b: `${value}-b` };
}

/** True when the client never learnt the outcome. */
export function isGroupAmbiguous(op: GroupOperation): boolean {
  return op.output.type === "unknown" || op.return === UNKNOWN_RETURN;
}

/** `h` extended by `s` and a separator; absent (a marker unit) hashes apart from every string. */
function hashString(s: string | null, h: number): number {
  return s === null ? fnv1aUnit(0x7f4a7c15, h) : fnv1aUnit(0xff, fnv1aString(s, h));
}

const show = (v: string | null) => (v === null ? "∅" : JSON.stringify(v));
const showState = (s: GroupState) => `a=${show(s.a)} b=${show(s.b)}`;
const same = (s: GroupState, a: string | null, b: string | null) => s.a === a && s.b === b;

/** The group model. */
export const groupModel: Model<GroupState, GroupInput, GroupOutput> = {
  init: () => ({ a: null, b: null }),
  step(state: GroupState, input: GroupInput, output: GroupOutput): GroupState | Illegal {
    if (input.type === "range") {
      if (output.type === "unknown") return state;
      return output.type === "range" && same(state, output.a, output.b) ? state : ILLEGAL;
    }
    const matches = state.a === input.prev;
    switch (output.type) {
      case "unknown":
        return matches ? groupValues(input.value) : state;
      case "succeeded":
        return matches ? groupValues(input.value) : ILLEGAL;
      case "failed":
        return !matches && same(state, output.a, output.b) ? state : ILLEGAL;
      default:
        return ILLEGAL;
    }
  },
  hash: (s) => hashString(s.b, hashString(s.a, FNV1A_OFFSET)) | 0,
  equal: (x, y) => x.a === y.a && x.b === y.b,
  partition: (history) => partitionBy(history, (input) => input.group),
  describeOperation(input, output) {
    const out =
      output.type === "unknown"
        ? "?"
        : output.type === "succeeded"
          ? "succeeded"
          : `${output.type} ${showState(output)}`;
    return input.type === "range"
      ? `range(${input.group}/) -> ${out}`
      : `txn(${input.group}: a = ${show(input.prev)} ? put ${show(input.value)}-a/-b) -> ${out}`;
  },
  describeState: showState,
};
