/**
 * The data types of etcd's `raft.proto` as plain TypeScript objects.
 *
 * Field names are raft.proto's in lower camelCase (Entry's `Term/Index/Type/Data` lowered). Every field
 * is present on every object — proto2's "absent" is the zero value here — so objects built by the core,
 * by the codec and by users all have one shape. Use the `new*` factories to build one from a partial.
 *
 * Numbers (terms, indexes, node ids) are JS `number`s restricted to safe integers (≤ 2^53 − 1); the
 * codec refuses larger values on decode. `bytes` fields are `Uint8Array` (empty when unset).
 */

/** EntryType says how an entry's `data` is to be read. */
export enum EntryType {
  EntryNormal = 0,
  /** `data` is an encoded {@link ConfChange}. */
  EntryConfChange = 1,
  /** `data` is an encoded {@link ConfChangeV2}. */
  EntryConfChangeV2 = 2,
}

/** MessageType: see etcd-io/raft's doc.go for what each one means. */
export enum MessageType {
  MsgHup = 0,
  MsgBeat = 1,
  MsgProp = 2,
  MsgApp = 3,
  MsgAppResp = 4,
  MsgVote = 5,
  MsgVoteResp = 6,
  MsgSnap = 7,
  MsgHeartbeat = 8,
  MsgHeartbeatResp = 9,
  MsgUnreachable = 10,
  MsgSnapStatus = 11,
  MsgCheckQuorum = 12,
  MsgTransferLeader = 13,
  MsgTimeoutNow = 14,
  MsgReadIndex = 15,
  MsgReadIndexResp = 16,
  MsgPreVote = 17,
  MsgPreVoteResp = 18,
  MsgStorageAppend = 19,
  MsgStorageAppendResp = 20,
  MsgStorageApply = 21,
  MsgStorageApplyResp = 22,
  MsgForgetLeader = 23,
}

/** How a {@link ConfChangeV2} uses joint consensus. */
export enum ConfChangeTransition {
  /** Simple protocol if possible (one change), otherwise joint with automatic leave. */
  ConfChangeTransitionAuto = 0,
  /** Joint consensus, left automatically by the leader. */
  ConfChangeTransitionJointImplicit = 1,
  /** Joint consensus, left when the application proposes an empty ConfChangeV2. */
  ConfChangeTransitionJointExplicit = 2,
}

/** What a {@link ConfChange} or {@link ConfChangeSingle} does to its node. */
export enum ConfChangeType {
  ConfChangeAddNode = 0,
  ConfChangeRemoveNode = 1,
  ConfChangeUpdateNode = 2,
  ConfChangeAddLearnerNode = 3,
}

/** One log entry. Invariant (in a log): `index` and `term` are set and `term` ≥ the previous entry's. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** A configuration: the voters and learners, and during joint consensus the outgoing voters. */
export interface ConfState {
  /** The voters in the incoming configuration (the only one unless joint). */
  voters: number[];
  /** The learners in the incoming configuration. */
  learners: number[];
  /** The voters in the outgoing configuration; empty unless joint. */
  votersOutgoing: number[];
  /** Nodes that become learners once the outgoing configuration is dropped (they are outgoing voters now). */
  learnersNext: number[];
  /** Joint, and Raft leaves the joint configuration by itself once that is safe. */
  autoLeave: boolean;
}

/** Where a snapshot sits in the log, and the configuration as of that point. */
export interface SnapshotMetadata {
  /** The configuration as of `index` (the snapshot replaces the log up to there, conf changes included). */
  confState: ConfState;
  /** The index of the last entry the snapshot covers; 0 means "no snapshot" (see isEmptySnap). */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
}

/** The application's state as of an index (opaque `data`), which replaces the log up to that index. */
export interface Snapshot {
  data: Uint8Array;
  metadata: SnapshotMetadata;
}

/**
 * A message between Raft peers, or between the core and its local storage threads
 * (MsgStorageAppend/MsgStorageApply). Zero/empty fields mean "unset".
 */
export interface Message {
  type: MessageType;
  to: number;
  from: number;
  term: number;
  /** With `index`: the (term, index) of the entry preceding `entries` (MsgApp), or of a rejection's hint. */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  /** MsgStorageAppend: the vote to persist (with term and commit, or all three unset). */
  vote: number;
  /** Set only for MsgSnap (and MsgStorageAppend carrying a snapshot). */
  snapshot: Snapshot | undefined;
  reject: boolean;
  rejectHint: number;
  context: Uint8Array;
  /** MsgStorageAppend/MsgStorageApply: what to deliver once the local write is done. */
  responses: Message[];
}

