/**
 * Test helpers for the core's unit tests (not shipped): building Raft instances and RawNodes over
 * MemoryStorage, draining their messages, and a small in-memory network of RawNodes driven through
 * the real Ready/advance loop (etcd's `newNetwork`, with storage writes done as an application does).
 */
import type { Config } from "../src/config.js";
import { None } from "../src/constants.js";
import { isRaftError } from "../src/errors.js";
import type { Logger } from "../src/logger.js";
import { Raft } from "../src/raft.js";
import { decodeConfChange, decodeConfChangeV2 } from "../src/raftpb/decode.js";
import {
  type Entry,
  EntryType,
  type Message,
  MessageType,
  newConfState,
  newMessage,
  newSnapshot,
} from "../src/raftpb/types.js";
import { RawNode } from "../src/raw-node.js";
import type { ReadState, Ready } from "../src/ready.js";
import { MemoryStorage } from "../src/storage.js";

/** What `f` threw, or undefined if it returned. */
export function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The UTF-8 bytes of `s` (proposal data, read contexts). */
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A MemoryStorage whose initial configuration has the given voters and learners. */
export function newTestStorage(voters: number[], learners: number[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot(newSnapshot({ metadata: { confState: newConfState({ voters, learners }) } }));
  return s;
}

/** etcd's newTestConfig: unlimited message size, 256 inflight messages. */
export function newTestConfig(
  id: number,
  election: number,
  heartbeat: number,
  storage: MemoryStorage,
  extra: Partial<Config> = {},
): Config {
  return {
    id,
    electionTick: election,
    heartbeatTick: heartbeat,
    storage,
    maxSizePerMsg: Number.MAX_SAFE_INTEGER,
    maxInflightMsgs: 256,
    ...extra,
  };
}

export function newTestRaft(
  id: number,
  election: number,
  heartbeat: number,
  storage: MemoryStorage,
  extra: Partial<Config> = {},
): Raft {
  return new Raft(newTestConfig(id, election, heartbeat, storage, extra));
}

/**
 * Steps the node's own deferred messages (its append and vote acknowledgements) as if their state
 * were durable, repeatedly, moving those for other nodes to `msgs` (etcd's advanceMessagesAfterAppend).
 */
export function advanceMessagesAfterAppend(r: Raft): void {
  for (;;) {
    const msgs = r.msgsAfterAppend;
    if (msgs.length === 0) return;
    r.msgsAfterAppend = [];
    for (const m of msgs) {
      if (m.to === r.id) r.step(m);
      else r.msgs.push(m);
    }
  }
}

/** Takes every message the node has to send (etcd's readMessages). */
export function readMessages(r: Raft): Message[] {
  advanceMessagesAfterAppend(r);
  const msgs = r.msgs;
  r.msgs = [];
  return msgs;
}

/** Steps `m`, swallowing the expected errors (dropped proposals), as etcd's tests do with `_ = r.Step(m)`. */
export function stepQuiet(r: Raft, m: Message): void {
  try {
    r.step(m);
  } catch (e) {
    if (!isRaftError(e)) throw e;
  }
}

/** Shorthand for a message with the given fields. */
export function msg(type: MessageType, f: Partial<Message> = {}): Message {
  return newMessage({ type, ...f });
}

/** Entries with the given terms, at indexes 1, 2, ... (or from `first`). */
export function entsWithTerms(terms: number[], first = 1): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: first + i,
    type: EntryType.EntryNormal,
    data: new Uint8Array(0),
  }));
}

/** An entry with data. */
export function entry(term: number, index: number, data = ""): Entry {
  return { term, index, type: EntryType.EntryNormal, data: new TextEncoder().encode(data) };
}

/** Persists what a Ready asks to persist (entries, HardState, snapshot), as an application would. */
export function persistReady(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
  if (rd.hardState !== undefined) s.setHardState(rd.hardState);
  s.append(rd.entries);
}

