/**
 * The small helpers etcd users rely on around raft.proto's types: emptiness and equality tests,
 * ConfState equivalence, MarshalConfChange, and the names etcd's enum String() methods print.
 */
import { type ConfChangeI, isConfChangeV2 } from "./confchange.js";
import { encodeConfChange, encodeConfChangeV2 } from "./encode.js";
import {
  ConfChangeTransition,
  ConfChangeType,
  type ConfState,
  EMPTY_BYTES,
  EntryType,
  type HardState,
  MessageType,
  type Snapshot,
} from "./types.js";

/** True if the two HardStates hold the same term, vote and commit. */
export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * True if `hs` is absent or all zero: a Ready with an empty HardState has nothing to persist
 * (etcd's `IsEmptyHardState`).
 */
export function isEmptyHardState(hs: HardState | undefined): boolean {
  return hs === undefined || (hs.term === 0 && hs.vote === 0 && hs.commit === 0);
}

/**
 * True if `snap` is absent or has index 0: no snapshot to apply (etcd's `IsEmptySnap`, which looks
 * only at the metadata's index).
 */
export function isEmptySnap(snap: Snapshot | undefined): boolean {
  return snap === undefined || snap.metadata.index === 0;
}

/**
 * Whether two ConfStates describe the same configuration: the same ids in each of the four sets
 * (order does not matter) and the same autoLeave. Returns undefined if they do, else an Error showing
 * both (sorted, then as given). etcd's `ConfState.Equivalent`; the core asserts it after restoring a
 * configuration, panicking with this error's message.
 */
export function confStateEquivalent(a: ConfState | undefined, b: ConfState | undefined): Error | undefined {
  if (a === undefined || b === undefined) {
    return new Error(
      `cannot compare ConfState: nil input (left=${a === undefined}, right=${b === undefined})`,
    );
  }
  const sa = sortedConfState(a);
  const sb = sortedConfState(b);
  if (
    sameIds(sa.voters, sb.voters) &&
    sameIds(sa.learners, sb.learners) &&
    sameIds(sa.votersOutgoing, sb.votersOutgoing) &&
    sameIds(sa.learnersNext, sb.learnersNext) &&
    sa.autoLeave === sb.autoLeave
  ) {
    return undefined;
  }
  return new Error(
    `ConfStates not equivalent after sorting:\n${formatConfState(sa)}\n${formatConfState(sb)}\n` +
      `Inputs were:\n${formatConfState(a)}\n${formatConfState(b)}`,
  );
}

function sortedConfState(cs: ConfState): ConfState {
  const sort = (ids: readonly number[]): number[] => [...ids].sort((x, y) => x - y);
  return {
    voters: sort(cs.voters),
    learners: sort(cs.learners),
    votersOutgoing: sort(cs.votersOutgoing),
    learnersNext: sort(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A ConfState as `{voters:[1 2 3] learners:[] votersOutgoing:[] learnersNext:[] autoLeave:false}`. */
function formatConfState(cs: ConfState): string {
  const ids = (v: readonly number[]): string => `[${v.join(" ")}]`;
  return (
    `{voters:${ids(cs.voters)} learners:${ids(cs.learners)} votersOutgoing:${ids(cs.votersOutgoing)} ` +
    `learnersNext:${ids(cs.learnersNext)} autoLeave:${cs.autoLeave}}`
  );
}

/**
 * The entry type and data to propose for a configuration change (etcd's `MarshalConfChange`): a V1
 * ConfChange becomes an EntryConfChange, a V2 an EntryConfChangeV2, and `undefined` an
 * EntryConfChangeV2 with empty data — which decodes as the empty ConfChangeV2 (leave a joint
 * configuration) and, having no payload, is never refused by the uncommitted-size limit.
 */
export function marshalConfChange(cc: ConfChangeI | undefined): { type: EntryType; data: Uint8Array } {
  if (cc === undefined) return { type: EntryType.EntryConfChangeV2, data: EMPTY_BYTES };
  if (isConfChangeV2(cc)) return { type: EntryType.EntryConfChangeV2, data: encodeConfChangeV2(cc) };
  return { type: EntryType.EntryConfChange, data: encodeConfChange(cc) };
}

/**
 * An enum value's name as etcd's generated String() prints it ("MsgApp"), or the number in decimal
 * for a value the enum does not define (as Go's protobuf runtime does).
 */
function enumName(names: Readonly<Record<number, string>>, v: number): string {
  const name = names[v];
  return typeof name === "string" ? name : String(v);
}

/** The name of a message type as etcd prints it ("MsgApp"); unknown values print as their number. */
export function messageTypeName(t: MessageType): string {
  return enumName(MessageType, t);
}

/** The name of an entry type ("EntryNormal"); unknown values print as their number. */
export function entryTypeName(t: EntryType): string {
  return enumName(EntryType, t);
}

/** The name of a conf change type ("ConfChangeAddNode"); unknown values print as their number. */
export function confChangeTypeName(t: ConfChangeType): string {
  return enumName(ConfChangeType, t);
}

/** The name of a conf change transition ("ConfChangeTransitionAuto"); unknown values print as their number. */
export function confChangeTransitionName(t: ConfChangeTransition): string {
  return enumName(ConfChangeTransition, t);
}
