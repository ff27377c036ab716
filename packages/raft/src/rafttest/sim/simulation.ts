/**
 * A whole simulated cluster: N nodes (see node-host.ts), the network between them, a logical clock,
 * and the invariant checker, driven one schedule action at a time. Everything is deterministic: a
 * run is a function of its {@link SimCase}, so a failure replays exactly.
 *
 * ```ts
 * const sim = new Simulation(simCase, { trace: true });
 * sim.run(simCase.schedule);   // throws an InvariantViolation at the first broken property
 * sim.awaitLiveness();          // heals every fault; throws unless a new proposal commits everywhere
 * ```
 *
 * `run` and `awaitLiveness` are for state machines that answer synchronously (the examples do);
 * `runAsync` and `awaitLivenessAsync` drive any implementation of the contract, awaiting a state
 * machine's promises between two steps (see state-machine-driver.ts).
 */
import { type Message, MessageType, newConfState } from "../../raftpb/types.js";
import { SnapshotStatus } from "../../raw-node.js";
import { StateType } from "../../ready.js";
import type { StateMachine } from "../../state-machine.js";
import { utf8Encode } from "./bytes.js";
import { buildConfChange } from "./conf-change.js";
import { ChecksumStateMachine } from "./example-state-machines.js";
import { Checker, InvariantViolation } from "./invariants.js";
import { livenessLoop } from "./liveness.js";
import { SimNetwork } from "./network.js";
import { BOOTSTRAP_INDEX, BOOTSTRAP_TERM, type HostEnv, NodeHost } from "./node-host.js";
import type { Action, BrokenVariant, SimCase, SimOptions } from "./schedule.js";
import type { StateMachineFactory } from "./state-machine-driver.js";
import { summarizeMessage, Transcript } from "./transcript.js";

/** A case without its schedule: what a {@link Simulation} is built from. */
export type SimSetup = Omit<SimCase, "schedule">;

/** Options of a {@link Simulation}. */
export interface SimulationOptions {
  /** Builds each node's application state machine (default: {@link ChecksumStateMachine}). */
  stateMachine?: StateMachineFactory;
  /** Record a {@link Transcript} of the run (slower; for failures and replays). */
  trace?: boolean;
  /** Clock ticks the liveness phase may take (default: 50 election timeouts). */
  livenessTicks?: number;
  /**
   * Hold lease-based reads to linearizability too. Off by default: etcd's leases do not give it
   * (a deposed leader may serve from its lease for up to an election timeout after a new leader
   * was elected; see Checker.registerRead), so only safe reads are checked that strictly.
   */
  strictLeaseReads?: boolean;
}

/** Counters describing what a run exercised. */
export interface SimStats {
  steps: number;
  ticks: number;
  elections: number;
  maxTerm: number;
  /** The highest commit index reached. */
  maxCommit: number;
  messagesDelivered: number;
  messagesLost: number;
  messagesDuplicated: number;
  snapshotsSent: number;
  /** Snapshots nodes took of their state machine (and compacted their log after). */
  snapshotsTaken: number;
  crashes: number;
  /** Crashes that kept part of a write in progress. */
  tornWrites: number;
  confChangesProposed: number;
  /** Configuration changes applied (on any node; each node counts). */
  confChangesApplied: number;
  transfers: number;
  readsAnswered: number;
  skipped: number;
  /** Clock ticks the liveness phase took (0 if it did not run). */
  livenessTicks: number;
  /** Probes the liveness phase ran (CheckQuorum, transfers, joint elections; see liveness.ts). */
  livenessProbes: number;
}

/** A simulated cluster. */
export class Simulation {
  readonly setup: SimSetup;
  readonly options: SimOptions;
  /** Node `id` is `hosts[id - 1]`. */
  readonly hosts: readonly NodeHost[];
  readonly network: SimNetwork;
  readonly checker: Checker;
  /** The transcript, if tracing. */
  readonly transcript: Transcript | undefined;
  readonly livenessTicks: number;
  private readonly strictLeaseReads: boolean;
  /** Steps run so far. */
  steps = 0;
  /** The leader last cut off by `isolate leader` (0: none yet). */
  lastIsolated = 0;
  readonly stats: SimStats = {
    steps: 0,
    ticks: 0,
    elections: 0,
    maxTerm: 0,
    maxCommit: 0,
    messagesDelivered: 0,
    messagesLost: 0,
    messagesDuplicated: 0,
    snapshotsSent: 0,
    snapshotsTaken: 0,
    crashes: 0,
    tornWrites: 0,
    confChangesProposed: 0,
    confChangesApplied: 0,
    transfers: 0,
    readsAnswered: 0,
    skipped: 0,
    livenessTicks: 0,
    livenessProbes: 0,
  };
  private readonly env: HostEnv;
  /** Indexed by id (0 unused): the checker's view of the nodes. */
  private readonly byId: (NodeHost | undefined)[];

