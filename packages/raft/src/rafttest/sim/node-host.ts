/**
 * One simulated node: a RawNode driven the way a careful application drives it (etcd's server
 * loop), over a storage split into what is durable and what is still being written, so that a
 * crash loses exactly what a real one would.
 *
 * The driver's rules (the Ready loop of docs/architecture.md, simulated):
 * - Ready/advance: a follower sends a Ready's messages only once its HardState and entries are
 *   durable; a leader sends them at once, in parallel with its write (Raft thesis §10.2.1). The
 *   write completes at a `sync` action; then committed entries are applied and `advance` called.
 * - asyncStorageWrites: network messages go out at once; MsgStorageAppend work completes at a
 *   `sync` (its responses — acknowledgements and votes — are delivered only then), MsgStorageApply
 *   work at an `apply`.
 * - A crash keeps the durable storage plus a prefix of the write in progress (a torn write), and
 *   loses everything else: the core, unsent messages, queued work and the state machine. A restart
 *   builds a new RawNode from the durable storage, with `applied` = the durable snapshot's index,
 *   and restores the state machine from that snapshot.
 * - Rules etcd's API leaves to the application, which the simulator showed to be necessary: a node
 *   that applies its own removal shuts down for good (ids are never reused); a snapshot received
 *   while committed entries are being applied waits for them (see deliver); with
 *   asyncStorageWrites, vote requests wait until their term is on disk (see heldVotes).
 */
import { LocalAppendThread, LocalApplyThread } from "../../constants.js";
import { isRaftError } from "../../errors.js";
import { discardLogger } from "../../logger.js";
import { mixSeed, Prng } from "../../prng.js";
import type { ConfChangeI } from "../../raftpb/confchange.js";
import { decodeConfChange, decodeConfChangeV2 } from "../../raftpb/decode.js";
import type { ConfState, Entry, HardState, Message, Snapshot } from "../../raftpb/types.js";
import { EMPTY_BYTES, EntryType, MessageType, newConfState } from "../../raftpb/types.js";
import { isEmptySnap } from "../../raftpb/util.js";
import { RawNode, type SnapshotStatus } from "../../raw-node.js";
import { ReadOnlyOption } from "../../read-only.js";
import type { Ready } from "../../ready.js";
import { StateType } from "../../ready.js";
import type { StateMachine } from "../../state-machine.js";
import { cloneConfState, type MemoryStorage } from "../../storage.js";
import { Disk, describeWrite } from "./disk.js";
import { type CheckedNode, type Checker, InvariantViolation } from "./invariants.js";
import { LogRecord } from "./log-record.js";
import type { BrokenVariant, SimOptions } from "./schedule.js";
import { StateMachineDriver, type StateMachineFactory } from "./state-machine-driver.js";

/** What a node needs from the simulation around it. */
export interface HostEnv {
  readonly seed: number;
  readonly options: SimOptions;
  readonly broken: ReadonlySet<BrokenVariant>;
  readonly checker: Checker;
  readonly makeStateMachine: StateMachineFactory;
  /** Counters the node adds to. */
  readonly stats: { snapshotsTaken: number; tornWrites: number; confChangesApplied: number };
  /** Puts a message on the network. */
  send(m: Message): void;
  /** Nodes a configuration change applied here removed from the cluster (may be empty). */
  onMembersRemoved(ids: readonly number[]): void;
  /** Records a transcript line (indented under the current step), if tracing. */
  trace: ((line: string) => void) | undefined;
}

/** The index and term of the bootstrap snapshot every initial member starts from. */
export const BOOTSTRAP_INDEX = 1;
export const BOOTSTRAP_TERM = 1;

