/**
 * What the page draws of a simulated cluster, read from a live {@link Simulation} without changing
 * it: every value here comes from public fields and pure getters of the simulator and the core (no
 * tick, step or Ready is taken), so drawing a run cannot change its transcript.
 */
import { type Progress, ProgressState, StateType, type TrackerConfig } from "@tsraft/raft";
import { MessageType } from "@tsraft/raft/raftpb";
import type { NodeHost, Simulation } from "@tsraft/raft/rafttest";

/** A node's role as drawn; `down` while crashed, `removed` once it applied its own removal. */
export type Role = "leader" | "candidate" | "pre-candidate" | "follower" | "down" | "removed";

/** One log entry as drawn: its index and term. */
export interface EntryView {
  readonly index: number;
  readonly term: number;
}

/** A node's log: the window of entries drawn and the indexes marked on it. */
export interface LogView {
  /** The first index still in the log (everything before is in the snapshot). */
  readonly first: number;
  /** The last index (in memory; for a node that is down, on disk). */
  readonly last: number;
  /** Entries from max(first, last - window + 1) to last. */
  readonly entries: readonly EntryView[];
  readonly commit: number;
  readonly applied: number;
  /** The last index on disk (entries after it are still being written). */
  readonly durable: number;
}

/** How the leader replicates to one peer (etcd's tracker.Progress). */
export interface ProgressView {
  readonly id: number;
  readonly match: number;
  readonly next: number;
  /** `probe`, `replicate` or `snapshot`. */
  readonly state: string;
  readonly paused: boolean;
  readonly recentActive: boolean;
  readonly learner: boolean;
}

/** One node as drawn. */
export interface NodeView {
  readonly id: number;
  readonly role: Role;
  /** Frozen by a `pause` (no ticks, no deliveries). */
  readonly paused: boolean;
  /** In its own configuration (or, down, in the leader's); spares and removed nodes are not. */
  readonly member: boolean;
  readonly learner: boolean;
  readonly term: number;
  readonly vote: number;
  readonly lead: number;
  /** Ticks since the last heartbeat or vote, and the (randomized) timeout it races against. */
  readonly electionElapsed: number;
  readonly electionTimeout: number;
  readonly heartbeatElapsed: number;
  readonly heartbeatTimeout: number;
  /** Clock rate in percent (tick-rate skew). */
  readonly rate: number;
  readonly log: LogView;
  /** On a leader: every peer's progress, in id order. */
  readonly progress: readonly ProgressView[] | undefined;
}

/** A message in flight. `key` is stable while it stays in flight (for animation). */
export interface MessageView {
  readonly key: number;
  readonly from: number;
  readonly to: number;
  /** etcd's name: `MsgApp`, `MsgVoteResp`, ... */
  readonly type: string;
  readonly term: number;
  /** Steps it has been in flight. */
  readonly age: number;
  /** The recipient is paused: it waits. */
  readonly waiting: boolean;
}

/** The whole cluster at one step. */
export interface ClusterView {
  readonly step: number;
  readonly ticks: number;
  readonly nodes: readonly NodeView[];
  readonly messages: readonly MessageView[];
  /** One-way links that are cut, as [from, to]. */
  readonly cuts: readonly (readonly [number, number])[];
  /** The running leader of the highest term, 0 if none. */
  readonly leader: number;
}

/** How many log entries each node's strip shows at most. */
export const LOG_WINDOW = 40;

/**
 * Gives each message object a stable key and remembers the step it was first seen in flight.
 * Message objects are not copied while in flight, so identity is a faithful key.
 */
export class MessageKeys {
  private readonly seen = new WeakMap<object, { key: number; born: number }>();
  private next = 1;

  /** The key of `m` and the step it was first seen. */
  of(m: object, step: number): { key: number; born: number } {
    let k = this.seen.get(m);
    if (k === undefined) {
      k = { key: this.next++, born: step };
      this.seen.set(m, k);
    }
    return k;
  }
}