  constructor(setup: SimSetup, opts: SimulationOptions = {}) {
    this.setup = setup;
    this.options = setup.options;
    const n = setup.cluster.nodes;
    if (n < 1) throw new Error("a simulation needs at least one node");
    if (setup.options.leaseReads && !setup.options.checkQuorum) {
      throw new Error("lease reads require checkQuorum");
    }
    this.transcript = opts.trace === true ? new Transcript() : undefined;
    this.livenessTicks = opts.livenessTicks ?? 50 * setup.options.electionTick;
    this.strictLeaseReads = opts.strictLeaseReads === true;
    this.network = new SimNetwork(n);
    this.network.onLost = this.lost;
    const members = new Set([...setup.cluster.voters, ...setup.cluster.learners]);
    const boot = { term: BOOTSTRAP_TERM, vote: 0, commit: BOOTSTRAP_INDEX };
    const initial = [
      undefined,
      ...Array.from({ length: n }, (_, i) => (members.has(i + 1) ? boot : undefined)),
    ];
    this.checker = new Checker(initial, {
      electionTick: setup.options.electionTick,
      checkQuorum: setup.options.checkQuorum,
    });
    this.checker.bootstrapCommitted(BOOTSTRAP_INDEX, BOOTSTRAP_TERM);
    const t = this.transcript;
    if (t !== undefined) this.checker.event = (line) => t.note(line);
    const makeSm: StateMachineFactory = opts.stateMachine ?? (() => new ChecksumStateMachine());
    this.env = {
      seed: setup.seed,
      options: setup.options,
      broken: new Set<BrokenVariant>(setup.broken),
      checker: this.checker,
      makeStateMachine: makeSm,
      stats: this.stats,
      send: (m) => this.send(m),
      onMembersRemoved: (ids) => {
        for (const id of ids) this.removedIds.add(id);
      },
      trace: t === undefined ? undefined : (line) => t.note(line),
    };
    const cs = newConfState({ voters: [...setup.cluster.voters], learners: [...setup.cluster.learners] });
    const hosts: NodeHost[] = [];
    for (let id = 1; id <= n; id++) hosts.push(new NodeHost(id, this.env, members.has(id) ? cs : undefined));
    this.hosts = hosts;
    this.byId = [undefined, ...hosts];
    this.checker.attach(this.byId);
    t?.banner(`start ${n} nodes: ${describeMembers(setup)}`);
    this.guard(() => {
      for (const h of hosts) h.start();
    });
  }

  /** Node `id`. */
  node(id: number): NodeHost {
    const h = this.byId[id];
    if (h === undefined) throw new Error(`no node ${id}`);
    return h;
  }

  /** The state machine of node `id`'s current incarnation (cast to the type your factory builds). */
  stateMachine<T extends StateMachine<unknown> = StateMachine<unknown>>(id: number): T {
    return this.node(id).sm as T;
  }

  /** Crashes node `h` (`torn`: as NodeHost.crash takes it), counting it. */
  private crashHost(h: NodeHost, torn: number): void {
    this.stats.crashes++;
    h.crash(torn);
  }

  /**
   * Node `id` if it is running, or undefined after recording that the action was skipped (naming
   * the node as the action did: `name`, e.g. "isolated").
   */
  private runningOrSkip(id: number, name: number | string = id): NodeHost | undefined {
    const h = this.host(id);
    if (h?.running) return h;
    this.skip(`node ${name} is not running`);
    return undefined;
  }

