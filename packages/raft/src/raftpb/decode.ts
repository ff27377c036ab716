/**
 * The decoding half of raftpb's protobuf codec (encode.ts is the other, with the bytes it writes).
 *
 * Decoding accepts any valid proto2 encoding of the message: fields in any order, unknown fields
 * skipped (groups included), repeated uint64 fields packed or unpacked, the last occurrence of a
 * singular scalar winning and occurrences of a singular message field merged. Enum values are kept as
 * numbers, known or not. Decoded objects have every field (zero defaults), in the shape the `new*`
 * factories build. Their bytes fields never alias the input: they are views into one private copy of
 * it made on the first bytes field (one allocation per message rather than one per entry), so keeping
 * any of them keeps that copy alive; `decodeMessage(bytes, { aliasInput: true })` skips the copy for
 * a caller that owns its input (see {@link DecodeOptions}). A uint64 above 2^53 − 1, truncated
 * input, a wire type other than the field's, a length past the end or nesting deeper than 100 throws
 * a RaftError with code "Decode" whose message names the message type and field (e.g. `raftpb:
 * Message.term: 18446744073709551615 exceeds 2^53-1`). Callers taking bytes off the network must
 * catch it.
 *
 * Each read* function reads fields until the cursor's limit (the end of the message being read) and
 * returns a fresh object in its factory's key order, so decoded objects share the core's V8 shapes. A
 * `prev` argument is what an earlier occurrence of the same message field decoded to: proto2 merges
 * repeated occurrences of a singular message field.
 */
import type {
  ConfChange,
  ConfChangeSingle,
  ConfChangeV2,
  ConfState,
  Entry,
  HardState,
  Message,
  Snapshot,
  SnapshotMetadata,
} from "./types.js";
import { EMPTY_BYTES } from "./types.js";
import { Cursor } from "./wire.js";

// Field names by field number, for "wrong wire type" errors.
const ENTRY_FIELDS = ["", "type", "term", "index", "data"] as const;
const CONF_STATE_FIELDS = ["", "voters", "learners", "votersOutgoing", "learnersNext", "autoLeave"] as const;
const SNAPSHOT_METADATA_FIELDS = ["", "confState", "index", "term"] as const;
const SNAPSHOT_FIELDS = ["", "data", "metadata"] as const;
const MESSAGE_FIELDS = [
  "",
  "type",
  "to",
  "from",
  "term",
  "logTerm",
  "index",
  "entries",
  "commit",
  "snapshot",
  "reject",
  "rejectHint",
  "context",
  "vote",
  "responses",
] as const;
const HARD_STATE_FIELDS = ["", "term", "vote", "commit"] as const;
const CONF_CHANGE_FIELDS = ["", "id", "type", "nodeId", "context"] as const;
const CONF_CHANGE_SINGLE_FIELDS = ["", "type", "nodeId"] as const;
const CONF_CHANGE_V2_FIELDS = ["", "transition", "changes", "context"] as const;

function readEntry(c: Cursor): Entry {
  let term = 0;
  let index = 0;
  let type = 0;
  let data = EMPTY_BYTES;
  while (c.pos < c.limit) {
    const tag = c.tag("Entry");
    switch (tag) {
      case 0x08:
        type = c.enumValue("Entry.type");
        break;
      case 0x10:
        term = c.uint64("Entry.term");
        break;
      case 0x18:
        index = c.uint64("Entry.index");
        break;
      case 0x22:
        data = c.bytes("Entry.data");
        break;
      default:
        c.other("Entry", tag, ENTRY_FIELDS);
    }
  }
  return { term, index, type, data };
}

/** Reads a packed run of uint64s (wire type 2) into `out`. */
function readPacked(c: Cursor, out: number[], what: string): void {
  const end = c.lenEnd(what);
  const saved = c.enter(what, end);
  while (c.pos < end) out.push(c.uint64(what));
  c.leave(saved);
}

function readConfState(c: Cursor, prev: ConfState | undefined): ConfState {
  const voters = prev?.voters ?? [];
  const learners = prev?.learners ?? [];
  const votersOutgoing = prev?.votersOutgoing ?? [];
  const learnersNext = prev?.learnersNext ?? [];
  let autoLeave = prev?.autoLeave ?? false;
  while (c.pos < c.limit) {
    const tag = c.tag("ConfState");
    switch (tag) {
      case 0x08:
        voters.push(c.uint64("ConfState.voters"));
        break;
      case 0x0a:
        readPacked(c, voters, "ConfState.voters");
        break;
      case 0x10:
        learners.push(c.uint64("ConfState.learners"));
        break;
      case 0x12:
        readPacked(c, learners, "ConfState.learners");
        break;
      case 0x18:
        votersOutgoing.push(c.uint64("ConfState.votersOutgoing"));
        break;
      case 0x1a:
        readPacked(c, votersOutgoing, "ConfState.votersOutgoing");
        break;
      case 0x20:
        learnersNext.push(c.uint64("ConfState.learnersNext"));
        break;
      case 0x22:
        readPacked(c, learnersNext, "ConfState.learnersNext");
        break;
      case 0x28:
        autoLeave = c.bool("ConfState.autoLeave");
        break;
      default:
        c.other("ConfState", tag, CONF_STATE_FIELDS);
    }
  }
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}