/** Reads the view of `sim` (see the module comment: read-only). */
export function viewOf(sim: Simulation, keys: MessageKeys, ticks: number): ClusterView {
  const leader = sim.leader();
  const cfg = leader?.rn?.raft.trk.config;
  const nodes = sim.hosts.map((h) => nodeView(h, cfg === undefined ? undefined : membersOf(cfg)));
  const messages: MessageView[] = [];
  for (const m of sim.network.inFlight()) {
    const k = keys.of(m, sim.steps);
    const to = m.to >= 1 && m.to <= sim.hosts.length ? sim.node(m.to) : undefined;
    messages.push({
      key: k.key,
      from: m.from,
      to: m.to,
      type: MessageType[m.type] ?? String(m.type),
      term: m.term,
      age: sim.steps - k.born,
      waiting: to?.paused === true,
    });
  }
  const cuts: [number, number][] = [];
  const n = sim.hosts.length;
  for (let a = 1; a <= n; a++)
    for (let b = 1; b <= n; b++) if (a !== b && sim.network.isCut(a, b)) cuts.push([a, b]);
  return { step: sim.steps, ticks, nodes, messages, cuts, leader: leader?.id ?? 0 };
}

interface Members {
  readonly voters: ReadonlySet<number>;
  readonly learners: ReadonlySet<number>;
}

function membersOf(cfg: TrackerConfig): Members {
  return { voters: cfg.voters.ids(), learners: new Set(cfg.learners) };
}

function nodeView(h: NodeHost, leaderCfg: Members | undefined): NodeView {
  const r = h.rn?.raft;
  if (r === undefined) return downView(h, leaderCfg);
  const cfg = r.trk.config;
  const voter = cfg.voters.ids().has(h.id);
  const learner = cfg.learners.has(h.id) || cfg.learnersNext.has(h.id);
  const log = r.raftLog;
  const last = log.lastIndex();
  const first = log.firstIndex();
  const entries: EntryView[] = [];
  for (let i = Math.max(first, last - LOG_WINDOW + 1); i <= last; i++) {
    entries.push({ index: i, term: log.zeroTermOnOutOfBounds(i) });
  }
  return {
    id: h.id,
    role: roleOf(r.state),
    paused: h.paused,
    member: voter || learner,
    learner,
    term: r.term,
    vote: r.vote,
    lead: r.lead,
    electionElapsed: r.electionElapsed,
    electionTimeout: r.randomizedElectionTimeout,
    heartbeatElapsed: r.heartbeatElapsed,
    heartbeatTimeout: r.heartbeatTimeout,
    rate: h.rate,
    log: { first, last, entries, commit: log.committed, applied: h.appliedIndex, durable: durableLast(h) },
    progress: r.state === StateType.StateLeader ? progressOf(r.trk.progress) : undefined,
  };
}

/** A crashed (or removed) node: what its disk holds. */
function downView(h: NodeHost, leaderCfg: Members | undefined): NodeView {
  const d = h.durable;
  const hs = d.initialState().hardState;
  const first = d.firstIndex();
  const last = d.lastIndex();
  const entries: EntryView[] = [];
  for (let i = Math.max(first, last - LOG_WINDOW + 1); i <= last; i++)
    entries.push({ index: i, term: d.term(i) });
  const learner = leaderCfg?.learners.has(h.id) === true;
  return {
    id: h.id,
    role: h.removed ? "removed" : "down",
    paused: false,
    member:
      !h.removed &&
      (learner || leaderCfg?.voters.has(h.id) === true || (leaderCfg === undefined && last > 0)),
    learner,
    term: hs.term,
    vote: hs.vote,
    lead: 0,
    electionElapsed: 0,
    electionTimeout: 0,
    heartbeatElapsed: 0,
    heartbeatTimeout: 0,
    rate: h.rate,
    log: { first, last, entries, commit: hs.commit, applied: h.appliedIndex, durable: last },
    progress: undefined,
  };
}

function durableLast(h: NodeHost): number {
  return h.durable.lastIndex();
}

function roleOf(s: StateType): Role {
  switch (s) {
    case StateType.StateLeader:
      return "leader";
    case StateType.StateCandidate:
      return "candidate";
    case StateType.StatePreCandidate:
      return "pre-candidate";
    case StateType.StateFollower:
      return "follower";
  }
}

const PROGRESS_NAMES: Record<ProgressState, string> = {
  [ProgressState.StateProbe]: "probe",
  [ProgressState.StateReplicate]: "replicate",
  [ProgressState.StateSnapshot]: "snapshot",
};

function progressOf(progress: ReadonlyMap<number, Progress>): ProgressView[] {
  return [...progress.keys()]
    .sort((a, b) => a - b)
    .map((id) => {
      const p = progress.get(id)!;
      return {
        id,
        match: p.match,
        next: p.next,
        state: PROGRESS_NAMES[p.state],
        paused: p.isPaused(),
        recentActive: p.recentActive,
        learner: p.isLearner,
      };
    });
}
