/**
 * The running state of one node, shared by its loops: the core, storage, transport, the apply
 * loop, waiting requests and reads. {@link RaftNode} is the public face; the Ready loop lives in
 * ready-loop.ts, the apply loop in apply-loop.ts. Everything here runs on the one JS thread, so
 * "loops" are async functions that interleave at their awaits; the core is stepped directly from
 * callbacks (etcd's node goroutine also steps messages between a Ready and its Advance).
 */
import {
  isRaftError,
  type MemoryStorage,
  RaftPanic,
  type RawNode,
  SnapshotStatus,
  StateType,
} from "@tsraft/raft";
import { type Message, MessageType, type Snapshot } from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import type { Snapshotter } from "../snap/snapshotter.js";
import type { StateMachine } from "../state-machine.js";
import type { TransportHandler } from "../transport/options.js";
import type { WAL } from "../wal/wal.js";
import { Applier, type ApplyHost, type SettleResult } from "./apply-loop.js";
import type { RequestId } from "./envelope.js";
import { StoppedError } from "./errors.js";
import { type MemberChange, Membership } from "./membership.js";
import type { RaftTransport, ResolvedNodeOptions } from "./options.js";
import { type ReadHost, ReadIndexBatcher } from "./read-index.js";
import { PendingRequests } from "./requests.js";
import { BoundedQueue, type Deferred, deferred, Wakeup } from "./sync.js";

/** The node's events and their listeners' arguments. */
export interface RaftNodeEvents {
  /** The leader this node knows changed (`lead` 0: none). */
  "leader-change": [info: { lead: number; term: number }];
  /** This node was removed from the cluster by a conf change; it stops shortly after. */
  removed: [];
  /** The node stopped; `cause` is set when it failed (WAL error, Raft panic...) or was removed. */
  stopped: [cause: unknown];
}

/** MsgStorageAppend messages waiting for the append worker (asyncStorageWrites). */
const APPEND_QUEUE_CAPACITY = 256;