function readSnapshotMetadata(c: Cursor, prev: SnapshotMetadata | undefined): SnapshotMetadata {
  let confState = prev?.confState;
  let index = prev?.index ?? 0;
  let term = prev?.term ?? 0;
  while (c.pos < c.limit) {
    const tag = c.tag("SnapshotMetadata");
    switch (tag) {
      case 0x0a: {
        const saved = c.enter("SnapshotMetadata.confState", c.lenEnd("SnapshotMetadata.confState"));
        confState = readConfState(c, confState);
        c.leave(saved);
        break;
      }
      case 0x10:
        index = c.uint64("SnapshotMetadata.index");
        break;
      case 0x18:
        term = c.uint64("SnapshotMetadata.term");
        break;
      default:
        c.other("SnapshotMetadata", tag, SNAPSHOT_METADATA_FIELDS);
    }
  }
  return { confState: confState ?? emptyConfState(), index, term };
}

function readSnapshot(c: Cursor, prev: Snapshot | undefined): Snapshot {
  let data = prev?.data ?? EMPTY_BYTES;
  let metadata = prev?.metadata;
  while (c.pos < c.limit) {
    const tag = c.tag("Snapshot");
    switch (tag) {
      case 0x0a:
        data = c.bytes("Snapshot.data");
        break;
      case 0x12: {
        const saved = c.enter("Snapshot.metadata", c.lenEnd("Snapshot.metadata"));
        metadata = readSnapshotMetadata(c, metadata);
        c.leave(saved);
        break;
      }
      default:
        c.other("Snapshot", tag, SNAPSHOT_FIELDS);
    }
  }
  return { data, metadata: metadata ?? { confState: emptyConfState(), index: 0, term: 0 } };
}

function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

function readMessage(c: Cursor): Message {
  let type = 0;
  let to = 0;
  let from = 0;
  let term = 0;
  let logTerm = 0;
  let index = 0;
  const entries: Entry[] = [];
  let commit = 0;
  let vote = 0;
  let snapshot: Snapshot | undefined;
  let reject = false;
  let rejectHint = 0;
  let context = EMPTY_BYTES;
  const responses: Message[] = [];
  while (c.pos < c.limit) {
    const tag = c.tag("Message");
    switch (tag) {
      case 0x08:
        type = c.enumValue("Message.type");
        break;
      case 0x10:
        to = c.uint64("Message.to");
        break;
      case 0x18:
        from = c.uint64("Message.from");
        break;
      case 0x20:
        term = c.uint64("Message.term");
        break;
      case 0x28:
        logTerm = c.uint64("Message.logTerm");
        break;
      case 0x30:
        index = c.uint64("Message.index");
        break;
      case 0x3a: {
        const saved = c.enter("Message.entries", c.lenEnd("Message.entries"));
        entries.push(readEntry(c));
        c.leave(saved);
        break;
      }
      case 0x40:
        commit = c.uint64("Message.commit");
        break;
      case 0x4a: {
        const saved = c.enter("Message.snapshot", c.lenEnd("Message.snapshot"));
        snapshot = readSnapshot(c, snapshot);
        c.leave(saved);
        break;
      }
      case 0x50:
        reject = c.bool("Message.reject");
        break;
      case 0x58:
        rejectHint = c.uint64("Message.rejectHint");
        break;
      case 0x62:
        context = c.bytes("Message.context");
        break;
      case 0x68:
        vote = c.uint64("Message.vote");
        break;
      case 0x72: {
        const saved = c.enter("Message.responses", c.lenEnd("Message.responses"));
        responses.push(readMessage(c));
        c.leave(saved);
        break;
      }
      default:
        c.other("Message", tag, MESSAGE_FIELDS);
    }
  }
  return {
    type,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    vote,
    snapshot,
    reject,
    rejectHint,
    context,
    responses,
  };
}

function readHardState(c: Cursor): HardState {
  let term = 0;
  let vote = 0;
  let commit = 0;
  while (c.pos < c.limit) {
    const tag = c.tag("HardState");
    switch (tag) {
      case 0x08:
        term = c.uint64("HardState.term");
        break;
      case 0x10:
        vote = c.uint64("HardState.vote");
        break;
      case 0x18:
        commit = c.uint64("HardState.commit");
        break;
      default:
        c.other("HardState", tag, HARD_STATE_FIELDS);
    }
  }
  return { term, vote, commit };
}