  /**
   * The leader (noted in the transcript with `note`), or undefined after recording that the action
   * was skipped for want of one.
   */
  private leaderOrSkip(note = false): NodeHost | undefined {
    const l = this.leader();
    if (l === undefined) this.skip("no leader");
    else if (note) this.transcript?.note(`the leader is ${l.id}`);
    return l;
  }

  /** The running leader of the highest term, if any. */
  leader(): NodeHost | undefined {
    let best: NodeHost | undefined;
    for (const h of this.hosts) {
      const r = h.running ? h.rn!.raft : undefined;
      if (r === undefined || r.state !== StateType.StateLeader) continue;
      if (best === undefined || r.term > best.rn!.raft.term) best = h;
    }
    return best;
  }

  /**
   * The members (voters, both halves if joint, and learners) of the current leader's configuration,
   * in id order; empty without a leader. After {@link Simulation.awaitLiveness} they all applied
   * the same entries. (A node removed while cut off may still run, unaware: it is not a member.)
   */
  members(): number[] {
    const cfg = this.leader()?.rn?.raft.trk.config;
    if (cfg === undefined) return [];
    return [...new Set([...cfg.voters.ids(), ...cfg.learners, ...cfg.learnersNext])].sort((a, b) => a - b);
  }

  /**
   * Runs every action of `schedule` in turn (see {@link Simulation.step}). For state machines that
   * answer synchronously: throws an AsyncStateMachineError if one returns a promise.
   */
  run(schedule: readonly Action[]): void {
    this.drive(this.actions(schedule));
  }

  /**
   * Runs every action of `schedule` in turn, awaiting the state machines' promises (if any) after
   * each step: any implementation of the contract, same result for the same case every time.
   */
  async runAsync(schedule: readonly Action[]): Promise<void> {
    await this.driveAsync(this.actions(schedule));
  }

  /** The steps of `schedule`, one action each, for {@link drive} or {@link driveAsync}. */
  private *actions(schedule: readonly Action[]): Generator<void, void> {
    for (const a of schedule) {
      this.step(a);
      yield;
    }
  }

  /**
   * Runs `steps` to its end, throwing an AsyncStateMachineError as soon as a step leaves a state
   * machine call waiting behind a promise; returns what `steps` returns.
   */
  private drive<T>(steps: Generator<void, T>): T {
    for (let r = steps.next(); ; r = steps.next()) {
      if (r.done === true) return r.value;
      this.assertSynchronous();
    }
  }

  /** {@link drive} for any state machine: awaits the pending calls after each step ({@link settle}). */
  private async driveAsync<T>(steps: Generator<void, T>): Promise<T> {
    for (let r = steps.next(); ; r = steps.next()) {
      if (r.done === true) return r.value;
      if (this.stateMachinesPending()) await this.settle();
    }
  }

  /** True while a node's state machine calls wait behind a promise (see {@link Simulation.settle}). */
  stateMachinesPending(): boolean {
    for (const h of this.hosts) if (h.smd.pending) return true;
    return false;
  }

  /**
   * Waits for every node's pending state machine calls and applies their outcomes, node by node in
   * id order (a deterministic point: the run does not depend on when the promises resolve). Throws
   * the state-machine InvariantViolation one of them met.
   */
  async settle(): Promise<void> {
    for (const h of this.hosts) {
      if (!h.smd.pending) continue;
      try {
        await h.smd.settle();
      } catch (e) {
        this.guard(() => {
          throw e;
        });
      }
    }
  }

  /** Throws an AsyncStateMachineError if a state machine call is waiting behind a promise. */
  assertSynchronous(): void {
    for (const h of this.hosts) h.smd.assertSynchronous();
  }

  /**
   * Runs one action, lets every node handle its Readys, and checks the invariants. Throws an
   * {@link InvariantViolation} (with its `step`) at the first broken property.
   */
  step(a: Action): void {
    this.steps++;
    this.stats.steps++;
    this.transcript?.step(this.steps, a);
    this.guard(() => {
      this.exec(a);
      this.settleReadies();
      this.retireRemoved();
      this.checkLeaders();
    });
  }