/** Everything a running node shares between its loops and its API. Package-internal. */
export class Runtime implements ApplyHost, ReadHost {
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  readonly sm: StateMachine;
  readonly membership = new Membership();
  readonly requests: PendingRequests;
  readonly reads: ReadIndexBatcher;
  readonly applier: Applier;
  readonly appendQueue = new BoundedQueue<Message>(APPEND_QUEUE_CAPACITY);
  /** Wakes the Ready loop: something may have made the core ready. */
  readonly wakeup = new Wakeup();
  /** Boot nonce: this run's part of every request id. */
  readonly nonce: number;
  /** The last request sequence number handed out. */
  seq = 0;
  /** The leader and role as of the last Ready's SoftState. */
  lead = 0;
  raftState = StateType.StateFollower;
  /** asyncStorageWrites: the last HardState written (to tell whether an append must fsync). */
  lastHardState = { term: 0, vote: 0, commit: 0 };
  /** asyncStorageWrites: the term and vote of the last HardState handed to the append worker. */
  lastQueuedHardState = { term: 0, vote: 0, commit: 0 };
  transport!: RaftTransport;
  /** The peers the transport was given (at start, by conf changes, by a snapshot's membership). */
  transportPeers = new Set<number>();
  /** Rejects (with StoppedError) once the node stops: loops race their waits against it. */
  private readonly stopSignal: Deferred<never> = deferred<never>();
  private stopCause: unknown;
  private stopPromise: Promise<void> | undefined;
  private readonly loops: Promise<void>[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  /** MsgSnap sends in flight, by peer. */
  private readonly snapsInFlight = new Map<number, number>();
  private readonly listeners = new Map<keyof RaftNodeEvents, Set<(...a: never[]) => void>>();
  stopping = false;

  constructor(
    readonly o: ResolvedNodeOptions,
    readonly rawNode: RawNode,
    readonly storage: MemoryStorage,
    readonly wal: WAL,
    readonly snapshotter: Snapshotter,
    start: { snapshot: Snapshot | undefined; smApplied: number },
    nonce: number,
  ) {
    this.log = o.logger;
    this.metrics = o.metrics;
    this.sm = o.stateMachine;
    this.nonce = nonce;
    this.requests = new PendingRequests((n) => this.metrics.proposalsPending.set(n));
    this.applier = new Applier(this, start);
    const electionMs = o.tickMs * o.electionTick;
    this.reads = new ReadIndexBatcher(this, nonce, {
      requestTimeoutMs: o.requestTimeoutMs,
      maxPendingReads: o.maxPendingReads,
      retryMs: Math.max(o.tickMs, Math.min(500, electionMs)),
    });
  }

  // --- loops and lifecycle ------------------------------------------------------------------------

  /** Starts the tick timer and the loops (`readyLoop` and, in async mode, `appendLoop`). */
  startLoops(readyLoop: () => Promise<void>, appendLoop: (() => Promise<void>) | undefined): void {
    this.tickTimer = setInterval(() => {
      if (this.stopping) return;
      this.guardCore(() => this.rawNode.tick());
    }, this.o.tickMs);
    const run = (name: string, f: () => Promise<void>): Promise<void> =>
      f().catch((e) => {
        if (!this.stopping || !(e instanceof StoppedError)) this.fatal(e, name);
      });
    this.loops.push(run("ready loop", readyLoop));
    this.loops.push(run("apply loop", () => this.applier.run()));
    if (appendLoop !== undefined) this.loops.push(run("append loop", appendLoop));
  }

  /**
   * Stops the node: timers, transport, loops (each finishes the step it is in), then closes the
   * WAL. Every waiting request and read rejects with StoppedError (with `cause` when failing).
   */
  stop(cause?: unknown): Promise<void> {
    if (this.stopPromise !== undefined) return this.stopPromise;
    this.stopping = true;
    this.stopCause = cause;
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    const err = new StoppedError(cause);
    this.stopSignal.reject(err);
    this.requests.rejectAll(err);
    this.reads.stop(err);
    this.applier.queue.close();
    this.appendQueue.close();
    this.wakeup.kick();
    const transportStopped = this.transport
      ?.stop()
      .catch((e) => this.log.warn({ err: e }, "transport stop failed"));
    this.stopPromise = (async () => {
      await transportStopped;
      await Promise.all(this.loops);
      try {
        await this.wal.close();
      } catch (e) {
        if (cause === undefined) this.log.error({ err: e }, "closing the WAL failed");
      }
      this.log.info({ cause: cause instanceof Error ? cause.message : cause }, "stopped");
      this.emit("stopped", cause);
    })();
    return this.stopPromise;
  }

  /** Fail-stop: a WAL or state machine error, a Raft panic. Logs at fatal and stops the node. */
  fatal(err: unknown, where: string): void {
    if (this.stopping) {
      if (this.stopCause === undefined && !(err instanceof StoppedError)) {
        this.log.error({ err, where }, "error while stopping");
      }
      return;
    }
    this.log.fatal({ err, where }, "fatal error: stopping the node (it never runs without durability)");
    void this.stop(err);
  }

  /** Runs `f` on the core; a RaftPanic or unexpected error stops the node. Wakes the Ready loop. */
  guardCore(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof RaftPanic || !isRaftError(e)) {
        this.fatal(e, "raft");
        return;
      }
      this.log.debug({ err: e.message }, "raft refused a step");
    }
    this.wakeup.kick();
  }

  untilStopped<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.stopSignal.promise]);
  }

  // --- events ---------------------------------------------------------------------------------------

  on<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): void {
    let s = this.listeners.get(event);
    if (s === undefined) {
      s = new Set();
      this.listeners.set(event, s);
    }
    s.add(fn as (...a: never[]) => void);
  }

  off<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): void {
    this.listeners.get(event)?.delete(fn as (...a: never[]) => void);
  }

  emit<E extends keyof RaftNodeEvents>(event: E, ...args: RaftNodeEvents[E]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as (...a: RaftNodeEvents[E]) => void)(...args);
      } catch (e) {
        this.log.error({ err: e, event }, "event listener threw");
      }
    }
  }

  // --- the transport's handler ----------------------------------------------------------------------

  /** The transport handler: steps peers' messages and reports into the core. */
  transportHandler(): TransportHandler {
    return {
      process: (m) => {
        if (!this.stopping) this.guardCore(() => this.rawNode.step(m));
      },
      reportUnreachable: (id) => {
        if (!this.stopping) this.guardCore(() => this.rawNode.reportUnreachable(id));
      },
      reportSnapshot: (id, status) => {
        const n = (this.snapsInFlight.get(id) ?? 1) - 1;
        if (n > 0) this.snapsInFlight.set(id, n);
        else this.snapsInFlight.delete(id);
        if (this.stopping) return;
        this.log.info({ peer: id.toString(16), status }, "snapshot send finished");
        const st = status === "finish" ? SnapshotStatus.SnapshotFinish : SnapshotStatus.SnapshotFailure;
        this.guardCore(() => this.rawNode.reportSnapshot(id, st));
      },
      // Removed members may not connect (they would disrupt the cluster with their elections).
      isMember: (id) => !this.membership.isRemoved(id),
    };
  }

  /** Hands messages to the transport, counting MsgSnap sends so compaction can wait for them. */
  send(msgs: readonly Message[]): void {
    if (msgs.length === 0 || this.stopping) return;
    for (const m of msgs) {
      if (m.type === MessageType.MsgSnap)
        this.snapsInFlight.set(m.to, (this.snapsInFlight.get(m.to) ?? 0) + 1);
    }
    this.transport.send(msgs);
  }

  // --- ApplyHost / ReadHost -------------------------------------------------------------------------

  isOwnRequest(id: RequestId): boolean {
    return id.node === this.o.id && id.nonce === this.nonce;
  }

  settle(seq: number, result: SettleResult): void {
    if ("error" in result) {
      if (this.requests.reject(seq, result.error)) this.metrics.proposals.inc({ result: "failed" });
    } else if (this.requests.resolve(seq, result.value)) {
      this.metrics.proposals.inc({ result: "committed" });
    }
  }

  onMemberChange(c: MemberChange): void {
    const self = this.o.id;
    switch (c.kind) {
      case "add":
        if (c.id !== self) {
          this.transport.addPeer(c.id, c.url);
          this.transportPeers.add(c.id);
        }
        return;
      case "promote":
        return;
      case "remove": {
        if (c.id !== self) {
          // Not at once: the messages that tell the removed member its removal committed (the
          // leader's MsgApp with the new commit index) may still sit in the transport's queue, and
          // without them it would never learn it was removed. New connections from it are refused
          // already (isMember).
          const grace = 2 * this.o.tickMs * this.o.electionTick;
          setTimeout(() => {
            if (this.stopping || !this.membership.isRemoved(c.id)) return;
            this.transport.removePeer(c.id);
            this.transportPeers.delete(c.id);
          }, grace).unref();
          return;
        }
        // etcd stops a removed member after a delay, so that its last acknowledgements get out.
        this.log.warn("this node was removed from the cluster: stopping");
        this.emit("removed");
        setTimeout(() => void this.stop(new Error("removed from the cluster")), 10 * this.o.tickMs).unref();
        return;
      }
    }
  }

  onMembershipRestored(): void {
    const members = this.membership.list();
    const keep = new Set(members.map((m) => m.id));
    for (const id of this.transportPeers) if (!keep.has(id)) this.transport.removePeer(id);
    for (const m of members) if (m.id !== this.o.id) this.transport.addPeer(m.id, m.url);
    this.transportPeers = new Set(members.map((m) => m.id).filter((id) => id !== this.o.id));
  }

  onApplied(index: number): void {
    this.reads.onApplied(index);
  }

  stepLocal(m: Message): void {
    if (!this.stopping) this.guardCore(() => this.rawNode.step(m));
  }

  inflightSnapshots(): number {
    let n = 0;
    for (const c of this.snapsInFlight.values()) n += c;
    return n;
  }

  kick(): void {
    this.wakeup.kick();
  }

  leader(): number {
    return this.rawNode.basicStatus().lead;
  }

  applied(): number {
    return this.applier.appliedIndex;
  }

  /** Records the SoftState of a Ready: leader, role, metrics, events. */
  onSoftState(ss: { lead: number; raftState: StateType } | undefined): void {
    if (ss === undefined) return;
    const prev = this.lead;
    this.lead = ss.lead;
    this.raftState = ss.raftState;
    this.metrics.hasLeader.set(ss.lead === 0 ? 0 : 1);
    this.metrics.isLeader.set(ss.raftState === StateType.StateLeader ? 1 : 0);
    if (ss.lead !== prev) {
      if (ss.lead !== 0) this.metrics.leaderChanges.inc();
      const term = this.rawNode.basicStatus().term;
      this.log.info({ lead: ss.lead.toString(16), term, state: StateType[ss.raftState] }, "leader changed");
      this.emit("leader-change", { lead: ss.lead, term });
    }
  }
}