/** The state that must be persisted before messages are sent (Raft paper §5.1, figure 2). */
export interface HardState {
  term: number;
  vote: number;
  commit: number;
}

/** A single-node configuration change (the original, one-at-a-time protocol). */
export interface ConfChange {
  /** Used only by etcd to thread through a unique identifier. */
  id: number;
  type: ConfChangeType;
  nodeId: number;
  context: Uint8Array;
}

/** One operation of a {@link ConfChangeV2}. */
export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: number;
}

/** A configuration change of any number of nodes, with or without joint consensus. */
export interface ConfChangeV2 {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  context: Uint8Array;
}

/** The shared empty byte array: never write into it. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** Builds a full Entry from the fields given; the rest take their zero values. */
export function newEntry(e: Partial<Entry> = {}): Entry {
  return {
    term: e.term ?? 0,
    index: e.index ?? 0,
    type: e.type ?? EntryType.EntryNormal,
    data: e.data ?? EMPTY_BYTES,
  };
}

/** Builds a full ConfState from the fields given; the rest take their zero values. */
export function newConfState(c: Partial<ConfState> = {}): ConfState {
  return {
    voters: c.voters ?? [],
    learners: c.learners ?? [],
    votersOutgoing: c.votersOutgoing ?? [],
    learnersNext: c.learnersNext ?? [],
    autoLeave: c.autoLeave ?? false,
  };
}

/** Builds a full Snapshot (metadata and confState included) from the fields given; the rest are zero. */
export function newSnapshot(s: { data?: Uint8Array; metadata?: Partial<SnapshotMetadata> } = {}): Snapshot {
  const m = s.metadata ?? {};
  return {
    data: s.data ?? EMPTY_BYTES,
    metadata: { confState: m.confState ?? newConfState(), index: m.index ?? 0, term: m.term ?? 0 },
  };
}

/** The shared empty entry list of messages without entries. Frozen: never push into it. */
export const NO_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];
/** The shared empty response list of messages without responses. Frozen: never push into it. */
export const NO_MESSAGES: Message[] = Object.freeze([]) as unknown as Message[];

/**
 * A Message of `type` from `from` to `to` with every other field at its zero value (the frozen
 * {@link NO_ENTRIES} and {@link NO_MESSAGES}, {@link EMPTY_BYTES}): the one literal messages are
 * built from, so that they all share one V8 shape. Hot paths set the few fields they need on it
 * (replace a list, never push into the shared empty one) rather than pass a defaults object.
 */
export function zeroMessage(type: MessageType, to: number, from: number): Message {
  return {
    type,
    to,
    from,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: NO_ENTRIES,
    commit: 0,
    vote: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    responses: NO_MESSAGES,
  };
}

/**
 * Builds a full Message from the fields given; the rest take their zero values, with fresh empty
 * `entries` and `responses` the caller may push into.
 */
export function newMessage(m: Partial<Message> & { type: MessageType }): Message {
  const out = zeroMessage(m.type, 0, 0);
  out.entries = [];
  out.responses = [];
  return Object.assign(out, m);
}

/** Builds a full HardState from the fields given; the rest take their zero values. */
export function newHardState(h: Partial<HardState> = {}): HardState {
  return { term: h.term ?? 0, vote: h.vote ?? 0, commit: h.commit ?? 0 };
}

/** Builds a full ConfChange from the fields given; the rest take their zero values. */
export function newConfChange(c: Partial<ConfChange> = {}): ConfChange {
  return {
    id: c.id ?? 0,
    type: c.type ?? ConfChangeType.ConfChangeAddNode,
    nodeId: c.nodeId ?? 0,
    context: c.context ?? EMPTY_BYTES,
  };
}

/** Builds a full ConfChangeV2 from the fields given; the rest take their zero values. */
export function newConfChangeV2(c: Partial<ConfChangeV2> = {}): ConfChangeV2 {
  return {
    transition: c.transition ?? ConfChangeTransition.ConfChangeTransitionAuto,
    changes: c.changes ?? [],
    context: c.context ?? EMPTY_BYTES,
  };
}
