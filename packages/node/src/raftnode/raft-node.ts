/**
 * RaftNode: one member of a Raft cluster, running for real. One object owns the `@tsraft/raft`
 * core, the node's storage (WAL, snapshot files, MemoryStorage), the transport and every waiting
 * request, and runs two loops over them, as etcd's server does:
 *
 * - the **Ready loop** (etcd's raftNode.start), {@link RaftNode.handleReady}: hand committed entries
 *   to the apply loop, send (a leader first), write the WAL, install a snapshot, append to
 *   MemoryStorage, send (a follower now), advance — in that order, read top-down;
 * - the **apply loop** (etcd's applyAll), {@link RaftNode.applyLoop}: apply committed entries to
 *   the state machine and act on what that did (settle requests, follow membership changes), take
 *   state machine images for followers that need them, and compact the log now and then.
 *
 * Requests are promises: a proposal settles with the state machine's result once its entry applies
 * on this node; a linearizable read once a read index confirmed by the leader applies here.
 * docs/architecture.md walks a client write through this file.
 */
import { randomInt } from "node:crypto";
import { realpathSync } from "node:fs";
import {
  type Config,
  isDurableStateMachine,
  isRaftError,
  LocalAppendThread,
  LocalApplyThread,
  newRandom,
  type Peer,
  RaftPanic,
  RawNode,
  type Ready,
  SnapshotStatus,
  type StateMachine,
  type StateMachineSnapshot,
  StateType,
} from "@tsraft/raft";
import {
  type Entry,
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  type Snapshot,
} from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import { trace, tracing } from "../trace.js";
import type { TransportHandler, TransportOptions } from "../transport/options.js";
import { Transport } from "../transport/transport.js";
import { Applier, type ApplyOutcome, type ApplyTask } from "./applier.js";
import { CatchUps } from "./catch-up.js";
import { CatchUpPacer } from "./catch-up-pace.js";
import { IndexWaiters, StopSignal, TaskQueue, Wakeup } from "./channels.js";
import { Compactor } from "./compactor.js";
import { DataDirLock } from "./data-dir-lock.js";
import { isRaftNodeError, noLeaderError, RaftNodeError, stoppedError } from "./errors.js";
import { dataDirHasLog, forceNewCluster } from "./force-new-cluster.js";
import { toRaftLogger } from "./logger.js";
import { type Member, Membership } from "./membership.js";
import { decodeSnapshotMetadata, encodeSnapshotMetadata } from "./metadata.js";
import { NodeEvents, type RaftNodeEvents } from "./node-events.js";
import { NodeStorage } from "./node-storage.js";
import {
  type RaftNodeOptions,
  type RaftTransport,
  type ResolvedNodeOptions,
  resolveNodeOptions,
} from "./options.js";
import { encodeConfChangeContext } from "./proposal.js";
import { Proposer } from "./proposer.js";
import { ReadIndexBatcher } from "./read-index.js";
import { commitOnlyPeers, needsDurability } from "./ready-messages.js";
import { guard, type RequestOptions } from "./requests.js";
import { nodeStatus, type RaftNodeStatus } from "./status.js";
import { TransportPeers } from "./transport-peers.js";

/** Work for the apply loop, in the order it must happen. */
type LoopTask =
  /** Committed entries (and a snapshot) to apply; `responses`: asyncStorageWrites' MsgStorageApplyResp. */
  | { readonly kind: "apply"; readonly task: ApplyTask; readonly responses: readonly Message[] }
  /** A MsgSnap the core wants sent: take the state machine's image between two applies. */
  | { readonly kind: "send-snapshot"; readonly msg: Message }
  /** A compaction ended: check at once whether another is due (nothing else may come to trigger it). */
  | { readonly kind: "compact" }
  /** exportSnapshot(): take the state machine's image between two applies and hand it over. */
  | { readonly kind: "export"; readonly done: (r: ExportedSnapshot | Error) => void };

/** What {@link RaftNode.exportSnapshot} resolves with. */
export interface ExportedSnapshot {
  /** The applied index the image is at, and the term of the entry there. */
  readonly index: number;
  readonly term: number;
  /** The image: read it (once), then release it. */
  readonly snapshot: StateMachineSnapshot;
}

/**
 * Tasks the apply loop may be behind before a leader's Ready loop stops taking Readys (etcd's
 * applyc), and before a follower sheds the leader's appends (see {@link RaftNode.shedsAppend}).
 */
const APPLY_BACKLOG = 64;
/** asyncStorageWrites: MsgStorageAppends the append worker may be behind. */
const APPEND_BACKLOG = 256;

/**
 * A running Raft node. Create it with {@link RaftNode.start}; stop it with {@link RaftNode.stop}.
 * `R` is what the state machine's `apply` returns for an entry: {@link RaftNode.propose} resolves
 * with it. All methods may be called from any async context; none blocks the event loop.
 */
export class RaftNode<R = unknown> {
  readonly id: number;
  readonly metrics: NodeMetrics;
  /** The node's pino logger (a child with `node: <id>`). */
  readonly logger: Logger;

