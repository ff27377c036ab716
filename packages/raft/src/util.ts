/**
 * Small helpers shared by the state machine and RawNode: message classification (which types are
 * local, which are responses), payload sizes for the uncommitted-size quota, and message builders.
 */
import { LocalAppendThread, LocalApplyThread, None } from "./constants.js";
import type { ConfChangeI } from "./raftpb/confchange.js";
import {
  EMPTY_BYTES,
  type Entry,
  type Message,
  MessageType,
  NO_ENTRIES,
  NO_MESSAGES,
  zeroMessage,
} from "./raftpb/types.js";
import { marshalConfChange } from "./raftpb/util.js";

/**
 * A table indexed by MessageType, true for `types`: the lookup keeps the classification branch-free
 * on the hot path.
 */
function typeTable(types: readonly MessageType[]): readonly boolean[] {
  const t: boolean[] = [];
  for (const m of types) t[m] = true;
  return t;
}

const LOCAL_MSGS = typeTable([
  MessageType.MsgHup,
  MessageType.MsgBeat,
  MessageType.MsgUnreachable,
  MessageType.MsgSnapStatus,
  MessageType.MsgCheckQuorum,
  MessageType.MsgStorageAppend,
  MessageType.MsgStorageAppendResp,
  MessageType.MsgStorageApply,
  MessageType.MsgStorageApplyResp,
]);

const RESPONSE_MSGS = typeTable([
  MessageType.MsgAppResp,
  MessageType.MsgVoteResp,
  MessageType.MsgHeartbeatResp,
  MessageType.MsgUnreachable,
  MessageType.MsgReadIndexResp,
  MessageType.MsgPreVoteResp,
  MessageType.MsgStorageAppendResp,
  MessageType.MsgStorageApplyResp,
]);

/**
 * True for message types that only the local node (its driver or its storage threads) may produce:
 * a peer must never send them, so `RawNode.step` refuses them from anyone but a local thread.
 */
export function isLocalMsg(t: MessageType): boolean {
  return LOCAL_MSGS[t] === true;
}

/** True for message types that answer an earlier request (they need a known sender). */
export function isResponseMsg(t: MessageType): boolean {
  return RESPONSE_MSGS[t] === true;
}

/** True if `id` addresses one of the asyncStorageWrites local threads rather than a node. */
export function isLocalMsgTarget(id: number): boolean {
  return id === LocalAppendThread || id === LocalApplyThread;
}

/**
 * The response type for a (pre-)vote request. Throws for any other type: a caller passing one is a
 * bug in the core.
 */
export function voteRespMsgType(t: MessageType): MessageType {
  switch (t) {
    case MessageType.MsgVote:
      return MessageType.MsgVoteResp;
    case MessageType.MsgPreVote:
      return MessageType.MsgPreVoteResp;
    default:
      throw new Error(`not a vote message: ${MessageType[t] ?? String(t)}`);
  }
}

/**
 * The payload size of an entry: its data length only. This is what the uncommitted-size quota
 * (maxUncommittedEntriesSize) counts, so an empty entry (a new leader's no-op, the auto-leave of a
 * joint configuration) is free and can never be refused.
 */
export function payloadSize(e: Entry): number {
  return e.data.length;
}

/** The sum of {@link payloadSize} over `ents`. */
export function payloadsSize(ents: readonly Entry[]): number {
  let s = 0;
  for (let i = 0; i < ents.length; i++) s += ents[i]!.data.length;
  return s;
}

/**
 * Empties `a` in place. For the few elements the hot paths hold, popping is several times cheaper
 * than `a.length = 0` (a runtime call in V8) and allocates nothing, unlike replacing the array.
 */
export function clearArray(a: unknown[]): void {
  while (a.length !== 0) a.pop();
}

/** Exhaustiveness check for `switch` statements: reaching it is a compile-time error. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}

/** Node ids print in hex in etcd's log lines (`%x`). */
export function hex(id: number): string {
  return id.toString(16);
}

/**
 * Builds a full Message (every field present, so all messages share one V8 shape) of type `type`
 * to `to`, with the fields given in `f` and zero values elsewhere.
 */
export function message(type: MessageType, to: number, f: Partial<Message>): Message {
  return {
    type,
    to,
    from: f.from ?? None,
    term: f.term ?? 0,
    logTerm: f.logTerm ?? 0,
    index: f.index ?? 0,
    entries: f.entries ?? NO_ENTRIES,
    commit: f.commit ?? 0,
    vote: f.vote ?? 0,
    snapshot: f.snapshot,
    reject: f.reject ?? false,
    rejectHint: f.rejectHint ?? 0,
    context: f.context ?? EMPTY_BYTES,
    responses: f.responses ?? NO_MESSAGES,
  };
}

/**
 * A MsgAppResp acknowledging the log up to `index` (the hottest message: one per append on every
 * follower, and the leader's own per proposal): {@link zeroMessage}, without {@link message}'s defaults.
 */
export function appRespMsg(to: number, index: number): Message {
  const m = zeroMessage(MessageType.MsgAppResp, to, None);
  m.index = index;
  return m;
}

/**
 * The MsgProp proposing `cc`: a V1 change as an EntryConfChange, anything else as an
 * EntryConfChangeV2. `undefined` proposes the empty ConfChangeV2 that leaves a joint configuration
 * (with empty data, so the uncommitted-size quota never refuses it).
 */
export function confChangeToMsg(cc: ConfChangeI | undefined): Message {
  const { type, data } = marshalConfChange(cc);
  return message(MessageType.MsgProp, None, { entries: [{ term: 0, index: 0, type, data }] });
}
