/**
 * Human-readable descriptions of Raft's data, in etcd's exact text (etcd-io/raft util.go: the
 * `Describe*` functions). The interaction harness prints them and the conformance corpus compares
 * them byte for byte, so every space and bracket here is deliberate: change nothing without checking
 * the Go source.
 *
 * Go formatting reproduced here: `%v` of a `[]uint64` is `[1 2 3]`, of a bool `true`/`false`, of an
 * enum its name (its number if unknown); `%x` of an id is lower-case hex; `%q` of bytes is Go's
 * quoted string ({@link goQuote}).
 */
import { LocalAppendThread, LocalApplyThread, None } from "./constants.js";
import { goQuote } from "./go-quote.js";
import { asV2, type ConfChangeI, confChangesToString } from "./raftpb/confchange.js";
import { decodeConfChange, decodeConfChangeV2 } from "./raftpb/decode.js";
import type { ConfState, Entry, HardState, Message, Snapshot } from "./raftpb/types.js";
import { ConfChangeTransition, ConfChangeType, EntryType, MessageType } from "./raftpb/types.js";
import { isEmptyHardState, isEmptySnap } from "./raftpb/util.js";
import { type ReadState, type Ready, type SoftState, StateType } from "./ready.js";

/**
 * Formats an entry's data for display. Applications pass one to show their commands readably;
 * without one, data prints as Go's `%q` of the bytes ({@link defaultEntryFormatter}).
 */
export type EntryFormatter = (data: Uint8Array) => string;

/** The formatter used when none is given: Go's `%q` of the bytes, e.g. `"foo\x00"`. */
export const defaultEntryFormatter: EntryFormatter = goQuote;

/** `Term:1 Vote:2 Commit:3`; the vote is left out when none was cast. */
export function describeHardState(hs: HardState): string {
  const vote = hs.vote !== 0 ? ` Vote:${hs.vote}` : "";
  return `Term:${hs.term}${vote} Commit:${hs.commit}`;
}

/** `Lead:1 State:StateLeader`. */
export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead} State:${enumName(StateType, ss.raftState)}`;
}

/** `Voters:[1 2 3] VotersOutgoing:[] Learners:[4] LearnersNext:[] AutoLeave:false`. */
export function describeConfState(cs: ConfState): string {
  return (
    `Voters:${formatIds(cs.voters)} VotersOutgoing:${formatIds(cs.votersOutgoing)} ` +
    `Learners:${formatIds(cs.learners)} LearnersNext:${formatIds(cs.learnersNext)} AutoLeave:${cs.autoLeave}`
  );
}

/** `Index:10 Term:1 ConfState:Voters:[1 2 3] ...` (the snapshot's metadata; the data is not shown). */
export function describeSnapshot(snap: Snapshot): string {
  const m = snap.metadata;
  return `Index:${m.index} Term:${m.term} ConfState:${describeConfState(m.confState)}`;
}

/**
 * Describes a Ready: a `Ready MustSync=<bool>:` header followed by one section per non-empty field
 * (soft state, hard state, read states, entries, snapshot, committed entries, messages), each line
 * ending in a newline; `<empty Ready>` (no newline) if every field is empty.
 */
export function describeReady(rd: Ready, fmt?: EntryFormatter): string {
  let buf = "";
  if (rd.softState !== undefined) buf += `${describeSoftState(rd.softState)}\n`;
  if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) {
    buf += `HardState ${describeHardState(rd.hardState)}\n`;
  }
  if (rd.readStates.length > 0) buf += `ReadStates ${describeReadStates(rd.readStates)}\n`;
  if (rd.entries.length > 0) buf += `Entries:\n${describeEntries(rd.entries, fmt)}`;
  if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) {
    buf += `Snapshot ${describeSnapshot(rd.snapshot)}\n`;
  }
  if (rd.committedEntries.length > 0) {
    buf += `CommittedEntries:\n${describeEntries(rd.committedEntries, fmt)}`;
  }
  if (rd.messages.length > 0) {
    buf += "Messages:\n";
    for (const m of rd.messages) buf += `${describeMessage(m, fmt)}\n`;
  }
  if (buf === "") return "<empty Ready>";
  return `Ready MustSync=${rd.mustSync}:\n${buf}`;
}

/**
 * Describes a message on one line (`1->2 MsgApp Term:1 Log:1/10 Commit:10 Entries:[1/11 EntryNormal
 * "foo"]`), or several when it carries more than one entry, a snapshot, or (for MsgStorageAppend and
 * MsgStorageApply) responses, which are described indented below it.
 */
export function describeMessage(m: Message, fmt?: EntryFormatter): string {
  return describeMessageWithIndent("", m, fmt);
}

function describeMessageWithIndent(indent: string, m: Message, fmt: EntryFormatter | undefined): string {
  let buf =
    `${indent}${describeTarget(m.from)}->${describeTarget(m.to)} ${enumName(MessageType, m.type)} ` +
    `Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) buf += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) buf += ` Commit:${m.commit}`;
  if (m.vote !== 0) buf += ` Vote:${m.vote}`;
  if (m.entries.length === 1) {
    buf += ` Entries:[${describeEntry(m.entries[0] as Entry, fmt)}]`;
  } else if (m.entries.length > 1) {
    buf += " Entries:[";
    for (const e of m.entries) buf += `\n${indent}  ${describeEntry(e, fmt)}`;
    buf += `\n${indent}]`;
  }
  if (m.snapshot !== undefined && !isEmptySnap(m.snapshot)) {
    buf += `\n${indent}  Snapshot: ${describeSnapshot(m.snapshot)}`;
  }
  if (m.responses.length > 0) {
    buf += " Responses:[";
    for (const r of m.responses) buf += `\n${describeMessageWithIndent(`${indent}  `, r, fmt)}`;
    buf += `\n${indent}]`;
  }
  return buf;
}