/** A simulated node: its core, its storage (durable and in flight) and its state machine. */
export class NodeHost implements CheckedNode {
  readonly id: number;
  /** What survives a crash. The core reads its log there; writes land there when they complete. */
  readonly disk: Disk;
  /** The running core; undefined while down. */
  rn: RawNode | undefined;
  /** False while crashed. */
  up = false;
  /** True while frozen (no ticks, deliveries or storage work). */
  paused = false;
  /** Clock rate in percent of the simulation clock (tick-rate skew). */
  rate = 100;
  /** A slow disk: its writes wait until it is normal again (or the node stops cleanly). */
  slowDisk = false;
  private tickAcc = 0;
  /** Restarts so far (seeds each incarnation's election timeouts differently). */
  incarnation = 0;
  /** Drives this incarnation's state machine (see state-machine-driver.ts). */
  smd: StateMachineDriver;
  /** The last index applied (handed to the state machine, or restored from a snapshot). */
  appliedIndex = 0;
  /** The configuration as of `appliedIndex` (what a snapshot taken now records). */
  confState: ConfState = newConfState();
  /** Set once the node applied its own removal (or, leading, its demotion): to be shut down. */
  retiring = false;
  /** Removed from the cluster and shut down for good: never restarts (etcd never reuses an id). */
  removed = false;
  /** The log the core handed out in this incarnation (the checker's record; see log-record.ts). */
  log = new LogRecord();
  /** Ticks of this node's clock so far (all incarnations). */
  ticks = 0;

  // Ready/advance mode: the Ready being written, and the messages waiting for that write.
  private pending: Ready | undefined;
  private held: readonly Message[] = [];
  /** Snapshots received while committed entries were being applied (see deliver). */
  private deferred: Message[] = [];
  // asyncStorageWrites mode: work for the append and apply threads.
  private appendWork: Message[] = [];
  private applyWork: Message[] = [];
  /**
   * asyncStorageWrites: vote requests for a term not yet on disk. etcd hands them out at once, but
   * a candidate may then win on the others' votes alone, lead, crash before its new term is
   * durable, restart in the previous term, and win the same term again — its voters already voted
   * for it — leading one term twice with different entries at the same index and term (found by
   * the simulator). The driver sends them once the HardState holding their term is written.
   */
  private heldVotes: Message[] = [];
  private readonly voteEarly: boolean;

  private readonly env: HostEnv;
  private readonly async: boolean;

  /**
   * A node that is a member of the bootstrap configuration `cs` (its durable state holds the
   * bootstrap snapshot), or a spare with empty storage (`cs` undefined) that may be added later.
   */
  constructor(id: number, env: HostEnv, cs: ConfState | undefined) {
    this.id = id;
    this.env = env;
    this.async = env.options.asyncStorageWrites;
    this.voteEarly = env.broken.has("vote-before-persist");
    this.smd = new StateMachineDriver(id, env.makeStateMachine);
    this.disk = new Disk({
      onDurableWrite: (hs) => env.checker.onDurableWrite(id, hs),
      onTornWrite: () => env.stats.tornWrites++,
    });
    if (cs !== undefined) {
      this.durable.applySnapshot({
        data: EMPTY_BYTES,
        metadata: { confState: cs, index: BOOTSTRAP_INDEX, term: BOOTSTRAP_TERM },
      });
      this.durable.setHardState({ term: BOOTSTRAP_TERM, vote: 0, commit: BOOTSTRAP_INDEX });
    }
  }

  /** This incarnation's state machine. */
  get sm(): StateMachine<unknown> {
    return this.smd.sm;
  }

  /** The durable storage (what the core reads; what survives a crash). */
  get durable(): MemoryStorage {
    return this.disk.storage;
  }

  /** The simulator's record of the log on disk. */
  get durableLog(): LogRecord {
    return this.disk.record;
  }

  /** True while a snapshot the core handed out is not written yet (the node may not campaign). */
  get snapshotPending(): boolean {
    if (this.pending?.snapshot !== undefined && !isEmptySnap(this.pending.snapshot)) return true;
    return this.appendWork.some((m) => m.snapshot !== undefined && !isEmptySnap(m.snapshot));
  }

  /** True if the node is up and not paused. */
  get running(): boolean {
    return this.up && !this.paused;
  }

  /** True if storage work (writes or applies) is waiting. */
  get busy(): boolean {
    return this.pending !== undefined || this.appendWork.length > 0 || this.applyWork.length > 0;
  }

