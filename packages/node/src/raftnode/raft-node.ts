/**
 * RaftNode: one member of a Raft cluster, running for real — the `@tsraft/raft` core driven by a
 * tick timer and a Ready loop, a WAL and snapshot directory on disk, a WebSocket transport to the
 * peers, and an apply loop feeding the application's {@link StateMachine}. Requests are promises:
 * a proposal settles when its entry is applied on this node, a linearizable read when a read index
 * confirmed by the leader is applied. See the package README, "RaftNode", for the loop's order.
 */
import { randomInt } from "node:crypto";
import {
  type Config,
  isRaftError,
  newRandom,
  type Peer,
  ProgressState,
  RaftPanic,
  RawNode,
  StateType,
} from "@tsraft/raft";
import { ConfChangeType } from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import { trace, tracing } from "../trace.js";
import type { TransportOptions } from "../transport/options.js";
import { Transport } from "../transport/transport.js";
import { decodeSnapshotData, encodeConfChangeContext, encodeProposal, type RequestId } from "./envelope.js";
import {
  DroppedError,
  MembershipError,
  NoLeaderError,
  RaftNodeError,
  StoppedError,
  TimeoutError,
} from "./errors.js";
import { toRaftLogger } from "./logger.js";
import type { Member, MemberChange } from "./membership.js";
import { openStorage } from "./open-storage.js";
import { type RaftNodeOptions, type RaftTransport, resolveNodeOptions } from "./options.js";
import { runAppendLoop, runReadyLoop } from "./ready-loop.js";
import { guard, type RequestOptions } from "./requests.js";
import { type RaftNodeEvents, Runtime } from "./runtime.js";

/** A peer's replication progress, as the leader tracks it. */
export interface PeerProgress {
  readonly match: number;
  readonly next: number;
  /** "StateProbe" | "StateReplicate" | "StateSnapshot". */
  readonly state: string;
  readonly learner: boolean;
  readonly recentActive: boolean;
  /** Appends to it are paused (too many in flight, or probing). */
  readonly paused: boolean;
}

/** {@link RaftNode.status}: JSON-friendly (ids are numbers; keys of `progress` are decimal ids). */
export interface RaftNodeStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  /** The index applied to the state machine on this node. */
  readonly applied: number;
  readonly lead: number;
  /** "StateFollower" | "StateCandidate" | "StateLeader" | "StatePreCandidate". */
  readonly state: string;
  readonly leadTransferee: number;
  /** The index of the last snapshot this node saved or restored. */
  readonly snapshotIndex: number;
  /** On the leader only: every member's progress. */
  readonly progress?: Readonly<Record<string, PeerProgress>>;
  readonly members: Member[];
}

/**
 * A running Raft node. Create it with {@link RaftNode.start}; stop it with {@link RaftNode.stop}.
 * All methods may be called from any async context; none blocks the event loop.
 */
export class RaftNode {
  readonly id: number;
  readonly metrics: NodeMetrics;
  /** The node's pino logger (a child with `node: <hex id>`). */
  readonly logger: Logger;

  private constructor(private readonly rt: Runtime) {
    this.id = rt.o.id;
    this.metrics = rt.metrics;
    this.logger = rt.log;
  }