  private readonly sm: StateMachine<R>;
  private readonly rawNode: RawNode;
  private readonly transport: RaftTransport;
  private readonly membership = new Membership();
  private readonly applier: Applier<R>;
  private readonly peers: TransportPeers;
  private readonly events: NodeEvents;
  private readonly proposer: Proposer<R>;
  private readonly reads: ReadIndexBatcher;
  private readonly compactor: Compactor<R>;
  private readonly catchUps = new CatchUps();
  /** MsgApps to followers far behind, at their catch-up pace (catch-up-pace.ts). */
  private readonly pacer: CatchUpPacer;
  /** The apply loop is restoring a snapshot from the leader. */
  private restoring = false;
  /** From the Ready loop to the apply loop. */
  private readonly applyQueue = new TaskQueue<LoopTask>();
  /** asyncStorageWrites: from the Ready loop to the append worker. */
  private readonly appendQueue = new TaskQueue<Message>();
  /** Wakes the Ready loop: something may have made the core ready. */
  private readonly wakeup = new Wakeup();
  /** The index applied to the state machine (reads and followers' conf changes wait on it). */
  private readonly applied = new IndexWaiters();
  /** The index Raft knows is applied (advanced): conf-change requests settle after it. */
  private readonly raftApplied = new IndexWaiters();
  /** The term of the last entry applied, as last handed to the pending requests. */
  private appliedTerm = 0;
  /** A peer said this node was removed (transport): it stops once, like applying its own removal. */
  private removedNotice = false;
  /** The leader and role as of the last Ready's SoftState. */
  private lead = 0;
  private raftState = StateType.StateFollower;
  /** asyncStorageWrites: the last HardState written, and the last one handed to the append worker. */
  private lastHardState: HardState;
  private lastQueuedHardState: HardState;
  /** A "compact" task waits in the apply queue. */
  private compactionQueued = false;
  /** Background storage work (compactions, image removals) that `stop` waits for. */
  private readonly background = new Set<Promise<void>>();
  private readonly loops: Promise<void>[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  /** Ends the loops' waits once the node stops. */
  private readonly stopSignal = new StopSignal();
  private stopPromise: Promise<void> | undefined;
  private stopCause: unknown;
  private stopping = false;

  private constructor(
    private readonly o: ResolvedNodeOptions<R>,
    private readonly disk: NodeStorage,
    smApplied: number,
    /**
     * The data directory's lock this node took, released once the WAL is closed at stop (undefined
     * on a MemFileSystem, or when the caller gave its own: the caller releases that one).
     */
    private readonly lock: DataDirLock | undefined,
  ) {
    this.id = o.id;
    this.metrics = o.metrics;
    this.logger = o.logger;
    this.sm = o.stateMachine;
    this.events = new NodeEvents(o.logger);
    this.lastHardState = disk.hardState;
    this.lastQueuedHardState = disk.hardState;
    const snapshot = disk.snapshot;

    this.rawNode = new RawNode(this.raftConfig());
    if (!disk.restarted && !o.join) this.rawNode.bootstrap(this.bootstrapPeers());
    const nonce = randomInt(2 ** 47);
    this.proposer = new Proposer<R>(
      {
        id: o.id,
        rawNode: this.rawNode,
        membership: this.membership,
        log: o.logger,
        metrics: o.metrics,
        requestTimeoutMs: o.requestTimeoutMs,
        maxRequestBytes: o.maxRequestBytes,
        maxPendingProposals: o.maxPendingProposals,
        leader: () => this.leader(),
        onRaftApplied: (index, fn) => this.raftApplied.wait(index, fn),
        stepped: () => this.wakeup.kick(),
        fatal: (e, where) => this.fatal(e, where),
      },
      nonce,
    );
    this.applier = new Applier<R>(
      {
        sm: this.sm,
        membership: this.membership,
        applyConfChange: (cc) => this.rawNode.applyConfChange(cc),
        isOwnRequest: (id) => this.proposer.isOwn(id),
        log: o.logger,
        metrics: o.metrics,
      },
      { snapshot, smApplied },
    );
    this.applied.trigger(this.applier.appliedIndex);
    this.raftApplied.trigger(this.applier.appliedIndex);
    this.pacer = new CatchUpPacer(
      o.catchUpBytesPerSec,
      (msgs) => {
        if (!this.stopping) this.transport.send(msgs);
      },
      (to, bytes) => this.metrics.catchUpPacedBytes.inc({ to: String(to) }, bytes),
    );
    this.compactor = new Compactor<R>(
      {
        sm: this.sm,
        applier: this.applier,
        membership: this.membership,
        disk,
        snapshotCount: o.snapshotCount,
        snapshotBytes: o.snapshotBytes,
        log: o.logger,
        metrics: o.metrics,
        keepFrom: (pointIndex) => this.catchUps.keepFrom(this.rawNode.status(), pointIndex),
      },
      snapshot?.metadata.index ?? 0,
    );
    this.reads = new ReadIndexBatcher(
      {
        log: o.logger,
        metrics: o.metrics,
        readIndex: (ctx) => this.guardCore(() => this.rawNode.readIndex(ctx)),
        leader: () => this.leader(),
        whenApplied: (index, fn) => this.applied.wait(index, fn),
      },
      nonce,
      {
        requestTimeoutMs: o.requestTimeoutMs,
        maxPendingReads: o.maxPendingReads,
        retryMs: Math.max(o.tickMs, Math.min(500, o.tickMs * o.electionTick)),
      },
    );

    // The transport starts from the snapshot's membership if there is one, else from `peers`;
    // applying the log's conf changes then adds and removes peers as they happened.
    let initial: [number, string][] = [...o.peers];
    if (snapshot !== undefined) {
      const meta = decodeSnapshotMetadata(snapshot.data);
      this.membership.restore(meta.members, meta.removed);
      initial = meta.members.map((m) => [m.id, m.url]);
    }
    const transportPeers = new Map(initial.filter(([id]) => id !== o.id));
    const topts: TransportOptions = {
      ...o.transport,
      id: o.id,
      clusterId: o.clusterId,
      ...(o.listen === undefined ? {} : { listen: o.listen }),
      peers: transportPeers,
      handler: this.transportHandler(),
      logger: o.logger,
      metrics: o.metrics,
    };
    this.transport = o.transportFactory?.(topts) ?? new Transport(topts);
    this.peers = new TransportPeers(
      this.transport,
      o.id,
      2 * o.tickMs * o.electionTick,
      (id) => this.membership.isRemoved(id),
      transportPeers.keys(),
    );
  }

  /**
   * Opens (or creates) the data directory and restores the state: the newest snapshot the WAL
   * knows, then the WAL after it. A state machine behind that snapshot (a volatile one always is)
   * is restored from the snapshot's image first, then only sees the entries after its applied
   * index. Starts the transport, the tick timer and the loops. Throws if the directory holds
   * another node's WAL, the WAL is corrupt, or the port is taken.
   */
  static async start<R>(opts: RaftNodeOptions<R>): Promise<RaftNode<R>> {
    const o = resolveNodeOptions(opts);
    checkPeers(o.peers);
    const lock = lockDataDir(o);
    let disk: NodeStorage;
    try {
      if (o.forceNewCluster && !(await dataDirHasLog(o.dataDir, o.fs))) {
        throw new RaftNodeError(
          "InvalidArgument",
          `raftnode: forceNewCluster needs the data directory of a surviving member; ${o.dataDir} holds no log`,
        );
      }
      disk = await NodeStorage.open(o, o.logger);
    } catch (e) {
      lock?.release();
      throw e;
    }
    let node: RaftNode<R> | undefined;
    try {
      if (o.forceNewCluster) await forceNewCluster(disk, o.id, o.logger);
      const sm = o.stateMachine;
      let smApplied = sm.appliedIndex();
      const snap = disk.snapshot;
      if (snap !== undefined && smApplied < snap.metadata.index) {
        o.logger.info(
          { smApplied, snapshotIndex: snap.metadata.index },
          "restoring the state machine from the snapshot",
        );
        await sm.restore(snap.metadata.index, disk.openImage(snap));
        smApplied = snap.metadata.index;
      }
      node = new RaftNode(o, disk, smApplied, lock);
      await node.transport.start();
      node.run();
      o.logger.info(
        {
          restarted: disk.restarted,
          join: o.join,
          applied: node.applier.appliedIndex,
          smApplied,
          durable: isDurableStateMachine(sm),
          asyncStorageWrites: o.asyncStorageWrites,
        },
        "raft node started",
      );
      // Names this process's trace (scripts/trace-report.mjs matches peers by node id).
      if (tracing) trace("node.start", { id: o.id });
      return node;
    } catch (e) {
      await node?.transport.stop().catch(() => {});
      await disk.close().catch(() => {});
      lock?.release();
      throw e;
    }
  }

  // --- requests -----------------------------------------------------------------------------------

  /**
   * Proposes `data` and resolves with the state machine's `apply` result for its entry once it is
   * applied on this node. Rejects (RaftNodeError) with NoLeader (not proposed), ProposalDropped,
   * TooManyRequests, RequestTooLarge, Timeout (it may still apply!), Aborted or Stopped.
   */
  async propose(data: Uint8Array, opts: RequestOptions = {}): Promise<R> {
    this.checkRunning();
    return this.proposer.propose(data, opts);
  }

  /**
   * Resolves once this node's state machine reflects every write that completed before the call
   * (a ReadIndex round confirmed by the leader, then applied here). Concurrent callers share one
   * round. Rejects with NoLeader, Timeout, TooManyRequests, Aborted or Stopped.
   */
  linearizableRead(opts: RequestOptions = {}): Promise<void> {
    return this.reads.read(opts);
  }

  /**
   * Adds a member (as a learner with `{ learner: true }`; etcd's recommended way: add a learner,
   * let it catch up, then promote). `url` is its peer URL; it starts with `join: true`. Settles
   * when the conf change is applied here; rejects with MemberExists, MemberRemoved, UrlExists,
   * NoLeader, Timeout, Stopped...
   */
  async addMember(id: number, url: string, opts: RequestOptions & { learner?: boolean } = {}): Promise<void> {
    if (!Number.isSafeInteger(id) || id <= 0)
      throw new RaftNodeError("InvalidArgument", `raftnode: bad member id ${id}`);
    if (!/^wss?:\/\/[^/]+/.test(url))
      throw new RaftNodeError("InvalidArgument", `raftnode: bad peer URL ${url}`);
    this.checkRunning();
    await this.proposer.confChange({ kind: "add", id, url, learner: opts.learner === true }, opts);
  }

  /** Removes a member. A removed id can never be added again. Rejects with MemberNotFound... */
  async removeMember(id: number, opts: RequestOptions = {}): Promise<void> {
    this.checkRunning();
    await this.proposer.confChange({ kind: "remove", id }, opts);
  }

  /** Promotes a learner to voter. Rejects with MemberNotFound, MemberNotLearner... */
  async promoteMember(id: number, opts: RequestOptions = {}): Promise<void> {
    this.checkRunning();
    await this.proposer.confChange({ kind: "promote", id }, opts);
  }

  /**
   * Asks the leader to hand leadership to `to` (a voter) and resolves once this node sees `to` lead.
   * Rejects with MemberNotFound, MemberIsLearner, NoLeader; with LeaderChanged if another node
   * takes over; with Timeout at `timeoutMs`, or as soon as raft abandons the transfer (after an
   * election timeout in which `to` did not take over: down, or not caught up) and stays leader.
   */
  async transferLeadership(to: number, opts: RequestOptions = {}): Promise<void> {
    this.checkRunning();
    const m = this.membership.get(to);
    if (m === undefined) throw new RaftNodeError("MemberNotFound", `raftnode: member ${to} not found`);
    if (m.learner) throw new RaftNodeError("MemberIsLearner", `raftnode: member ${to} is a learner`);
    if (this.leader() === to) return;
    if (this.leader() === 0) throw noLeaderError("leadership transfer");
    let watch: NodeJS.Timeout | undefined;
    const { promise, waiter } = guard<undefined>(
      "leadership transfer",
      opts.timeoutMs ?? this.o.requestTimeoutMs,
      opts.signal,
      () => {
        this.events.off("leader-change", onChange);
        this.events.off("stopped", onStop);
        clearInterval(watch);
      },
    );
    const onChange = (e: { lead: number }): void => {
      if (e.lead === to) waiter.resolve(undefined);
      else if (e.lead !== 0) {
        waiter.reject(
          new RaftNodeError("LeaderChanged", `raftnode: leadership went to ${e.lead}, not ${to}`),
        );
      }
    };
    const onStop = (cause: unknown): void => waiter.reject(stoppedError(cause));
    this.events.on("leader-change", onChange);
    this.events.on("stopped", onStop);
    this.guardCore(() => this.rawNode.transferLeader(to));
    // Raft gives a transfer up after an election timeout if the target has not taken over (it did
    // not catch up, or is down), and stays leader: say so then, not at the request's timeout.
    watch = setInterval(() => {
      const st = this.rawNode.basicStatus();
      if (st.raftState === StateType.StateLeader && st.leadTransferee !== to) {
        waiter.reject(
          new RaftNodeError(
            "Timeout",
            `raftnode: raft abandoned the leadership transfer to ${to} after an election timeout (is it up and caught up?)`,
          ),
        );
      }
    }, this.o.tickMs);
    watch.unref();
    await promise;
  }

  /**
   * A point-in-time image of the state machine at the index applied now, with that index and its
   * term, taken between two applies as for a follower's snapshot (etcd's maintenance Snapshot): for
   * backups. Call {@link linearizableRead} first for an image that holds every write completed
   * before. The caller reads `snapshot.read()` (entries keep applying meanwhile) and must
   * `release()` it. Rejects with Stopped if the node stops first.
   */
  exportSnapshot(): Promise<ExportedSnapshot> {
    this.checkRunning();
    const taken = new Promise<ExportedSnapshot>((resolve, reject) => {
      this.applyQueue.push({
        kind: "export",
        done: (r) => (r instanceof Error ? reject(r) : resolve(r)),
      });
    });
    return this.untilStopped(taken);
  }

  // --- state ----------------------------------------------------------------------------------------

  /**
   * The members as the applied log says (id order). Before this node has applied its first conf
   * change (a fresh or joining node), the initial `peers` it was started with.
   */
  members(): Member[] {
    if (this.membership.size > 0 || this.applier.appliedIndex > 0) return this.membership.list();
    return [...this.o.peers].sort((a, b) => a[0] - b[0]).map(([id, url]) => ({ id, url, learner: false }));
  }

  /** A JSON-friendly status: Raft's HardState and role, applied index, members, progress on a leader. */
  status(): RaftNodeStatus {
    const a = this.applier;
    return nodeStatus(this.rawNode.status(), a.appliedIndex, this.compactor.snapshotIndex, this.members());
  }

  isLeader(): boolean {
    return this.rawNode.basicStatus().raftState === StateType.StateLeader;
  }

  /** The leader's id as this node knows it; 0 if none. */
  leader(): number {
    return this.rawNode.basicStatus().lead;
  }

  /** Subscribes to an event: "leader-change", "removed", "stopped". */
  on<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): this {
    this.events.on(event, fn);
    return this;
  }