/** A logger recording every line, with its level. */
export class RecordingLogger implements Logger {
  lines: string[] = [];
  debugOn = true;
  debug(m: string): void {
    this.lines.push(`DEBUG ${m}`);
  }
  info(m: string): void {
    this.lines.push(`INFO ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`WARN ${m}`);
  }
  error(m: string): void {
    this.lines.push(`ERROR ${m}`);
  }
  panic(m: string): void {
    this.lines.push(`PANIC ${m}`);
  }
  isDebugEnabled(): boolean {
    return this.debugOn;
  }
}

interface NetNode {
  rn: RawNode;
  storage: MemoryStorage;
  /** Committed entries this node applied, in order. */
  applied: Entry[];
  /** ReadStates this node handed out, in order. */
  readStates: ReadState[];
}

/**
 * RawNodes exchanging messages in memory. `ready(id)` runs one Ready cycle of a node as an
 * application does (persist, queue messages, apply committed entries and conf changes, advance);
 * `stabilize()` repeats until nothing is left to do. Links can be cut and messages dropped.
 */
export class Network {
  readonly nodes = new Map<number, NetNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  private readonly cut = new Set<string>();
  /** Every message sent so far (delivered or not), for assertions. */
  sent: Message[] = [];

  /** A network of `ids` as voters, each with `extra` config (and its own id-seeded PRNG). */
  static create(ids: number[], extra: (id: number) => Partial<Config> = () => ({})): Network {
    const nw = new Network();
    for (const id of ids) nw.add(id, newTestStorage(ids), extra(id));
    return nw;
  }

  add(id: number, storage: MemoryStorage, extra: Partial<Config> = {}): RawNode {
    const rn = new RawNode(newTestConfig(id, 10, 1, storage, extra));
    this.nodes.set(id, { rn, storage, applied: [], readStates: [] });
    return rn;
  }

  node(id: number): RawNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n.rn;
  }

  raft(id: number): Raft {
    return this.node(id).raft;
  }

  storage(id: number): MemoryStorage {
    return this.nodes.get(id)!.storage;
  }

  applied(id: number): Entry[] {
    return this.nodes.get(id)!.applied;
  }

  readStates(id: number): ReadState[] {
    return this.nodes.get(id)!.readStates;
  }

  /** Cuts (both directions of) the link between a and b. */
  cutLink(a: number, b: number): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  /** Cuts every link of `id`. */
  isolate(id: number): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.cut.clear();
  }

  /** Runs one Ready cycle of node `id`; returns the Ready (or undefined if it had none). */
  ready(id: number): Ready | undefined {
    const n = this.nodes.get(id)!;
    if (!n.rn.hasReady()) return undefined;
    const rd = n.rn.ready();
    persistReady(n.storage, rd);
    n.readStates.push(...rd.readStates);
    for (const m of rd.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    for (const e of rd.committedEntries) {
      n.applied.push(e);
      if (e.type === EntryType.EntryConfChange) n.rn.applyConfChange(decodeConfChange(e.data));
      else if (e.type === EntryType.EntryConfChangeV2) n.rn.applyConfChange(decodeConfChangeV2(e.data));
    }
    n.rn.advance(rd);
    return rd;
  }

  /** Delivers the queued messages (those of cut links are dropped). Returns how many were delivered. */
  deliver(filter: (m: Message) => boolean = () => true): number {
    const q = this.queue;
    this.queue = [];
    let n = 0;
    for (const m of q) {
      const to = this.nodes.get(m.to);
      if (to === undefined || this.cut.has(`${m.from}-${m.to}`) || !filter(m)) continue;
      n++;
      try {
        to.rn.step(m);
      } catch (e) {
        if (!isRaftError(e)) throw e;
      }
    }
    return n;
  }

  /** Runs Ready cycles and deliveries until the network is quiet. */
  stabilize(filter?: (m: Message) => boolean): void {
    for (let round = 0; round < 10_000; round++) {
      let busy = false;
      for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) {
        if (this.ready(id) !== undefined) busy = true;
      }
      if (this.queue.length > 0) {
        this.deliver(filter);
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error("network did not stabilize");
  }

  /** Makes `id` campaign and runs the network until quiet. */
  elect(id: number): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** Proposes `data` at `id` and runs the network until quiet. */
  propose(id: number, data: string): void {
    this.node(id).propose(new TextEncoder().encode(data));
    this.stabilize();
  }

  /** The leader every node agrees on, or None. */
  leader(): number {
    let lead: number | undefined;
    for (const n of this.nodes.values()) {
      const l = n.rn.raft.lead;
      if (lead === undefined) lead = l;
      else if (lead !== l) return None;
    }
    return lead ?? None;
  }
}

/** The data of normal, non-empty entries as strings. */
export function dataOf(ents: readonly Entry[]): string[] {
  const dec = new TextDecoder();
  return ents
    .filter((e) => e.type === EntryType.EntryNormal && e.data.length > 0)
    .map((e) => dec.decode(e.data));
}

export { MessageType };
