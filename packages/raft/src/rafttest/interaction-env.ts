/**
 * The interaction harness (etcd-io/raft rafttest/interaction_env*.go): a group of RawNodes driven
 * step by step by a script, with every Ready, message, storage write and log line printed, so that
 * a transcript pins down the core's behaviour exactly. etcd's conformance corpus is written for it.
 *
 * Pure: no I/O, no clock. A script is run with {@link InteractionEnv.handle} one directive at a time;
 * the same operations are methods for programs that drive a group themselves.
 */

import type { Config } from "../config.js";
import type { ConfChangeI } from "../raftpb/confchange.js";
import type { Message, MessageType, Snapshot } from "../raftpb/types.js";
import type { RawNode } from "../raw-node.js";
import type { TestData } from "./datadriven.js";
import { addNodes, type RaftConfigTemplate, type SnapOverrideStorage } from "./handler-add-nodes.js";
import { campaign } from "./handler-campaign.js";
import { compact } from "./handler-compact.js";
import { deliverMsgs, type Recipient } from "./handler-deliver-msgs.js";
import { forgetLeader } from "./handler-forget-leader.js";
import { logLevel } from "./handler-log-level.js";
import { processAppendThread } from "./handler-process-append-thread.js";
import { processApplyThread } from "./handler-process-apply-thread.js";
import { processReady } from "./handler-process-ready.js";
import { propose } from "./handler-propose.js";
import { proposeConfChange } from "./handler-propose-conf-change.js";
import { raftLog } from "./handler-raft-log.js";
import { raftState } from "./handler-raft-state.js";
import { sendSnapshot } from "./handler-send-snapshot.js";
import { stabilize } from "./handler-stabilize.js";
import { status } from "./handler-status.js";
import { tick } from "./handler-tick.js";
import { transferLeadership } from "./handler-transfer-leadership.js";
import { handle } from "./interaction-env-handler.js";
import { RedirectLogger } from "./interaction-env-logger.js";

/** Options of an {@link InteractionEnv}. */
export interface InteractionOpts {
  /** Called with each node's Config before its RawNode is built; it may change anything but `id` and `logger`. */
  onConfig?: (cfg: Config) => void;
  /**
   * Sets a node's randomized election timeout (the `set-randomized-election-timeout` command); the
   * default uses the core's test hook.
   */
  setRandomizedElectionTimeout?: (node: RawNode, timeout: number) => void;
}

/** A member of the group. */
export interface Node {
  rawNode: RawNode;
  /** The node's storage, written by the harness as a driver would (Ready handling, append thread). */
  storage: SnapOverrideStorage;
  config: Config;
  /** MsgStorageAppend messages waiting for `process-append-thread` (asyncStorageWrites mode). */
  appendWork: Message[];
  /** MsgStorageApply messages waiting for `process-apply-thread` (asyncStorageWrites mode). */
  applyWork: Message[];
  /**
   * The state machine's states, one snapshot per applied entry (the state machine appends each
   * entry's data to the previous state). The last one is what the node's storage hands out as its
   * snapshot. Invariant: never empty; indexes increase.
   */
  history: Snapshot[];
}

/**
 * A group of nodes and the messages in flight between them. Node `i` (0-based index) has id `i + 1`.
 * All output, the nodes' log lines included, goes to {@link output}.
 */
export class InteractionEnv {
  readonly options: InteractionOpts;
  readonly nodes: Node[] = [];
  /** Messages sent and not yet delivered or dropped, in the order they were sent. */
  messages: Message[] = [];
  readonly output: RedirectLogger = new RedirectLogger();

  constructor(opts: InteractionOpts = {}) {
    this.options = opts;
  }

  /**
   * Runs one directive of a script and returns its output (`ok` if it printed nothing). Errors of the
   * core or of the command are printed; a malformed directive throws an InteractionScriptError.
   */
  handle(d: TestData): string {
    return handle(this, d);
  }