  off<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): this {
    this.events.off(event, fn);
    return this;
  }

  /** True once the node has stopped or is stopping (after `stop`, a removal, or a fatal error). */
  get stopped(): boolean {
    return this.stopping;
  }

  /**
   * Stops timers and transport, lets the loops finish their current step and background storage
   * work end, then closes the WAL. Waiting requests reject with Stopped. Idempotent.
   */
  stop(): Promise<void> {
    return this.shutdown(undefined);
  }

  // --- the Ready loop ---------------------------------------------------------------------------------

  /** Starts the tick timer (the only clock) and the loops. */
  private run(): void {
    this.tickTimer = setInterval(() => {
      if (!this.stopping) this.guardCore(() => this.rawNode.tick());
    }, this.o.tickMs);
    const loop = (name: string, f: () => Promise<void>): void => {
      this.loops.push(
        f().catch((e) => {
          if (!this.stopping || !isRaftNodeError(e, "Stopped")) this.fatal(e, name);
        }),
      );
    };
    loop("ready loop", () => this.readyLoop());
    loop("apply loop", () => this.applyLoop());
    if (this.o.asyncStorageWrites) loop("append worker", () => this.appendLoop());
  }

  /**
   * Takes each Ready and handles it, until the node stops. Before taking one it lets the event loop
   * finish the turn it is in (setImmediate: after the I/O callbacks of the current poll phase), so
   * every request, peer frame and disk completion that arrived together is stepped in first and
   * they share one Ready: one WAL write and fsync, one MsgApp per peer (group commit).
   */
  private async readyLoop(): Promise<void> {
    while (!this.stopping) {
      if (!this.rawNode.hasReady()) {
        await this.wakeup.wait();
        continue;
      }
      await endOfTurn();
      // A leader waits for its apply loop (its proposals are what fill it). A follower does not: it
      // keeps answering heartbeats and votes while its apply loop is behind, shedding new entries
      // instead (shedsAppend), so its backlog stays bounded all the same.
      if (this.raftState === StateType.StateLeader) {
        await this.untilStopped(this.applyQueue.drainedTo(APPLY_BACKLOG));
      }
      if (this.stopping) return;
      const rd = this.rawNode.ready();
      if (this.o.asyncStorageWrites) await this.handleReadyAsync(rd);
      else await this.handleReady(rd);
    }
  }

  /** One Ready, in etcd's order (docs/architecture.md, "The Ready loop"). */
  private async handleReady(rd: Ready): Promise<void> {
    if (tracing) traceReady(rd);
    this.onSoftState(rd.softState);
    this.reads.onReadStates(rd.readStates);
    const snap = rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;
    const task = this.applyTaskOf(rd.committedEntries, snap);
    const leader = this.raftState === StateType.StateLeader;

    // 1. A leader hands its committed entries to the apply loop first: they apply, and their
    //    requests are answered, while it writes (etcd applies concurrently too).
    if (leader && task !== undefined) this.applyQueue.push({ kind: "apply", task, responses: [] });
    // 2. A leader sends at once, in parallel with its own write (Raft thesis §10.2.1), all but
    //    what promises that its log or vote is durable.
    if (leader) this.sendLeaderMessages(rd.messages, task !== undefined);
    // 3. Save: an incoming snapshot first (its image is on disk already), then HardState and
    //    entries in one write, fsynced when mustSync.
    if (snap !== undefined) await this.untilStopped(this.disk.saveSnapshot(snap));
    await this.untilStopped(this.disk.save(rd.hardState, rd.entries, rd.mustSync));
    if (tracing) trace("rd.saved");
    // 4. Install the snapshot in MemoryStorage (after a WAL sync), then append the entries.
    if (snap !== undefined) await this.untilStopped(this.disk.applySnapshot(snap));
    this.disk.append(rd.hardState, rd.entries);
    this.recordHardState(rd.hardState);
    // 5. A follower applies a committed conf change before it sends, so that it never votes or
    //    acknowledges under a stale configuration (etcd).
    const confChange = !leader && rd.committedEntries.some((e) => e.type !== EntryType.EntryNormal);
    if (!leader && task !== undefined && confChange) {
      this.applyQueue.push({ kind: "apply", task, responses: [] });
      await this.untilApplied(lastIndexOf(task));
    }
    // 6. A follower or candidate sends now that its write is durable.
    this.send(leader ? rd.messages.filter(needsDurability) : rd.messages);
    // 7. Then it hands over its committed entries: nothing waits for a follower's apply, which
    //    would only delay its acknowledgement.
    if (!leader && task !== undefined && !confChange)
      this.applyQueue.push({ kind: "apply", task, responses: [] });
    if (this.stopping) return;
    this.rawNode.advance();
    if (task !== undefined) this.raftApplied.trigger(lastIndexOf(task));
    // A compaction the apply loop skipped because this leader had not persisted its applied
    // entries yet: they are now.
    if (leader && this.compactor.due()) this.requestCompaction();
    if (tracing) trace("rd.end");
  }

  /**
   * asyncStorageWrites: the Ready's MsgStorageAppend goes to the append worker (which writes, with
   * the same snapshot-first order, then delivers its responses), MsgStorageApply to the apply loop
   * (which steps its responses back once applied), and the network messages out at once — unless
   * the Ready changes term or vote: then they wait until that is durable, riding on the append as
   * responses. (etcd sends them at once; then a candidate can win term T before T is on its disk,
   * crash, come back in T-1, win T again and write different entries at the same index and term —
   * a Log Matching violation the simulator found: "vote-before-persist" in rafttest/sim.)
   */
  private async handleReadyAsync(rd: Ready): Promise<void> {
    this.onSoftState(rd.softState);
    this.reads.onReadStates(rd.readStates);
    const out = rd.messages.filter((m) => m.to !== LocalAppendThread && m.to !== LocalApplyThread);
    const append = rd.messages.find((m) => m.to === LocalAppendThread);
    const queued = this.lastQueuedHardState;
    const holdUntilDurable =
      append !== undefined &&
      (append.term !== 0 || append.vote !== 0) &&
      (append.term !== queued.term || append.vote !== queued.vote);
    if (holdUntilDurable) {
      this.lastQueuedHardState = { term: append.term, vote: append.vote, commit: append.commit };
      append.responses.push(...out);
    }
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) {
        await this.untilStopped(this.appendQueue.drainedTo(APPEND_BACKLOG));
        this.appendQueue.push(m);
      } else if (m.to === LocalApplyThread) {
        this.applyQueue.push({ kind: "apply", task: { entries: m.entries }, responses: m.responses });
      }
    }
    if (!holdUntilDurable) this.send(out);
  }

  /** asyncStorageWrites: the append worker, one MsgStorageAppend at a time, in order. */
  private async appendLoop(): Promise<void> {
    for (;;) {
      const m = await this.untilStopped(this.appendQueue.shift());
      if (m === undefined) return;
      const hs: HardState = { term: m.term, vote: m.vote, commit: m.commit };
      const hasHs = !isEmptyHardState(hs);
      const snap = m.snapshot !== undefined && !isEmptySnap(m.snapshot) ? m.snapshot : undefined;
      // The same rule as Ready.mustSync: new entries, or a new term or vote.
      const prev = this.lastHardState;
      const mustSync = m.entries.length > 0 || (hasHs && (hs.term !== prev.term || hs.vote !== prev.vote));
      if (snap !== undefined) await this.untilStopped(this.disk.saveSnapshot(snap));
      await this.untilStopped(this.disk.save(hasHs ? hs : undefined, m.entries, mustSync));
      if (hasHs) this.lastHardState = hs;
      if (snap !== undefined) {
        await this.untilStopped(this.disk.applySnapshot(snap));
        // Restored before any entry after it is handed out for applying: those come only after the
        // core has stepped this append's response, below.
        const task = this.applyTaskOf([], snap)!;
        this.applyQueue.push({ kind: "apply", task, responses: [] });
      }
      this.disk.append(hasHs ? hs : undefined, m.entries);
      this.recordHardState(hasHs ? hs : undefined);
      const out: Message[] = [];
      for (const r of m.responses) {
        if (r.to === this.id) this.step(r);
        else out.push(r);
      }
      this.send(out);
    }
  }

  /**
   * A leader's messages, sent before its write. MsgApps that only carry a new commit index (to
   * peers with nothing else in this Ready) go after the requests this Ready commits are answered
   * (microtasks, which run before the next immediate): nothing on the follower's side waits for
   * them but its own apply. Other peers get all their messages at once, in order.
   */
  private sendLeaderMessages(msgs: readonly Message[], commits: boolean): void {
    const now = msgs.filter((m) => !needsDurability(m));
    const commitOnly = commits ? commitOnlyPeers(now) : undefined;
    if (commitOnly === undefined) {
      this.send(now);
      return;
    }
    this.send(now.filter((m) => !commitOnly.has(m.to)));
    const later = now.filter((m) => commitOnly.has(m.to));
    setImmediate(() => this.send(later));
  }

  /** Hands messages to the transport; a MsgSnap first gets its image from the apply loop. */
  private send(msgs: readonly Message[]): void {
    if (msgs.length === 0 || this.stopping) return;
    let plain = msgs;
    if (msgs.some((m) => m.type === MessageType.MsgSnap)) {
      plain = msgs.filter((m) => m.type !== MessageType.MsgSnap);
      for (const m of msgs) {
        if (m.type !== MessageType.MsgSnap) continue;
        this.catchUps.sending(m.to);
        this.applyQueue.push({ kind: "send-snapshot", msg: m });
      }
    }
    if (plain.length > 0) this.pacer.send(plain);
  }

  // --- the apply loop ---------------------------------------------------------------------------------

  /** Applies, sends snapshots and compacts, in the order the Ready loop queued the work. */
  private async applyLoop(): Promise<void> {
    for (;;) {
      const t = await this.untilStopped(this.applyQueue.shift());
      if (t === undefined) return;
      if (t.kind === "apply") {
        this.restoring = t.task.snapshot !== undefined;
        const out = await this.applier.apply(t.task);
        this.restoring = false;
        this.afterApply(out, t.responses);
      } else if (t.kind === "send-snapshot") await this.sendSnapshot(t.msg);
      else if (t.kind === "export") await this.exportImage(t.done);
      else this.compactionQueued = false;
      const compaction = await this.compactor.start();
      if (compaction !== undefined) this.inBackground("compaction", () => this.compacted(compaction));
    }
  }

  /** A compaction's background work; then, nothing else may come to trigger the next one. */
  private async compacted(work: Promise<void>): Promise<void> {
    await work;
    if (this.compactor.due()) this.requestCompaction();
  }

  /** Acts on what applying did: settle requests, follow the membership, wake waiting readers. */
  private afterApply(out: ApplyOutcome<R>, responses: readonly Message[]): void {
    this.proposer.settle(out, (index, fn) => this.raftApplied.wait(index, fn));
    for (const c of out.memberChanges) {
      if (c.kind === "remove" && c.id === this.id) this.onRemoved();
      else this.peers.apply(c);
    }
    // An entry of a later term applied: requests it settles the fate of end (requests.ts).
    const term = this.applier.appliedTerm;
    if (term > this.appliedTerm) {
      this.appliedTerm = term;
      this.proposer.onAppliedTerm(term);
    }
    if (out.restored !== undefined) this.onSnapshotRestored(out.restored);
    for (const m of responses) this.step(m);
    if (responses.length > 0) this.raftApplied.trigger(out.appliedIndex);
    this.applied.trigger(out.appliedIndex);
    if (tracing && out.proposals.length > 0) trace("settled", { n: out.proposals.length });
  }

  /** Takes the image for {@link exportSnapshot}; a failure goes to the caller, not the node. */
  private async exportImage(done: (r: ExportedSnapshot | Error) => void): Promise<void> {
    const point = this.applier.point();
    let snapshot: StateMachineSnapshot;
    try {
      snapshot = await this.sm.snapshot();
    } catch (e) {
      done(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (snapshot.index !== point.index) {
      snapshot.release();
      done(
        new Error(
          `raftnode: the state machine's image is at index ${snapshot.index}, not the applied ${point.index}`,
        ),
      );
      return;
    }
    done({ index: point.index, term: point.term, snapshot });
  }

  /**
   * A MsgSnap for a follower whose entries were compacted: the state machine's image at the index
   * applied now (etcd's merged snapshot: newer than the compaction point the core named, which the
   * follower then acknowledges), streamed by the transport, which reports the outcome.
   */
  private async sendSnapshot(m: Message): Promise<void> {
    const point = this.applier.point();
    const image = await this.sm.snapshot();
    if (image.index !== point.index) {
      image.release();
      throw new Error(
        `raftnode: the state machine's image is at index ${image.index}, not the applied ${point.index}`,
      );
    }
    const data = encodeSnapshotMetadata({
      members: this.membership.list(),
      removed: this.membership.removed(),
    });
    const metadata = { index: point.index, term: point.term, confState: point.confState };
    this.logger.info({ peer: m.to, index: point.index }, "sending a snapshot");
    // Kept from the core's snapshot on, not the image's: when the transfer is reported finished,
    // raft probes the follower from the index it thinks it sent (Progress.pendingSnapshot + 1), and
    // a heartbeat response can trigger that probe before the follower's acknowledgement of the newer
    // image arrives. Without those entries the probe would find them compacted and send another
    // whole image (the growth bench: three images of 5 GB for one follower).
    this.catchUps.imageTaken(m.to, Math.min(point.index, m.snapshot?.metadata.index ?? point.index));
    this.transport.sendSnapshot({ ...m, snapshot: { data, metadata } }, image);
  }

  /** Has the apply loop check for a compaction between two applies (once, however often asked). */
  private requestCompaction(): void {
    if (this.compactionQueued) return;
    this.compactionQueued = true;
    this.applyQueue.push({ kind: "compact" });
  }

  /** A snapshot from the leader was restored: follow its membership; a durable state machine no longer needs its image. */
  private onSnapshotRestored(snap: Snapshot): void {
    const { index, term } = snap.metadata;
    this.compactor.restored(index);
    this.peers.reset(this.membership.list());
    if (isDurableStateMachine(this.sm)) {
      this.inBackground("image removal", () => this.disk.snapshotter.removeImage(term, index));
    }
  }

  /** The apply work of a Ready: its committed entries and snapshot, or undefined if none. */
  private applyTaskOf(entries: readonly Entry[], snap: Snapshot | undefined): ApplyTask | undefined {
    if (snap === undefined) return entries.length > 0 ? { entries } : undefined;
    return { entries, snapshot: { snap, image: () => this.disk.openImage(snap) } };
  }

  // --- the transport's handler -----------------------------------------------------------------------

  private transportHandler(): TransportHandler {
    return {
      process: (m) => {
        if (this.shedsAppend(m)) this.metrics.messagesDropped.inc({ reason: "apply-behind" });
        else this.step(m);
      },
      processSnapshot: (m, image) => this.receiveSnapshot(m, image),
      reportUnreachable: (id) => {
        if (!this.stopping) this.guardCore(() => this.rawNode.reportUnreachable(id));
      },
      reportSnapshot: (id, status) => {
        if (status === "failure") this.catchUps.failed(id);
        if (this.stopping) return;
        this.logger.info({ peer: id, status }, "snapshot send finished");
        const st = status === "finish" ? SnapshotStatus.SnapshotFinish : SnapshotStatus.SnapshotFailure;
        this.guardCore(() => this.rawNode.reportSnapshot(id, st));
      },
      // Removed members may not connect (they would disrupt the cluster with their elections).
      isMember: (id) => !this.membership.isRemoved(id),
      // ...and are told so: one that was down when it was removed learns it at restart and stops.
      isRemoved: (id) => this.membership.isRemoved(id),
      removedFromCluster: (by) => {
        if (this.stopping || this.removedNotice) return;
        this.removedNotice = true;
        this.logger.warn({ by }, "a member says this node was removed from the cluster");
        this.onRemoved();
      },
    };
  }

  /**
   * A MsgSnap from the leader: its image is stored durably next to the snapshot files (the stream
   * throws if the transfer breaks, and nothing is left), then the message is stepped with the
   * image's digest in its metadata. One at or below the commit index changes nothing in Raft: its
   * image is read and dropped rather than written. One from an older term (a deposed leader's) would
   * be dropped by the core: it is refused, at its start or as soon as this node hears of a newer
   * term, which fails the sender's transfer (and the image written so far is removed).
   */
  private async receiveSnapshot(m: Message, image: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.stopping) throw stoppedError();
    const snap = m.snapshot;
    if (snap === undefined) throw new Error("MsgSnap without a snapshot");
    // Checked before the first byte and before each chunk: this node learns of a newer term from the
    // new leader's heartbeats while a long transfer is still running.
    const deposed = (): void => {
      const term = this.rawNode.basicStatus().term;
      if (m.term !== 0 && m.term < term) {
        throw new Error(`MsgSnap of term ${m.term} from a deposed leader (this node is at term ${term})`);
      }
    };
    deposed();
    const chunks = (async function* () {
      for await (const chunk of image) {
        deposed();
        yield chunk;
      }
    })();
    let stepped = snap;
    if (snap.metadata.index > this.rawNode.basicStatus().commit) {
      stepped = await this.disk.receiveImage(snap, chunks);
    } else {
      for await (const _ of chunks) {
        // stale: drained, not stored
      }
    }
    if (this.stopping) throw stoppedError();
    deposed();
    this.step({ ...m, snapshot: stepped });
  }

  /**
   * Whether a follower drops the leader's MsgApp `m` unread: while its apply loop restores a
   * snapshot (minutes, for gigabytes) or is {@link APPLY_BACKLOG} tasks behind. Taking the entries
   * would grow the apply backlog without bound (etcd's follower holds them all in memory), and
   * stalling the Ready loop instead would silence its heartbeat responses: the leader would take it
   * for gone, release the entries it kept for its catch-up (catch-up.ts) and send another snapshot,
   * and another. A lost MsgApp is what Raft expects of a network: the leader sends those entries
   * again once the follower acknowledges (its heartbeat responses free the way, raft's Progress).
   */
  private shedsAppend(m: Message): boolean {
    return (
      m.type === MessageType.MsgApp &&
      this.raftState !== StateType.StateLeader &&
      (this.restoring || this.applyQueue.length >= APPLY_BACKLOG)
    );
  }

  // --- stepping the core -----------------------------------------------------------------------------

  /** Steps a message into the core (a peer's, or a local response). */
  private step(m: Message): void {
    if (!this.stopping) this.guardCore(() => this.rawNode.step(m));
  }

  /** Runs `f` on the core; a RaftPanic or unexpected error stops the node. Wakes the Ready loop. */
  private guardCore(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof RaftPanic || !isRaftError(e)) {
        this.fatal(e, "raft");
        return;
      }
      this.logger.debug({ err: e.message }, "raft refused a step");
    }
    this.wakeup.kick();
  }

  // --- bookkeeping ------------------------------------------------------------------------------------

  /** Records a Ready's SoftState: leader, role, metrics, events. */
  private onSoftState(ss: { lead: number; raftState: StateType } | undefined): void {
    if (ss === undefined) return;
    const prev = this.lead;
    const wasLeader = this.raftState === StateType.StateLeader;
    this.lead = ss.lead;
    this.raftState = ss.raftState;
    if (wasLeader && ss.raftState !== StateType.StateLeader) {
      this.transport.abortSnapshots?.("no longer leader");
      this.pacer.clear();
    }
    this.metrics.hasLeader.set(ss.lead === 0 ? 0 : 1);
    this.metrics.isLeader.set(ss.raftState === StateType.StateLeader ? 1 : 0);
    if (ss.lead === prev) return;
    if (ss.lead !== 0) this.metrics.leaderChanges.inc();
    const term = this.rawNode.basicStatus().term;
    // Requests handed to the leader that is gone end promptly (docs/architecture.md, "When the
    // leader goes"), rather than at their timeout.
    this.proposer.onLeaderChange(ss.lead, term);
    this.reads.onLeaderChange(ss.lead);
    this.logger.info({ lead: ss.lead, term, state: StateType[ss.raftState] }, "leader changed");
    this.events.emit("leader-change", { lead: ss.lead, term });
  }

  private recordHardState(hs: HardState | undefined): void {
    if (hs === undefined || isEmptyHardState(hs)) return;
    this.metrics.term.set(hs.term);
    this.metrics.commitIndex.set(hs.commit);
  }

  /** This node was removed: etcd stops a removed member after a delay, so that its last acknowledgements get out. */
  private onRemoved(): void {
    this.logger.warn("this node was removed from the cluster: stopping");
    this.events.emit("removed");
    setTimeout(() => void this.shutdown(new Error("removed from the cluster")), 10 * this.o.tickMs).unref();
  }

  private raftConfig(): Config {
    const o = this.o;
    return {
      id: o.id,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      storage: this.disk.log,
      // etcd: every entry after the snapshot is delivered again, so that conf changes rebuild
      // Raft's configuration and the membership; the state machine skips what it already has.
      applied: this.disk.snapshot?.metadata.index ?? 0,
      maxSizePerMsg: o.maxSizePerMsg,
      maxInflightMsgs: o.maxInflightMsgs,
      maxInflightBytes: o.maxInflightBytes,
      maxUncommittedEntriesSize: o.maxUncommittedEntriesSize,
      checkQuorum: o.checkQuorum,
      preVote: o.preVote,
      asyncStorageWrites: o.asyncStorageWrites,
      logger: toRaftLogger(o.logger.child({ component: "raft" })),
      random: o.random ?? newRandom(randomInt(2 ** 47)),
    };
  }

  private bootstrapPeers(): Peer[] {
    const peers = this.o.peers;
    return [...peers.keys()]
      .sort((a, b) => a - b)
      .map((id) => ({ id, context: encodeConfChangeContext({ url: peers.get(id)! }) }));
  }

  // --- lifecycle ----------------------------------------------------------------------------------------

  private checkRunning(): void {
    if (this.stopping) throw stoppedError();
  }

  private untilStopped<T>(p: Promise<T>): Promise<T> {
    return this.stopSignal.race(p);
  }

  /** Resolves once the state machine has applied `index` (rejects if the node stops first). */
  private untilApplied(index: number): Promise<void> {
    return this.untilStopped(new Promise<void>((resolve) => this.applied.wait(index, resolve)));
  }

  /** Runs storage work off the loops; `stop` waits for it; a failure stops the node. */
  private inBackground(what: string, f: () => Promise<void>): void {
    const p = f().catch((e) => this.fatal(e, what));
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Fail-stop: a WAL or state machine error, a Raft panic. Logs at fatal and stops the node. */
  private fatal(err: unknown, where: string): void {
    if (this.stopping) {
      if (this.stopCause === undefined && !isRaftNodeError(err, "Stopped")) {
        this.logger.error({ err, where }, "error while stopping");
      }
      return;
    }
    this.logger.fatal({ err, where }, "fatal error: stopping the node (it never runs without durability)");
    void this.shutdown(err);
  }

  /**
   * Stops the node: timers, transport, loops (each finishes the step it is in), background
   * storage work, then closes the WAL. Every waiting request and read rejects with Stopped (with
   * `cause` when failing).
   */
  private shutdown(cause: unknown): Promise<void> {
    if (this.stopPromise !== undefined) return this.stopPromise;
    this.stopping = true;
    this.stopCause = cause;
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    const err = stoppedError(cause);
    this.stopSignal.stop(err);
    this.proposer.rejectAll(err);
    this.reads.stop(err);
    this.applyQueue.close();
    this.appendQueue.close();
    this.peers.stop();
    this.pacer.stop();
    this.wakeup.kick();
    const transportStopped = this.transport
      .stop()
      .catch((e) => this.logger.warn({ err: e }, "transport stop failed"));
    this.stopPromise = (async () => {
      await transportStopped;
      await Promise.all(this.loops);
      await Promise.all([...this.background]);
      try {
        await this.disk.close();
      } catch (e) {
        if (cause === undefined) this.logger.error({ err: e }, "closing the WAL failed");
      }
      this.lock?.release();
      this.logger.info({ cause: cause instanceof Error ? cause.message : cause }, "stopped");
      this.events.emit("stopped", cause);
    })();
    return this.stopPromise;
  }
}