  /** Runs `f`, stamping a violation with the current step and recording it in the transcript. */
  guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof InvariantViolation) {
        if (e.step === 0) e.step = this.steps;
        this.transcript?.note(`VIOLATION ${e.message}`);
      }
      throw e;
    }
  }

  /**
   * Heals every fault (see liveness.ts), then runs the cluster on a reliable network until a leader
   * has committed a new proposal and every member applied it. Throws a liveness InvariantViolation if
   * that takes longer than `livenessTicks`. Returns the ticks it took.
   */
  awaitLiveness(): number {
    this.stats.livenessTicks = this.drive(livenessLoop(this));
    return this.stats.livenessTicks;
  }

  /** {@link Simulation.awaitLiveness} for any state machine (awaiting its promises, as runAsync). */
  async awaitLivenessAsync(): Promise<number> {
    this.stats.livenessTicks = await this.driveAsync(livenessLoop(this));
    return this.stats.livenessTicks;
  }

  /** Final counters (call after the run). */
  finalStats(): SimStats {
    const s = this.stats;
    const c = this.checker.stats;
    s.elections = c.elections;
    s.maxTerm = c.maxTerm;
    s.readsAnswered = c.readsAnswered;
    s.maxCommit = this.checker.maxCommit;
    s.messagesDelivered = this.network.stats.delivered;
    s.messagesLost = this.network.stats.lost;
    s.messagesDuplicated = this.network.stats.duplicated;
    return s;
  }

  private skip(why: string): void {
    this.stats.skipped++;
    this.transcript?.note(`(skipped: ${why})`);
  }

  private exec(a: Action): void {
    switch (a.kind) {
      case "tick":
        this.stats.ticks++;
        for (const h of this.hosts) h.tick();
        return;
      case "deliver":
      case "drop":
      case "dup": {
        const i = this.network.find(a.pick, this.deliverable);
        if (i < 0) {
          this.skip("no message in flight");
          return;
        }
        if (a.kind === "dup") {
          this.network.stats.duplicated++;
          this.deliver(this.network.at(i));
        } else if (a.kind === "drop") {
          this.network.lose(this.network.take(i), "dropped");
        } else {
          this.deliver(this.network.take(i));
        }
        return;
      }
      case "flush": {
        const all = this.network.takeAll();
        for (const m of all) {
          if (this.deliverable(m)) this.deliver(m);
          else this.network.send(m); // to a paused node: it stays in flight
        }
        return;
      }
      case "sync":
      case "apply":
        if (a.node === 0) {
          // A slow disk completes its writes only once it is fast again (or the node stops).
          for (const h of this.hosts) if (!h.slowDisk) h.syncAndApplyAll();
          return;
        }
        if (this.runningOrSkip(a.node) === undefined) return;
        if (a.kind === "sync" && this.node(a.node).slowDisk) {
          this.skip(`node ${a.node}'s disk is slow`);
          return;
        }
        if (!(a.kind === "sync" ? this.node(a.node).syncOne() : this.node(a.node).applyOne())) {
          this.skip("nothing to do");
        }
        return;
      case "cut":
        this.network.setCut(a.from, a.to, true, a.hold === true);
        return;
      case "partition":
        this.partition(a.groups, a.hold === true);
        return;
      case "splitJoint": {
        const why = this.splitJoint(a.half);
        if (why !== undefined) this.skip(why);
        return;
      }
      case "replay": {
        const m = this.network.replayable(a.pick, a.snap, (x) => a.to === undefined || x.to === a.to);
        if (m === undefined || !this.deliverable(m)) {
          this.skip(m === undefined ? "nothing to replay" : `node ${m.to} is paused`);
          return;
        }
        this.network.stats.duplicated++;
        this.transcript?.note("a copy of an earlier message, delivered late:");
        this.deliver(m, true);
        return;
      }
      case "disk": {
        const h = this.host(a.node);
        if (h === undefined) this.skip(`no node ${a.node}`);
        else h.slowDisk = a.slow;
        return;
      }
      case "heal":
        this.network.healAll();
        return;
      case "crash": {
        const h = this.host(a.node);
        if (h === undefined || !h.up) {
          this.skip(`node ${a.node} is down`);
          return;
        }
        this.crashHost(h, a.torn);
        return;
      }
      case "crashLeader": {
        const l = this.leaderOrSkip(true);
        if (l !== undefined) this.crashHost(l, a.torn);
        return;
      }
      case "isolateLeader": {
        const l = this.leaderOrSkip(true);
        if (l === undefined) return;
        this.lastIsolated = l.id;
        for (const h of this.hosts) {
          if (h.id === l.id || h.id === a.with) continue;
          if (a.with !== undefined && a.with !== l.id) {
            this.network.setCut(a.with, h.id, true, a.hold === true);
            this.network.setCut(h.id, a.with, true, a.hold === true);
          }
          this.network.setCut(l.id, h.id, true, a.hold === true);
          this.network.setCut(h.id, l.id, true, a.hold === true);
        }
        return;
      }
      case "restart": {
        if (a.node === 0) {
          for (const h of this.hosts) if (!h.up && !h.removed) h.start();
          return;
        }
        const h = this.host(a.node);
        if (h === undefined || h.up || h.removed) {
          this.skip(h?.removed === true ? `node ${a.node} was removed for good` : `node ${a.node} is up`);
          return;
        }
        h.start();
        return;
      }
      case "pause":
      case "resume": {
        const h = this.host(a.node);
        if (h === undefined || !h.up) {
          this.skip(`node ${a.node} is down`);
          return;
        }
        h.paused = a.kind === "pause";
        return;
      }
      case "skew":
        this.host(a.node)?.setRate(a.rate);
        return;
      case "propose": {
        const h = this.runningOrSkip(a.node);
        if (h === undefined) return;
        h.propose(utf8Encode(a.data));
        return;
      }
      case "confChange": {
        const l = this.leaderOrSkip();
        if (l === undefined) return;
        const cc = buildConfChange(a.change, l.rn!.raft.trk.config, this.hosts.length, l.id, this.removedIds);
        if (typeof cc === "string") {
          this.skip(cc);
          return;
        }
        this.stats.confChangesProposed++;
        this.transcript?.note(`leader ${l.id} proposes it`);
        l.proposeConfChange(cc);
        return;
      }
      case "transfer": {
        const l = this.leaderOrSkip();
        if (l === undefined) return;
        this.stats.transfers++;
        l.transferLeader(a.to);
        return;
      }
      case "read": {
        const id =
          a.node === "leader" ? (this.leader()?.id ?? 0) : a.node === "isolated" ? this.lastIsolated : a.node;
        const h = this.runningOrSkip(id, a.node);
        if (h === undefined) return;
        if (typeof a.node === "string") this.transcript?.note(`that is node ${id}`);
        const ctx = `read-${this.steps}`;
        this.checker.registerRead(
          ctx,
          h.rn!.raft.raftLog.committed,
          this.options.leaseReads && !this.strictLeaseReads,
        );
        h.readIndex(utf8Encode(ctx));
        return;
      }
      case "snapshot": {
        const h = a.node === "leader" ? this.leader() : this.host(a.node);
        if (a.node === "leader" && h !== undefined) this.transcript?.note(`the leader is ${h.id}`);
        const why = h === undefined ? "no such node" : h.snapshot(a.keep);
        if (why !== undefined) this.skip(why);
        return;
      }
      case "campaign": {
        const h = this.runningOrSkip(a.node);
        if (h === undefined) return;
        h.campaign();
        return;
      }
    }
  }

  private host(id: number): NodeHost | undefined {
    return this.byId[id];
  }

  /** Cuts (or holds) every link between nodes of different groups, both ways. */
  private partition(groups: readonly (readonly number[])[], hold: boolean): void {
    for (let x = 0; x < groups.length; x++) {
      for (let y = 0; y < groups.length; y++) {
        if (x === y) continue;
        for (const p of groups[x]!) for (const q of groups[y]!) this.network.setCut(p, q, true, hold);
      }
    }
  }

  /**
   * Cuts off the fewest voters (never the leader) that take the majority of `half` of the
   * leader's joint configuration while the other half keeps one (the simulator's model of it).
   * Returns why it did nothing, or undefined.
   */
  private splitJoint(half: "incoming" | "outgoing"): string | undefined {
    const l = this.leader();
    if (l === undefined) return "no leader";
    const cfg = this.checker.configOf(l.id);
    if (cfg.outgoing.size === 0) return "the configuration is not joint";
    const [lose, keep] = half === "incoming" ? [cfg.voters, cfg.outgoing] : [cfg.outgoing, cfg.voters];
    const majority = (set: ReadonlySet<number>, out: ReadonlySet<number>): boolean => {
      let n = 0;
      for (const id of set) if (!out.has(id)) n++;
      return n * 2 > set.size;
    };
    const candidates = [...new Set([...cfg.voters, ...cfg.outgoing])]
      .filter((id) => id !== l.id)
      .sort((a, b) => a - b);
    let best: Set<number> | undefined;
    for (let mask = 1; mask < 1 << candidates.length; mask++) {
      const out = new Set(candidates.filter((_, i) => (mask & (1 << i)) !== 0));
      if (majority(lose, out) || !majority(keep, out)) continue;
      if (best === undefined || out.size < best.size) best = out;
    }
    if (best === undefined) return `no cut takes the ${half} majority and leaves the other`;
    const rest = this.hosts.map((h) => h.id).filter((id) => !best.has(id));
    this.transcript?.note(`the leader is ${l.id}: cutting off ${[...best].join(",")}`);
    this.partition([[...best], rest], false);
    return undefined;
  }

  /**
   * A message can be delivered unless its recipient is paused or its link is held (then it waits
   * in flight).
   */
  private readonly deliverable = (m: Message): boolean => {
    const h = this.byId[m.to];
    return (h === undefined || !h.paused) && !this.network.isHeld(m.from, m.to);
  };

  /**
   * Delivers `m` (lost if its link is cut or its recipient is down). A `replay` (a late copy) is
   * not reported to its sender as a snapshot sent: the transport reported the original.
   */
  deliver(m: Message, replay = false): void {
    const h = this.byId[m.to];
    if (h === undefined || !h.up || this.network.isCut(m.from, m.to)) {
      this.network.lose(m, h?.up === true ? "link cut" : "node down");
      return;
    }
    this.network.stats.delivered++;
    this.network.delivered(m);
    this.transcript?.note(summarizeMessage(m));
    const before = this.checker.beforeDeliver(h);
    h.deliver(m);
    this.checker.afterDeliver(h, m, before);
    h.processReadies();
    this.retireRemoved();
    if (m.type === MessageType.MsgSnap && !replay) {
      this.stats.snapshotsSent++;
      this.node(m.from).reportSnapshot(m.to, SnapshotStatus.SnapshotFinish);
    }
  }

  /**
   * A message was lost. Like a real transport, tell the sender when it can know: a snapshot that
   * did not make it (the leader must hear about it, or it waits for that snapshot forever), and a
   * peer that is unreachable (link cut, node down).
   */
  private readonly lost = (m: Message, why: string): void => {
    this.transcript?.note(`lost ${summarizeMessage(m)} (${why})`);
    const sender = this.byId[m.from];
    if (sender === undefined) return;
    if (m.type === MessageType.MsgSnap) sender.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
    if (why === "link cut" || why === "node down") sender.reportUnreachable(m.to);
  };

  private send(m: Message): void {
    this.checker.onSend(m.from, m);
    this.network.send(m);
  }

  /**
   * Nodes that applied their own removal are shut down (see NodeHost.checkRetired) while this is
   * true; the liveness phase manages membership itself.
   */
  retiring = true;
  /** Every node a committed configuration change removed: never added again (ids are not reused). */
  readonly removedIds = new Set<number>();

  /** Shuts down the nodes that applied their own removal (see NodeHost.checkRetired). */
  retireRemoved(): void {
    for (const h of this.hosts) {
      if (h.retiring && (this.retiring || h.removed)) {
        this.transcript?.note(
          `${h.id} applied its own ${h.removed ? "removal" : "demotion while leading"}: shutting it down`,
        );
        h.stop();
      }
    }
  }

  /** Lets every running node hand out its Readys. */
  settleReadies(): void {
    for (const h of this.hosts) h.processReadies();
  }

  /** The checks of the whole cluster's state: each leader's Progress, and who could be elected. */
  checkLeaders(): void {
    for (const h of this.hosts) {
      if (h.running && h.rn!.raft.state === StateType.StateLeader) this.checker.checkProgress(h);
    }
    this.checker.checkElectable();
  }
}

function describeMembers(s: SimSetup): string {
  const l = s.cluster.learners.length > 0 ? ` learners ${s.cluster.learners.join(",")}` : "";
  return `voters ${s.cluster.voters.join(",")}${l}`;
}