function readConfChange(c: Cursor): ConfChange {
  let id = 0;
  let type = 0;
  let nodeId = 0;
  let context = EMPTY_BYTES;
  while (c.pos < c.limit) {
    const tag = c.tag("ConfChange");
    switch (tag) {
      case 0x08:
        id = c.uint64("ConfChange.id");
        break;
      case 0x10:
        type = c.enumValue("ConfChange.type");
        break;
      case 0x18:
        nodeId = c.uint64("ConfChange.nodeId");
        break;
      case 0x22:
        context = c.bytes("ConfChange.context");
        break;
      default:
        c.other("ConfChange", tag, CONF_CHANGE_FIELDS);
    }
  }
  return { id, type, nodeId, context };
}

function readConfChangeSingle(c: Cursor): ConfChangeSingle {
  let type = 0;
  let nodeId = 0;
  while (c.pos < c.limit) {
    const tag = c.tag("ConfChangeSingle");
    switch (tag) {
      case 0x08:
        type = c.enumValue("ConfChangeSingle.type");
        break;
      case 0x10:
        nodeId = c.uint64("ConfChangeSingle.nodeId");
        break;
      default:
        c.other("ConfChangeSingle", tag, CONF_CHANGE_SINGLE_FIELDS);
    }
  }
  return { type, nodeId };
}

function readConfChangeV2(c: Cursor): ConfChangeV2 {
  let transition = 0;
  const changes: ConfChangeSingle[] = [];
  let context = EMPTY_BYTES;
  while (c.pos < c.limit) {
    const tag = c.tag("ConfChangeV2");
    switch (tag) {
      case 0x08:
        transition = c.enumValue("ConfChangeV2.transition");
        break;
      case 0x12: {
        const saved = c.enter("ConfChangeV2.changes", c.lenEnd("ConfChangeV2.changes"));
        changes.push(readConfChangeSingle(c));
        c.leave(saved);
        break;
      }
      case 0x1a:
        context = c.bytes("ConfChangeV2.context");
        break;
      default:
        c.other("ConfChangeV2", tag, CONF_CHANGE_V2_FIELDS);
    }
  }
  return { transition, changes, context };
}

/** How {@link decodeMessage} treats its input. */
export interface DecodeOptions {
  /**
   * Hand out the bytes fields (`entries[i].data`, `context`, `snapshot.data`) as views into the
   * input itself instead of into a copy of it. That saves an allocation and a copy of the whole
   * message per decode (with 16 KiB entries, the copy is most of a decode's time: see `pnpm bench
   * micro/raftpb-decode-*`). Default false.
   *
   * Only for a caller that owns the input: it must never write to it or hand it to anything that
   * reuses it (a read buffer refilled by the next read) while any decoded object lives, since
   * mutating the input would change entries already in the log. And any bytes field kept keeps the
   * input's whole ArrayBuffer alive: the caller bounds what that buffer holds (the transport's
   * frames, packages/node/src/transport/frame.ts, hold nothing but the messages decoded from them).
   */
  readonly aliasInput?: boolean | undefined;
}

/**
 * Decodes a Message. Throws a RaftError with code "Decode" on malformed input or a number above
 * 2^53 − 1; callers taking bytes off the network must catch it (and drop the frame). The result
 * never aliases `bytes` unless `options.aliasInput` says so.
 */
export function decodeMessage(bytes: Uint8Array, options?: DecodeOptions): Message {
  return readMessage(new Cursor(bytes, options?.aliasInput === true));
}

/** Decodes an Entry (throws a "Decode" RaftError like {@link decodeMessage}). */
export function decodeEntry(bytes: Uint8Array): Entry {
  return readEntry(new Cursor(bytes));
}

/** Decodes a HardState (throws a "Decode" RaftError like {@link decodeMessage}). */
export function decodeHardState(bytes: Uint8Array): HardState {
  return readHardState(new Cursor(bytes));
}

/** Decodes a ConfState (throws a "Decode" RaftError like {@link decodeMessage}). */
export function decodeConfState(bytes: Uint8Array): ConfState {
  return readConfState(new Cursor(bytes), undefined);
}

/** Decodes a Snapshot (throws a "Decode" RaftError like {@link decodeMessage}). */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return readSnapshot(new Cursor(bytes), undefined);
}

/** Decodes a ConfChange, the `data` of an EntryConfChange entry (throws a "Decode" RaftError). */
export function decodeConfChange(bytes: Uint8Array): ConfChange {
  return readConfChange(new Cursor(bytes));
}

/** Decodes a ConfChangeV2, the `data` of an EntryConfChangeV2 entry (throws a "Decode" RaftError). */
export function decodeConfChangeV2(bytes: Uint8Array): ConfChangeV2 {
  return readConfChangeV2(new Cursor(bytes));
}