/**
 * Takes the data directory's lock before anything in it is opened, or checks the one the caller
 * took and keeps. The lock this node must release; undefined if none (not the real file system).
 */
function lockDataDir<R>(o: ResolvedNodeOptions<R>): DataDirLock | undefined {
  const given = o.dataDirLock;
  if (given !== undefined) {
    if (!given.held || realpathSync(o.dataDir) !== given.realDir) {
      throw new RaftNodeError("InvalidArgument", `raftnode: dataDirLock is not a held lock of ${o.dataDir}`);
    }
    return undefined;
  }
  if (!o.lockDataDir) return undefined;
  return DataDirLock.acquire(o.dataDir, o.logger);
}

/** Peer ids must be valid and URLs distinct (each becomes a member with that URL). */
function checkPeers(peers: ReadonlyMap<number, string>): void {
  const urls = new Set<string>();
  for (const [id, url] of peers) {
    if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`raftnode: invalid peer id ${id}`);
    if (urls.has(url)) throw new RangeError(`raftnode: peer URL ${url} is given twice`);
    urls.add(url);
  }
}

/** Resolves in the check phase of the current event-loop turn (after its I/O callbacks). */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The last index an apply task covers. */
function lastIndexOf(task: ApplyTask): number {
  const last = task.entries[task.entries.length - 1];
  return last?.index ?? task.snapshot?.snap.metadata.index ?? 0;
}

function traceReady(rd: Ready): void {
  trace("rd", {
    e0: rd.entries[0]?.index ?? 0,
    e1: rd.entries[rd.entries.length - 1]?.index ?? 0,
    c0: rd.committedEntries[0]?.index ?? 0,
    c1: rd.committedEntries[rd.committedEntries.length - 1]?.index ?? 0,
    msgs: rd.messages.length,
    sync: rd.mustSync,
  });
}