/** A message endpoint: `None`, `AppendThread`, `ApplyThread`, or the node id in hex. */
export function describeTarget(id: number): string {
  switch (id) {
    case None:
      return "None";
    case LocalAppendThread:
      return "AppendThread";
    case LocalApplyThread:
      return "ApplyThread";
    default:
      return id.toString(16);
  }
}

/**
 * `term/index Type data`: normal entries show their data through `fmt`; configuration changes are
 * decoded and shown as their changes (`v1 l2 r3`), or the decoding error's text.
 */
export function describeEntry(e: Entry, fmt: EntryFormatter = defaultEntryFormatter): string {
  let formatted = "";
  switch (e.type) {
    case EntryType.EntryNormal:
      formatted = fmt(e.data);
      break;
    case EntryType.EntryConfChange:
      formatted = formatConfChangeData(e.data, decodeConfChange);
      break;
    case EntryType.EntryConfChangeV2:
      formatted = formatConfChangeData(e.data, decodeConfChangeV2);
      break;
  }
  if (formatted !== "") formatted = ` ${formatted}`;
  return `${e.term}/${e.index} ${enumName(EntryType, e.type)}${formatted}`;
}

function formatConfChangeData(data: Uint8Array, decode: (data: Uint8Array) => ConfChangeI): string {
  let cc: ConfChangeI;
  try {
    cc = decode(data);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  return confChangesToString(asV2(cc).changes);
}

/** {@link describeEntry} of each entry, each followed by a newline. */
export function describeEntries(ents: readonly Entry[], fmt?: EntryFormatter): string {
  let buf = "";
  for (const e of ents) buf += `${describeEntry(e, fmt)}\n`;
  return buf;
}

/**
 * A stable one-line form of a configuration change of either version, as its V2 equivalent:
 * `transition:ConfChangeTransitionAuto changes:{type:ConfChangeAddNode node_id:2} context:"x"`
 * (no `changes` part for an empty change, no `context` part for an empty context).
 */
export function describeConfChange(cc: ConfChangeI): string {
  const v2 = asV2(cc);
  let buf = `transition:${enumName(ConfChangeTransition, v2.transition)}`;
  for (const c of v2.changes) {
    buf += ` changes:{type:${enumName(ConfChangeType, c.type)} node_id:${c.nodeId}}`;
  }
  if (v2.context.length > 0) buf += ` context:${goQuote(v2.context)}`;
  return buf;
}

/** Go's `%v` of a `[]ReadState`: `[{index [bytes of the context]} ...]`. */
function describeReadStates(rs: readonly ReadState[]): string {
  return `[${rs.map((r) => `{${r.index} ${formatIds(Array.from(r.requestCtx))}}`).join(" ")}]`;
}

/** Go's `%v` of a `[]uint64`: `[1 2 3]`, `[]` when empty. */
function formatIds(ids: readonly number[]): string {
  return `[${ids.join(" ")}]`;
}

/** Go's `%v` of a protobuf or Stringer enum: its name, or its number if it has none. */
function enumName(e: Record<number, string>, v: number): string {
  return e[v] ?? String(v);
}