  /**
   * Opens (or creates) the data directory, restores the state (newest snapshot the WAL knows, then
   * the WAL; the state machine is restored from the snapshot if it is behind it and then only sees
   * entries after its own applied index), starts the transport, the tick timer and the loops.
   * Throws if the directory holds another node's WAL, the WAL is corrupt, or the port is taken.
   */
  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const o = resolveNodeOptions(opts);
    const log = o.logger;
    checkPeers(o.peers);
    const opened = await openStorage(o, log);
    let transport: RaftTransport | undefined;
    try {
      const { snapshot } = opened;
      const config: Config = {
        id: o.id,
        electionTick: o.electionTick,
        heartbeatTick: o.heartbeatTick,
        storage: opened.storage,
        // etcd: every entry after the snapshot is delivered again, so that conf changes rebuild
        // Raft's configuration and the membership; the state machine skips what it already has.
        applied: snapshot?.metadata.index ?? 0,
        maxSizePerMsg: o.maxSizePerMsg,
        maxInflightMsgs: o.maxInflightMsgs,
        maxUncommittedEntriesSize: o.maxUncommittedEntriesSize,
        checkQuorum: o.checkQuorum,
        preVote: o.preVote,
        asyncStorageWrites: o.asyncStorageWrites,
        logger: toRaftLogger(log.child({ component: "raft" })),
        random: o.random ?? newRandom(randomInt(2 ** 47)),
      };
      const rawNode = new RawNode(config);
      if (!opened.restarted && !o.join) {
        const peers: Peer[] = [...o.peers.keys()]
          .sort((a, b) => a - b)
          .map((id) => ({ id, context: encodeConfChangeContext({ url: o.peers.get(id)! }) }));
        rawNode.bootstrap(peers);
      }

      let smApplied = await o.stateMachine.appliedIndex();
      const snapData = snapshot === undefined ? undefined : decodeSnapshotData(snapshot.data);
      if (snapshot !== undefined && snapData !== undefined && smApplied < snapshot.metadata.index) {
        log.info(
          { smApplied, snapshotIndex: snapshot.metadata.index },
          "restoring the state machine from snapshot",
        );
        await o.stateMachine.restore(snapData.app, snapshot.metadata.index);
        smApplied = snapshot.metadata.index;
      }

      const rt = new Runtime(
        o,
        rawNode,
        opened.storage,
        opened.wal,
        opened.snapshotter,
        { snapshot, smApplied },
        randomInt(2 ** 47),
      );
      rt.lastHardState = opened.hardState;
      rt.lastQueuedHardState = opened.hardState;
      // The transport starts from the snapshot's membership if there is one, else from `peers`;
      // replaying the log's conf changes then adds and removes peers as they happened.
      let initial: [number, string][] = [...o.peers];
      if (snapData !== undefined) {
        rt.membership.restore(snapData.members, snapData.removed);
        initial = snapData.members.map((m) => [m.id, m.url]);
      }
      const peers = new Map(initial.filter(([id]) => id !== o.id));
      rt.transportPeers = new Set(peers.keys());
      const topts: TransportOptions = {
        ...o.transport,
        id: o.id,
        clusterId: o.clusterId,
        ...(o.listen === undefined ? {} : { listen: o.listen }),
        peers,
        handler: rt.transportHandler(),
        logger: log,
        metrics: o.metrics,
      };
      // Incoming snapshots are staged next to the snapshot files (the OS temp dir with an injected fs).
      if (topts.snapshotDir === undefined && o.realFs) topts.snapshotDir = o.snapDir;
      transport = o.transportFactory?.(topts) ?? new Transport(topts);
      rt.transport = transport;
      await transport.start();
      rt.metrics.appliedIndex.set(rt.applier.appliedIndex);
      rt.metrics.term.set(opened.hardState.term);
      rt.metrics.commitIndex.set(opened.hardState.commit);
      if (tracing) trace("node.start", { id: o.id });
      rt.startLoops(() => runReadyLoop(rt), o.asyncStorageWrites ? () => runAppendLoop(rt) : undefined);
      log.info(
        {
          restarted: opened.restarted,
          join: o.join,
          applied: rt.applier.appliedIndex,
          smApplied,
          asyncStorageWrites: o.asyncStorageWrites,
        },
        "raft node started",
      );
      return new RaftNode(rt);
    } catch (e) {
      await transport?.stop().catch(() => {});
      await opened.wal.close().catch(() => {});
      throw e;
    }
  }

  /**
   * Proposes `data` and resolves with the state machine's `apply` result for its entry once it is
   * applied on this node. Rejects with NoLeader (no leader known: not proposed), ProposalDropped,
   * TooManyRequests, RequestTooLarge, Timeout (it may still apply!), Aborted or Stopped.
   */
  async propose(data: Uint8Array, opts: RequestOptions = {}): Promise<unknown> {
    const rt = this.checkRunning();
    if (data.length > rt.o.maxRequestBytes) {
      throw new RaftNodeError(
        "RequestTooLarge",
        `raftnode: proposal of ${data.length} bytes exceeds maxRequestBytes (${rt.o.maxRequestBytes})`,
      );
    }
    const seq = this.reserve();
    if (tracing) trace("propose", { seq });
    const env = encodeProposal(this.requestId(seq), data);
    const t0 = performance.now();
    const p = rt.requests.add(seq, "proposal", opts.timeoutMs ?? rt.o.requestTimeoutMs, opts.signal);
    this.submit(seq, "proposal", () => rt.rawNode.propose(env));
    try {
      const v = await p;
      rt.metrics.proposalDurationSeconds.observe((performance.now() - t0) / 1000);
      return v;
    } catch (e) {
      if (e instanceof TimeoutError) rt.metrics.proposals.inc({ result: "timeout" });
      throw e;
    }
  }

  /**
   * Resolves once this node's state machine reflects every write that completed before the call
   * (a ReadIndex round confirmed by the leader, then applied here). Concurrent callers share one
   * round. Rejects with NoLeader, Timeout, TooManyRequests, Aborted or Stopped.
   */
  linearizableRead(opts: RequestOptions = {}): Promise<void> {
    return this.rt.reads.read(opts);
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
    const learner = opts.learner === true;
    await this.confChange({ kind: "add", id, url, learner }, opts);
  }

  /** Removes a member. A removed id can never be added again. Rejects with MemberNotFound... */
  async removeMember(id: number, opts: RequestOptions = {}): Promise<void> {
    await this.confChange({ kind: "remove", id }, opts);
  }

  /** Promotes a learner to voter. Rejects with MemberNotFound, MemberNotLearner... */
  async promoteMember(id: number, opts: RequestOptions = {}): Promise<void> {
    await this.confChange({ kind: "promote", id }, opts);
  }

  /**
   * Asks the leader to hand leadership to `to` (a voter) and resolves once this node sees `to` lead.
   * Rejects with MemberNotFound, MemberIsLearner, NoLeader, Timeout...
   */
  async transferLeadership(to: number, opts: RequestOptions = {}): Promise<void> {
    const rt = this.checkRunning();
    const m = rt.membership.get(to);
    if (m === undefined)
      throw new MembershipError("MemberNotFound", `raftnode: member ${to.toString(16)} not found`);
    if (m.learner)
      throw new MembershipError("MemberIsLearner", `raftnode: member ${to.toString(16)} is a learner`);
    if (this.leader() === to) return;
    if (this.leader() === 0) throw new NoLeaderError("leadership transfer");
    const { promise, waiter } = guard(
      "leadership transfer",
      opts.timeoutMs ?? rt.o.requestTimeoutMs,
      opts.signal,
      () => {
        rt.off("leader-change", onChange);
        rt.off("stopped", onStop);
      },
    );
    const onChange = (e: { lead: number }): void => {
      if (e.lead === to) waiter.resolve(undefined);
    };
    const onStop = (cause: unknown): void => waiter.reject(new StoppedError(cause));
    rt.on("leader-change", onChange);
    rt.on("stopped", onStop);
    rt.guardCore(() => rt.rawNode.transferLeader(to));
    await promise;
  }

  /**
   * The members as the applied log says (id order). Before this node has applied its first conf
   * change (a fresh or joining node), the initial `peers` it was started with.
   */
  members(): Member[] {
    const rt = this.rt;
    if (rt.membership.size > 0 || rt.applier.appliedIndex > 0) return rt.membership.list();
    return [...rt.o.peers].sort((a, b) => a[0] - b[0]).map(([id, url]) => ({ id, url, learner: false }));
  }

  /** A JSON-friendly status: Raft's HardState and role, applied index, members, progress on a leader. */
  status(): RaftNodeStatus {
    const rt = this.rt;
    const s = rt.rawNode.status();
    let progress: Record<string, PeerProgress> | undefined;
    if (s.raftState === StateType.StateLeader) {
      progress = {};
      for (const [id, pr] of s.progress) {
        progress[String(id)] = {
          match: pr.match,
          next: pr.next,
          state: ProgressState[pr.state],
          learner: pr.isLearner,
          recentActive: pr.recentActive,
          paused: pr.isPaused(),
        };
      }
    }
    const base = {
      id: s.id,
      term: s.term,
      vote: s.vote,
      commit: s.commit,
      applied: rt.applier.appliedIndex,
      lead: s.lead,
      state: StateType[s.raftState],
      leadTransferee: s.leadTransferee,
      snapshotIndex: rt.applier.snapshotIndex,
      members: this.members(),
    };
    return progress === undefined ? base : { ...base, progress };
  }

  isLeader(): boolean {
    return this.rt.rawNode.basicStatus().raftState === StateType.StateLeader;
  }

  /** The leader's id as this node knows it; 0 if none. */
  leader(): number {
    return this.rt.leader();
  }

  /** Subscribes to an event: "leader-change", "removed", "stopped". */
  on<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): this {
    this.rt.on(event, fn);
    return this;
  }

  off<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): this {
    this.rt.off(event, fn);
    return this;
  }

  /** True once the node has stopped or is stopping (after `stop`, a removal, or a fatal error). */
  get stopped(): boolean {
    return this.rt.stopping;
  }

  /**
   * Stops timers and transport, lets the loops finish their current step, flushes and closes the
   * WAL. Waiting requests reject with StoppedError. Idempotent.
   */
  stop(): Promise<void> {
    return this.rt.stop();
  }

  // -------------------------------------------------------------------------------------------------

  private checkRunning(): Runtime {
    if (this.rt.stopping) throw new StoppedError();
    return this.rt;
  }

  private requestId(seq: number): RequestId {
    return { node: this.id, nonce: this.rt.nonce, seq };
  }

  /** Takes a request sequence number, refusing beyond maxPendingProposals. */
  private reserve(): number {
    const rt = this.rt;
    if (rt.requests.size >= rt.o.maxPendingProposals) {
      rt.metrics.proposals.inc({ result: "dropped" });
      throw new RaftNodeError("TooManyRequests", `raftnode: ${rt.requests.size} proposals already pending`);
    }
    return ++rt.seq;
  }

  /** Steps a proposal into the core; a drop rejects request `seq` at once (NoLeader or ProposalDropped). */
  private submit(seq: number, what: string, step: () => void): void {
    const rt = this.rt;
    try {
      step();
    } catch (e) {
      if (e instanceof RaftPanic || !isRaftError(e, "ProposalDropped")) {
        rt.fatal(e, what);
        return;
      }
      rt.metrics.proposals.inc({ result: "dropped" });
      rt.requests.reject(seq, rt.leader() === 0 ? new NoLeaderError(what) : new DroppedError(what, e));
      return;
    }
    rt.kick();
  }

  /**
   * Conf changes from this node go one at a time: Raft refuses a second one while the first is
   * pending (it would silently become an empty entry and its caller time out), and each is
   * validated against the membership its predecessor left.
   */
  private confChange(c: MemberChange, opts: RequestOptions): Promise<void> {
    const run = this.confQueue.then(() => this.proposeConfChange(c, opts));
    this.confQueue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private confQueue: Promise<void> = Promise.resolve();

  private async proposeConfChange(c: MemberChange, opts: RequestOptions): Promise<void> {
    const rt = this.checkRunning();
    const err = rt.membership.check(c);
    if (err !== undefined) throw err;
    const seq = this.reserve();
    const req = this.requestId(seq);
    const url = c.kind === "add" ? c.url : c.kind === "promote" ? rt.membership.get(c.id)?.url : undefined;
    const cc = {
      id: 0,
      type:
        c.kind === "remove"
          ? ConfChangeType.ConfChangeRemoveNode
          : c.kind === "add" && c.learner
            ? ConfChangeType.ConfChangeAddLearnerNode
            : ConfChangeType.ConfChangeAddNode,
      nodeId: c.id,
      context: encodeConfChangeContext({
        ...(url === undefined ? {} : { url }),
        ...(c.kind === "promote" ? { promote: true } : {}),
        req,
      }),
    };
    const p = rt.requests.add(seq, "conf change", opts.timeoutMs ?? rt.o.requestTimeoutMs, opts.signal);
    rt.log.info({ change: c.kind, member: c.id.toString(16) }, "proposing conf change");
    this.submit(seq, "conf change", () => rt.rawNode.proposeConfChange(cc));
    try {
      await p;
    } catch (e) {
      if (e instanceof TimeoutError) rt.metrics.proposals.inc({ result: "timeout" });
      throw e;
    }
  }
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
