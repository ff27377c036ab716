/**
 * Interactive play on a live {@link Simulation}: every step runs one schedule action, either one the
 * user asked for (crash a node, cut a link, propose...) or one of a seeded background workload that
 * keeps the cluster moving (ticks, storage syncs, deliveries in send order, a few client writes).
 *
 * Everything executed is recorded as a schedule, so a session is itself a {@link SimCase}: its
 * text replays in Node (`TSRAFT_SIM_REPLAY=... pnpm test test/sim/replay`) to the same transcript.
 */
import { StateType } from "@tsraft/raft";
import {
  type Action,
  DEFAULT_SIM_OPTIONS,
  formatAction,
  formatCase,
  InvariantViolation,
  Prng,
  type SimCase,
  type SimSetup,
  Simulation,
} from "@tsraft/raft/rafttest";

/** What the user picks before a run: the cluster and the options that need a new one to change. */
export interface PlaySetup {
  readonly seed: number;
  /** Initial voters 1..voters. */
  readonly voters: number;
  /** Empty nodes after them that "add node" may bring in. */
  readonly spares: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTick: number;
  readonly heartbeatTick: number;
}

/** RaftScope's cluster: five voters, plus one spare to add. */
export const DEFAULT_PLAY: PlaySetup = {
  seed: 1,
  voters: 5,
  spares: 1,
  preVote: false,
  checkQuorum: false,
  electionTick: DEFAULT_SIM_OPTIONS.electionTick,
  heartbeatTick: DEFAULT_SIM_OPTIONS.heartbeatTick,
};

/** The simulator setup (a case without its schedule) of `p`. */
export function setupOf(p: PlaySetup): SimSetup {
  const voters = Array.from({ length: p.voters }, (_, i) => i + 1);
  return {
    seed: p.seed,
    cluster: { nodes: p.voters + p.spares, voters, learners: [] },
    options: {
      ...DEFAULT_SIM_OPTIONS,
      electionTick: p.electionTick,
      heartbeatTick: p.heartbeatTick,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
    },
    broken: [],
  };
}

/** Options of the background workload (changeable while running: they only shape future steps). */
export interface Workload {
  /** Client writes now and then at a random running node. */
  writes: boolean;
  /** Lose about one message in ten. */
  lossy: boolean;
}

/** A simulation driven step by step by the user and a seeded background workload. */
export class InteractiveSim {
  readonly setup: SimSetup;
  readonly sim: Simulation;
  /** Every action run so far, in order: with `setup`, a case that replays this session. */
  readonly schedule: Action[] = [];
  readonly workload: Workload = { writes: true, lossy: false };
  /** The first property broken (the simulation stops there), or a simulator error. */
  failure: InvariantViolation | Error | undefined;
  /** Clock ticks so far. */
  ticks = 0;
  /** The current leader (0: none) and the tick it was first seen leading in its term. */
  leader = { id: 0, term: 0, since: 0 };
  /** The background actions planned for the current round. */
  private plan: Action[] = [];
  private readonly rng: Prng;
  private proposals = 0;

  constructor(play: PlaySetup) {
    this.setup = setupOf(play);
    this.sim = new Simulation(this.setup, { trace: true });
    // A stream of its own, so the workload never draws from the nodes' election randomness.
    this.rng = new Prng(play.seed, 7);
  }

  /** The next background action (see {@link InteractiveSim.planRound}). */
  nextAction(): Action {
    if (this.plan.length === 0) this.plan = this.planRound();
    return this.plan.shift()!;
  }

  /** Runs the next background action. Returns it, or undefined once the run has failed. */
  step(): Action | undefined {
    return this.run(this.nextAction());
  }

  /**
   * Runs `a` now (a user action, or one of the workload's). Returns it, or undefined once the run
   * has failed (see {@link InteractiveSim.failure}).
   */
  run(a: Action): Action | undefined {
    if (this.failure !== undefined) return undefined;
    this.schedule.push(a);
    if (a.kind === "tick") this.ticks++;
    try {
      this.sim.step(a);
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
    }
    const l = this.sim.leader();
    const id = l?.id ?? 0;
    const term = l?.rn?.raft.term ?? 0;
    if (id !== this.leader.id || term !== this.leader.term) this.leader = { id, term, since: this.ticks };
    return a;
  }

  /** Runs the user's actions in order (stopping if one breaks a property). */
  runAll(actions: readonly Action[]): void {
    for (const a of actions) this.run(a);
  }

  /**
   * Runs the user's actions (as {@link InteractiveSim.runAll}) and returns what a user should be
   * told about them: actions the simulator skipped and why, and configuration changes the leader
   * did not take (etcd's leader takes one at a time: none while an earlier one — or, just after an
   * election, its first entry — is not applied, and none during a leadership transfer; it logs that
   * and appends an empty entry instead).
   */
  act(actions: readonly Action[]): string[] {
    const notes: string[] = [];
    const lines = this.sim.transcript?.lines ?? [];
    for (const a of actions) {
      const l = a.kind === "confChange" ? this.sim.leader()?.rn?.raft : undefined;
      const pending = l?.pendingConfIndex ?? 0;
      const why =
        l === undefined
          ? ""
          : l.leadTransferee !== 0
            ? `a leadership transfer to ${l.leadTransferee} is under way`
            : l.pendingConfIndex > l.raftLog.applied
              ? `the entry at index ${l.pendingConfIndex} (a configuration change, or its first entry as leader) is not applied yet`
              : "it is not valid in the current configuration";
      const from = lines.length;
      this.run(a);
      const said = lines.slice(from);
      const skipped = said.find((x) => x.trim().startsWith("(skipped: "));
      if (skipped !== undefined) notes.push(`${formatAction(a)}: ${skipped.trim().slice(1, -1)}`);
      else if (l !== undefined && l.pendingConfIndex === pending && l.state === StateType.StateLeader) {
        notes.push(`${formatAction(a)}: the leader did not take it: ${why}; try again`);
      }
    }
    return notes;
  }