  /** Starts (or restarts) the node from its durable state. Not for a node removed for good. */
  start(): void {
    if (this.removed) throw new Error(`node ${this.id} was removed from the cluster: it never restarts`);
    const d = this.durable;
    const snap = d.snapshot();
    this.disk.reload();
    this.log = this.disk.record.clone();
    // A fresh (volatile) state machine, restored from the durable snapshot; the core then hands
    // out the committed entries after it again. The bootstrap snapshot holds no state.
    this.smd = new StateMachineDriver(this.id, this.env.makeStateMachine);
    if (snap.metadata.index > 0 && snap.data.length > 0) this.smd.restore(snap.metadata.index, snap.data);
    this.appliedIndex = snap.metadata.index;
    this.confState = cloneConfState(snap.metadata.confState);
    const o = this.env.options;
    const rnd = new Prng(mixSeed(this.env.seed, this.id, this.incarnation), 1);
    this.rn = this.core(
      () =>
        new RawNode({
          id: this.id,
          electionTick: o.electionTick,
          heartbeatTick: o.heartbeatTick,
          storage: d,
          applied: this.appliedIndex,
          asyncStorageWrites: o.asyncStorageWrites,
          maxSizePerMsg: o.maxSizePerMsg,
          maxCommittedSizePerReady: o.maxCommittedSizePerReady,
          maxInflightMsgs: o.maxInflightMsgs,
          checkQuorum: o.checkQuorum,
          preVote: o.preVote,
          readOnlyOption: o.leaseReads ? ReadOnlyOption.ReadOnlyLeaseBased : ReadOnlyOption.ReadOnlySafe,
          stepDownOnRemoval: o.stepDownOnRemoval,
          logger: discardLogger,
          random: rnd.asRandom(),
        }),
      false,
    );
    this.up = true;
    this.paused = false;
    this.tickAcc = 0;
    this.env.checker.onRestart(this, snap.metadata.confState);
    const r = this.rn.raft;
    this.env.trace?.(
      `${this.id} started: term ${r.term} vote ${r.vote} commit ${r.raftLog.committed} ` +
        `log ${r.raftLog.firstIndex()}..${r.raftLog.lastIndex()} applied ${this.appliedIndex}`,
    );
  }

  /**
   * Crashes the node. Of the write in progress, the first `torn` records survive (the entries in
   * order, then the HardState; a write carrying a snapshot survives whole or not at all); later
   * writes, unsent messages, queued work and the state machine are lost.
   */
  crash(torn: number): void {
    if (!this.up) return;
    let lost = 0;
    if (this.pending !== undefined) {
      const rd = this.pending;
      this.disk.writeTorn(rd.snapshot, rd.entries, rd.hardState, torn);
      lost = 1;
    } else if (this.appendWork.length > 0) {
      const m = this.appendWork[0]!;
      this.disk.writeTorn(m.snapshot, m.entries, hardStateOf(m), torn);
      lost = this.appendWork.length;
    }
    this.env.checker.onCrash(this);
    this.env.trace?.(
      `${this.id} crashed (${lost} write(s) in progress, ${torn} record(s) of the first kept; ` +
        `${this.held.length} unsent message(s), ${this.applyWork.length} apply batch(es) lost)`,
    );
    this.down();
  }

  /** Shuts the node down cleanly: every write completes first (a decommissioned node). */
  stop(): void {
    if (!this.up) return;
    this.paused = false;
    this.syncAndApplyAll();
    this.env.trace?.(`${this.id} stopped`);
    this.down();
  }

  private down(): void {
    this.smd.abandon();
    this.retiring = false;
    this.rn = undefined;
    this.up = false;
    this.paused = false;
    this.pending = undefined;
    this.held = [];
    this.deferred = [];
    this.heldVotes = [];
    this.appendWork = [];
    this.applyWork = [];
    this.incarnation++;
  }

  /** Completes a write; a snapshot also replaces the state machine. */
  private writeDurable(snap: Snapshot | undefined, ents: readonly Entry[], hs: HardState | undefined): void {
    try {
      this.disk.write(snap, ents, hs);
    } catch (e) {
      throw new InvariantViolation("core-panic", `node ${this.id}: ${(e as Error).message}`);
    }
    if (snap !== undefined && !isEmptySnap(snap)) {
      if (snap.data.length > 0) this.smd.restore(snap.metadata.index, snap.data);
      else this.smd.reset();
      this.appliedIndex = snap.metadata.index;
      this.confState = cloneConfState(snap.metadata.confState);
      this.env.checker.onApplySnapshot(this.id, snap.metadata);
    }
    if (this.env.trace !== undefined) {
      const what = describeWrite(snap, ents, hs);
      if (what !== "") this.env.trace(`${this.id} wrote ${what}`);
    }
  }