  /** Runs `f` and indents everything it prints by two spaces (line by line). */
  withIndent(f: () => void): void {
    const orig = this.output.swap("");
    try {
      f();
    } finally {
      const inner = this.output.swap(orig);
      let indented = "";
      for (const line of scanLines(inner)) indented += `  ${line}\n`;
      // Written straight to the buffer: the inner output was already filtered by the level.
      this.output.swap(orig + indented);
    }
  }

  /**
   * Adds `n` nodes with the next ids, each from `snap` (bootstrapped from it unless it is empty) and
   * a copy of `cfg`; the env supplies `id`, `storage` and `logger`.
   */
  addNodes(n: number, cfg: RaftConfigTemplate, snap?: Snapshot): void {
    addNodes(this, n, cfg, snap);
  }
  /** Node `idx` starts an election (a pre-election first if preVote is on). Errors are thrown. */
  campaign(idx: number): void {
    campaign(this, idx);
  }
  /** Compacts node `idx`'s log so that `newFirstIndex` is its first index, then prints the log. */
  compact(idx: number, newFirstIndex: number): void {
    compact(this, idx, newFirstIndex);
  }
  /**
   * Delivers (or drops) the in-flight messages to each recipient in turn, only those of type `typ`
   * if given; returns how many were handled.
   */
  deliverMsgs(typ: MessageType | undefined, ...rs: Recipient[]): number {
    return deliverMsgs(this, typ, ...rs);
  }
  /** Follower `idx` forgets its leader (RawNode.forgetLeader), e.g. to allow a pre-vote sooner. */
  forgetLeader(idx: number): void {
    forgetLeader(this, idx);
  }
  /** Sets the output level by name (DEBUG, INFO, WARN, ERROR, FATAL, NONE; any case). */
  logLevel(name: string): void {
    logLevel(this, name);
  }
  /**
   * Runs node `idx`'s next MsgStorageAppend (asyncStorageWrites): prints it, writes its hard state,
   * entries or snapshot to storage, and queues its responses.
   */
  processAppendThread(idx: number): void {
    processAppendThread(this, idx);
  }
  /** Runs node `idx`'s next MsgStorageApply: prints it, applies its entries, and queues its responses. */
  processApplyThread(idx: number): void {
    processApplyThread(this, idx);
  }
  /**
   * Handles one Ready of node `idx` as a driver would: prints it, persists and applies it (or queues
   * the storage messages in asyncStorageWrites mode), queues its messages, and advances.
   */
  processReady(idx: number): void {
    processReady(this, idx);
  }
  /** Node `idx` proposes a normal entry. Throws a "ProposalDropped" RaftError as RawNode.propose does. */
  propose(idx: number, data: Uint8Array): void {
    propose(this, idx, data);
  }
  /** Node `idx` proposes a configuration change (the nodes it adds must still be added with addNodes). */
  proposeConfChange(idx: number, cc: ConfChangeI): void {
    proposeConfChange(this, idx, cc);
  }
  /** Prints the entries of node `idx`'s log storage (not the unstable ones), one per line. */
  raftLog(idx: number): void {
    raftLog(this, idx);
  }
  /** Prints each node's role, voter status, term and leader, from its own view. */
  raftState(): void {
    raftState(this);
  }
  /** Queues (and prints) a MsgSnap from `fromIdx` to `toIdx` carrying `fromIdx`'s latest state. */
  sendSnapshot(fromIdx: number, toIdx: number): void {
    sendSnapshot(this, fromIdx, toIdx);
  }
  /** Handles Readies, messages and storage work on the given nodes (all if none) until nothing is left. */
  stabilize(...idxs: number[]): void {
    stabilize(this, ...idxs);
  }
  /** Prints the progress node `idx` tracks for each peer (only a leader tracks any). */
  status(idx: number): void {
    status(this, idx);
  }
  /** Ticks node `idx` `num` times. */
  tick(idx: number, num: number): void {
    tick(this, idx, num);
  }
  /** Asks leader `from` (an id, not an index) to transfer leadership to `to`. */
  transferLeadership(from: number, to: number): void {
    transferLeadership(this, from, to);
  }
}

/** Splits text into lines like Go's bufio.Scanner(ScanLines): no empty last line, `\r` dropped. */
function scanLines(s: string): string[] {
  if (s === "") return [];
  const lines = s.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}