  /**
   * One round of the background workload: a clock tick, a storage sync of every node (followers
   * send what waited for their writes), then each message that was in flight before the round
   * delivered in send order (or, when lossy, sometimes lost). Messages sent during the round wait
   * for the next one, so they are seen in flight. Now and then a client write at a random node.
   *
   * And what an application does when a node joins: the leader takes a snapshot once the change is
   * applied. A new node starts empty and the bootstrap snapshot does not list it, so it refuses that
   * one (etcd's restore ignores a snapshot whose ConfState lacks the node); it can only catch up from
   * a snapshot taken after it was added.
   */
  private planRound(): Action[] {
    const plan: Action[] = [{ kind: "tick" }, { kind: "sync", node: 0 }];
    const joiner = this.snapshotForJoiner();
    if (joiner !== undefined) plan.push(joiner);
    let inFlight = 0;
    for (const m of this.sim.network.inFlight()) {
      if (m.to < 1 || m.to > this.sim.hosts.length || !this.sim.node(m.to).paused) inFlight++;
    }
    for (let i = 0; i < inFlight; i++) {
      plan.push(
        this.workload.lossy && this.rng.chance(0.1)
          ? { kind: "drop", pick: 0 }
          : { kind: "deliver", pick: 0 },
      );
    }
    if (this.workload.writes && this.rng.chance(0.12)) {
      const up = this.sim.hosts.filter((h) => h.running && h.rn!.raft.trk.config.voters.ids().size > 0);
      if (up.length > 0) {
        this.proposals++;
        plan.push({ kind: "propose", node: this.rng.pick(up).id, data: `v${this.proposals}` });
      }
    }
    return plan;
  }

  /** A snapshot at the leader if a node waits to join and the leader applied entries since its last one. */
  private snapshotForJoiner(): Action | undefined {
    const l = this.sim.leader();
    if (l === undefined || l.appliedIndex <= l.disk.snapIndex) return undefined;
    const cfg = l.rn!.raft.trk.config;
    const members = [...cfg.voters.ids(), ...cfg.learners, ...cfg.learnersNext];
    const waiting = members.some((id) => {
      const r = this.sim.node(id).rn?.raft;
      return (
        r !== undefined &&
        !r.trk.config.voters.ids().has(id) &&
        !r.trk.config.learners.has(id) &&
        !r.trk.config.learnersNext.has(id)
      );
    });
    return waiting ? { kind: "snapshot", node: l.id, keep: 0 } : undefined;
  }

  /** The session as a case (header and every action run). */
  toCase(): SimCase {
    return { ...this.setup, schedule: [...this.schedule] };
  }

  /** The session as case text, for the replay tab or `TSRAFT_SIM_REPLAY=@file`. */
  caseText(): string {
    return formatCase(this.toCase());
  }

  /** The transcript so far. */
  transcript(): string {
    return this.sim.transcript?.toString() ?? "";
  }

  /** The transcript lines of the last step (its header and what happened). */
  lastStepLines(): string[] {
    const lines = this.sim.transcript?.lines ?? [];
    let i = lines.length - 1;
    while (i > 0 && !/^\d{4,} /.test(lines[i]!)) i--;
    return lines.slice(Math.max(0, i));
  }

  /** The last action run, as text. */
  lastAction(): string {
    const a = this.schedule[this.schedule.length - 1];
    return a === undefined ? "" : formatAction(a);
  }
}

// -------------------------------------------------------------------------------------------------
// User actions, as schedule actions

/** The actions that cut both ways of the link a–b. */
export function cutLink(a: number, b: number): Action[] {
  return [
    { kind: "cut", from: a, to: b },
    { kind: "cut", from: b, to: a },
  ];
}

/**
 * The actions that restore the links in `restore` (each one-way [from, to]) and keep every other
 * cut of `cuts`: the schedule language heals all links at once, so the others are cut again.
 */
export function restoreLinks(
  cuts: readonly (readonly [number, number])[],
  restore: (from: number, to: number) => boolean,
): Action[] {
  const out: Action[] = [{ kind: "heal" }];
  for (const [from, to] of cuts) if (!restore(from, to)) out.push({ kind: "cut", from, to });
  return out;
}

/** Cuts node `id` off from every other node of `n` (both ways). */
export function isolate(id: number, n: number): Action {
  const others = Array.from({ length: n }, (_, i) => i + 1).filter((x) => x !== id);
  return { kind: "partition", groups: [[id], others] };
}

/** True if `err` is an invariant violation (rather than an error of the simulator itself). */
export function isViolation(err: unknown): err is InvariantViolation {
  return err instanceof InvariantViolation;
}