  /**
   * Calls into the core: RaftErrors (a dropped proposal, a message from an unknown peer) are
   * expected and ignored when `allowRaftErrors`; anything else thrown is a failure of the core.
   * Then lets the checker look at the node.
   */
  /** Calls into the core without looking at it after: a throw is a core-panic violation. */
  private guarded<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof InvariantViolation) throw e;
      const err = e as Error;
      throw new InvariantViolation("core-panic", `node ${this.id}: ${err.name}: ${err.message}`);
    }
  }

  private core<T>(f: () => T, allowRaftErrors = true, then?: (out: T) => void): T {
    let out: T;
    try {
      out = f();
    } catch (e) {
      if (e instanceof InvariantViolation) throw e;
      if (allowRaftErrors && isRaftError(e)) return undefined as T;
      const err = e as Error;
      throw new InvariantViolation("core-panic", `node ${this.id}: ${err.name}: ${err.message}`);
    }
    then?.(out);
    if (this.rn !== undefined) this.env.checker.observe(this);
    return out;
  }

  /** One clock tick: the node ticks 0, 1 or more times depending on its rate. */
  tick(): void {
    if (!this.running) return;
    this.tickAcc += this.rate;
    while (this.tickAcc >= 100) {
      this.tickAcc -= 100;
      this.ticks++;
      this.core(() => this.rn!.tick());
    }
  }

  /**
   * Steps a message from the network (lost if the node is down). Returns false if lost.
   *
   * A snapshot waits while committed entries handed out by the core are still being applied: the
   * core restores a snapshot (configuration included) as soon as it is stepped, and applying the
   * older entries' configuration changes after that would change the restored configuration (etcd's
   * API allows this; applications must not). It is stepped once those entries are applied.
   */
  deliver(m: Message): boolean {
    if (!this.up) return false;
    if (m.type === MessageType.MsgSnap && this.applying()) {
      this.deferred.push(m);
      this.env.trace?.(`${this.id} holds the snapshot back until its committed entries are applied`);
      return true;
    }
    this.core(() => this.rn!.step(m));
    return true;
  }

  /** True while committed entries handed out by the core wait to be applied. */
  private applying(): boolean {
    return this.async
      ? this.applyWork.length > 0
      : this.pending !== undefined && this.pending.committedEntries.length > 0;
  }

  /** Steps the snapshots held back by {@link NodeHost.deliver}, once nothing is being applied. */
  private stepDeferred(): void {
    if (this.deferred.length === 0 || this.applying() || !this.up) return;
    const msgs = this.deferred;
    this.deferred = [];
    for (const m of msgs) this.core(() => this.rn!.step(m));
  }

  /** A client proposal. */
  propose(data: Uint8Array): void {
    if (this.running) this.core(() => this.rn!.propose(data));
  }

  /** Proposes a configuration change. */
  proposeConfChange(cc: ConfChangeI): void {
    if (this.running) this.core(() => this.rn!.proposeConfChange(cc));
  }

  /** A client ReadIndex request. */
  readIndex(ctx: Uint8Array): void {
    if (this.running) this.core(() => this.rn!.readIndex(ctx));
  }

  /** Asks this node (the leader) to transfer leadership. */
  transferLeader(to: number): void {
    if (this.running) this.core(() => this.rn!.transferLeader(to));
  }

  /** The transport's report on a snapshot sent to `to` (ignored while down). */
  reportSnapshot(to: number, status: SnapshotStatus): void {
    if (this.up) this.core(() => this.rn!.reportSnapshot(to, status));
  }

  /** The transport's report that `to` could not be reached (ignored while down). */
  reportUnreachable(to: number): void {
    if (this.up) this.core(() => this.rn!.reportUnreachable(to));
  }

  /** Campaigns now. */
  campaign(): void {
    if (this.running) this.core(() => this.rn!.campaign());
  }

  /**
   * Snapshots the state machine at the applied index and compacts the durable log, keeping `keep`
   * entries before it. Returns why it did nothing, or undefined.
   */
  snapshot(keep: number): string | undefined {
    if (!this.running) return "not running";
    const i = this.appliedIndex;
    if (i <= this.disk.snapIndex) return "nothing applied since the last snapshot";
    // On restart the core requires the durable commit index to cover the snapshot (loadState);
    // with asyncStorageWrites the apply thread may be ahead of the HardState on disk.
    const commit = this.durable.initialState().hardState.commit;
    if (i > commit) return `applied ${i} is beyond the durable commit index ${commit}`;
    const cs = cloneConfState(this.confState);
    const incarnation = this.incarnation;
    this.smd.snapshot((_, image) => {
      // An asynchronous image may come after a crash (lost with the node's memory) or after a
      // newer snapshot from the leader was written.
      if (this.incarnation !== incarnation || i <= this.disk.snapIndex) return;
      this.disk.snapshot(i, cs, image, keep);
      this.env.stats.snapshotsTaken++;
      this.env.trace?.(
        `${this.id} snapshot at ${i}, log now ${this.durable.firstIndex()}..${this.durable.lastIndex()}`,
      );
    });
    return undefined;
  }

  /** Takes and handles every Ready the node has (and may take now). */
  processReadies(): void {
    if (!this.running) return;
    const rn = this.rn!;
    // A panic of the core's Ready code is a core-panic violation, like any other of its throws.
    const ready = (): Ready => this.guarded(() => rn.ready());
    for (let guard = 0; this.guarded(() => rn.hasReady()); guard++) {
      if (guard > 1000) throw new InvariantViolation("core-panic", `node ${this.id}: Ready never settles`);
      if (this.async) {
        this.handleReadyAsync(ready());
      } else {
        if (this.pending !== undefined) return; // the previous Ready is still being written
        this.handleReady(ready());
      }
    }
  }

  private handleReady(rd: Ready): void {
    const rn = this.rn!;
    this.env.checker.onReady(this, rd);
    const leader = rn.raft.state === StateType.StateLeader;
    if (leader || this.env.broken.has("send-before-persist")) {
      for (const m of rd.messages) this.env.send(m);
    } else {
      this.held = rd.messages;
    }
    if (this.env.broken.has("apply-before-commit")) this.applyEntries(rd.entries);
    const needsWrite = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    if (needsWrite) this.pending = rd;
    else this.finishReady(rd);
  }

  /** The Ready's write is durable: send what waited for it, apply, advance. */
  private finishReady(rd: Ready): void {
    this.writeDurable(rd.snapshot, rd.entries, rd.hardState);
    const held = this.held;
    this.held = [];
    for (const m of held) this.env.send(m);
    this.applyEntries(rd.committedEntries);
    this.pending = undefined;
    this.core(() => this.rn!.advance(rd), false);
    this.stepDeferred();
  }

  private handleReadyAsync(rd: Ready): void {
    this.env.checker.onReady(this, rd);
    const early = this.env.broken.has("send-before-persist");
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) {
        if (early) {
          // The broken driver answers before persisting: responses to other nodes go out now.
          for (const r of m.responses) if (r.to !== this.id) this.env.send(r);
          this.appendWork.push({ ...m, responses: m.responses.filter((r) => r.to === this.id) });
        } else {
          this.appendWork.push(m);
        }
      } else if (m.to === LocalApplyThread) {
        this.applyWork.push(m);
      } else if (m.type === MessageType.MsgVote && m.term > this.disk.term && !this.voteEarly) {
        this.heldVotes.push(m);
      } else {
        this.env.send(m);
      }
    }
    if (this.env.broken.has("apply-before-commit")) this.applyEntries(rd.entries);
  }

  /** Completes the oldest write (a `sync` action). Returns false if there was none. */
  syncOne(): boolean {
    if (!this.running) return false;
    if (this.async) {
      const m = this.appendWork.shift();
      if (m === undefined) return false;
      this.writeDurable(m.snapshot, m.entries, hardStateOf(m));
      this.deliverResponses(m.responses);
      this.releaseVotes();
    } else {
      const rd = this.pending;
      if (rd === undefined) return false;
      this.finishReady(rd);
    }
    this.processReadies();
    return true;
  }

  /** Sends the vote requests held back until their term is durable (see heldVotes). */
  private releaseVotes(): void {
    if (this.heldVotes.length === 0) return;
    const keep: Message[] = [];
    for (const m of this.heldVotes) {
      if (m.term <= this.disk.term) this.env.send(m);
      else keep.push(m);
    }
    this.heldVotes = keep;
  }

  /** Runs the oldest apply batch (asyncStorageWrites; an `apply` action). Returns false if none. */
  applyOne(): boolean {
    if (!this.running) return false;
    const m = this.applyWork.shift();
    if (m === undefined) return false;
    this.applyEntries(m.entries);
    this.deliverResponses(m.responses);
    this.stepDeferred();
    this.processReadies();
    return true;
  }

  /** Completes every write and apply (and the work they lead to). */
  syncAndApplyAll(): void {
    for (let guard = 0; this.running && this.busy; guard++) {
      if (guard > 10000)
        throw new InvariantViolation("core-panic", `node ${this.id}: storage work never settles`);
      if (!this.syncOne()) this.applyOne();
    }
  }

  private deliverResponses(resps: readonly Message[]): void {
    for (const r of resps) {
      if (r.to === this.id) this.core(() => this.rn!.step(r));
      else this.env.send(r);
    }
  }

  /** Applies committed entries to the state machine and configuration changes to the core. */
  private applyEntries(ents: readonly Entry[]): void {
    const from = this.appliedIndex;
    let batch: Entry[] = [];
    for (const e of ents) {
      // Covered by a snapshot restored meanwhile (asyncStorageWrites).
      if (e.index <= this.appliedIndex) continue;
      this.env.checker.onApply(this, e);
      if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
        // The entries before the change go to the state machine under the old configuration; the
        // change itself once Raft applied it (the contract's "conf-change" kind).
        this.smd.apply(batch);
        batch = [e];
        const cc =
          e.type === EntryType.EntryConfChange ? decodeConfChange(e.data) : decodeConfChangeV2(e.data);
        const before = this.confState;
        this.env.stats.confChangesApplied++;
        // The checker learns the new configuration before it looks at what the core did with it
        // (a leader commits at once what the new quorum allows).
        this.confState = this.core(
          () => this.rn!.applyConfChange(cc),
          false,
          (cs) => this.env.checker.onConfChange(this, e.index, cc, cs),
        );
        this.env.trace?.(`${this.id} applied conf change at ${e.index}: ${formatConfState(this.confState)}`);
        this.checkRetired(before);
      } else {
        batch.push(e);
      }
      this.appliedIndex = e.index;
    }
    this.smd.apply(batch);
    if (this.env.trace !== undefined && this.appliedIndex > from) {
      this.env.trace(`${this.id} applied ${from + 1}..${this.appliedIndex}`);
    }
  }

  /**
   * etcd's server shuts a member down for good once it applies its own removal (a node id is never
   * used again, see etcd's README). A leader demoted to learner without stepDownOnRemoval is shut
   * down too (it may come back, as the learner it is): it would keep leading, and with one voter
   * left in its configuration it answers ReadIndex requests alone (the core takes the sole voter for
   * itself), serving stale reads.
   */
  private checkRetired(before: ConfState): void {
    const cs = this.confState;
    const me = this.id;
    const voter = cs.voters.includes(me) || cs.votersOutgoing.includes(me);
    const member = voter || cs.learners.includes(me) || cs.learnersNext.includes(me);
    const zombieLeader =
      !voter && !this.env.options.stepDownOnRemoval && this.rn!.raft.state === StateType.StateLeader;
    if (!member) this.removed = true;
    if (!member || zombieLeader) this.retiring = true;
    const after = membersOf(cs);
    this.env.onMembersRemoved(membersOf(before).filter((id) => !after.includes(id)));
  }

  /** Sets the clock rate. */
  setRate(rate: number): void {
    this.rate = rate;
  }
}

/** The HardState a MsgStorageAppend carries (all zeros if it carries none). */
function hardStateOf(m: Message): HardState {
  return { term: m.term, vote: m.vote, commit: m.commit };
}

/** Every member of `cs`: voters (both halves) and learners (current and next). */
function membersOf(cs: ConfState): number[] {
  return [...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext];
}

/** `voters=[1 2] learners=[3]`, with the joint parts when present. */
export function formatConfState(cs: ConfState): string {
  let s = `voters=[${cs.voters.join(" ")}]`;
  if (cs.votersOutgoing.length > 0) s += `&&[${cs.votersOutgoing.join(" ")}]`;
  if (cs.learners.length > 0) s += ` learners=[${cs.learners.join(" ")}]`;
  if (cs.learnersNext.length > 0) s += ` learners_next=[${cs.learnersNext.join(" ")}]`;
  if (cs.autoLeave) s += " autoleave";
  return s;
}
