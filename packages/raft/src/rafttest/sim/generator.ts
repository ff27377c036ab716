/**
 * Builds a whole {@link SimCase} from a seed, the way TigerBeetle's VOPR and FoundationDB's
 * simulation pick their faults: "swarm testing" (each case turns a random subset of fault and
 * workload kinds on, each at a random intensity, so that rare combinations get their turn) over
 * alternating calm and stormy phases (faults pile up, then heal, so that the cluster also gets to
 * make progress between them). Faults come in episodes: a crashed node restarts, a paused one
 * resumes, a partition heals some steps later.
 *
 * The same seed and options always give the same case.
 */
import { NO_LIMIT } from "../../constants.js";
import { Prng } from "../../prng.js";
import type {
  Action,
  BrokenVariant,
  ClusterSpec,
  ConfChangeOp,
  ConfChangeSpec,
  NodeId,
  SimCase,
  SimOptions,
} from "./schedule.js";

/** What {@link generateCase} may vary; anything given here is fixed instead. */
export interface GenerateOptions {
  /** Schedule length (default 2000). */
  readonly steps?: number;
  /** Cluster size (default: 3 or 5 at random). */
  readonly nodes?: number;
  /** Fix these options (the others are drawn at random). */
  readonly options?: Partial<SimOptions>;
  /** Deliberately broken variants to run against (tests of the checker; default none). */
  readonly broken?: readonly BrokenVariant[];
  /** No faults at all (loss, duplication, crashes, pauses, partitions, skew): workload only. */
  readonly noFaults?: boolean;
  /**
   * The data of the `n`-th proposal: a command for your state machine (default `x<n>`). Must be
   * deterministic given `rng`.
   */
  readonly command?: (rng: Prng, n: number) => string;
}

/** How likely each kind of action is in one case (swarm testing: many are 0). */
interface Profile {
  readonly weights: readonly number[];
  readonly kinds: readonly Kind[];
  /** Mean steps a crashed node stays down, a paused node paused, a partition in place. */
  readonly downFor: number;
  readonly pauseFor: number;
  readonly splitFor: number;
  /** Allow more than a minority of nodes down at once. */
  readonly massCrash: boolean;
  /** How likely a partition, cut or isolation holds its messages (delays them) instead of losing them. */
  readonly hold: number;
  /** Mean steps a disk stays slow. */
  readonly slowFor: number;
  /** The case's asyncStorageWrites option (episodes plan around it). */
  readonly async: boolean;
}

type Kind =
  | "tick"
  | "deliver"
  | "reorder"
  | "flush"
  | "drop"
  | "dup"
  | "sync"
  | "syncAll"
  | "apply"
  | "propose"
  | "read"
  | "confChange"
  | "transfer"
  | "snapshot"
  | "campaign"
  | "crash"
  | "crashLeader"
  | "isolateLeader"
  | "pause"
  | "partition"
  | "cut"
  | "skew"
  | "replay"
  | "replaySnap"
  | "slowDisk"
  | "splitJoint"
  | "staleReadEpisode"
  | "slowFollowerEpisode"
  | "staleSnapshotEpisode";

const FAULTS: ReadonlySet<Kind> = new Set<Kind>([
  "drop",
  "dup",
  "crash",
  "pause",
  "partition",
  "cut",
  "skew",
  "replay",
  "replaySnap",
  "slowDisk",
  "splitJoint",
]);
/**
 * Episodes: a few faults planned together around a leader change. They start in calm phases too,
 * and while one plays out no other fault is drawn: they need a cluster that makes progress around
 * them. (They are drawn only when faults are on at all.)
 */
/** What else disturbs the leader (no fault, but not drawn while an episode plays out either). */
const DISRUPTIONS: ReadonlySet<Kind> = new Set<Kind>([
  "crashLeader",
  "isolateLeader",
  "transfer",
  "campaign",
  "confChange",
]);

const EPISODES: ReadonlySet<Kind> = new Set<Kind>([
  "staleReadEpisode",
  "slowFollowerEpisode",
  "staleSnapshotEpisode",
]);

/** The case `seed` stands for, given `opts`. */
export function generateCase(seed: number, opts: GenerateOptions = {}): SimCase {
  const rng = new Prng(seed, 0);
  const cluster = drawCluster(rng, opts.nodes ?? rng.pick([3, 5]));
  const options = drawOptions(rng, opts.options ?? {});
  const faults = opts.noFaults !== true;
  const profile = drawProfile(rng, options, faults);
  const schedule = drawSchedule(rng, cluster, profile, opts.steps ?? 2000, opts.command);
  return { seed, cluster, options, broken: [...(opts.broken ?? [])], schedule };
}

function drawCluster(rng: Prng, n: number): ClusterSpec {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const r = rng.float();
  if (n <= 2 || r < 0.45) return { nodes: n, voters: ids, learners: [] };
  // Fewer voters: the rest learners or spares (empty nodes that conf changes may add).
  const voters = ids.slice(0, Math.max(1, Math.ceil(n / 2) + (n >= 5 && rng.chance(0.3) ? 1 : 0)));
  const rest = ids.slice(voters.length);
  const learners = rest.filter(() => rng.chance(0.6));
  return { nodes: n, voters, learners };
}

function drawOptions(rng: Prng, fixed: Partial<SimOptions>): SimOptions {
  const checkQuorum = fixed.checkQuorum ?? rng.chance(0.5);
  return {
    electionTick: fixed.electionTick ?? rng.pick([10, 10, 10, 20]),
    heartbeatTick: fixed.heartbeatTick ?? rng.pick([1, 1, 2, 3]),
    preVote: fixed.preVote ?? rng.chance(0.5),
    checkQuorum,
    leaseReads: fixed.leaseReads ?? (checkQuorum && rng.chance(0.3)),
    asyncStorageWrites: fixed.asyncStorageWrites ?? rng.chance(0.4),
    stepDownOnRemoval: fixed.stepDownOnRemoval ?? rng.chance(0.5),
    maxSizePerMsg: fixed.maxSizePerMsg ?? rng.pick([0, 256, NO_LIMIT, NO_LIMIT]),
    maxCommittedSizePerReady: fixed.maxCommittedSizePerReady ?? rng.pick([64, NO_LIMIT, NO_LIMIT]),
    maxInflightMsgs: fixed.maxInflightMsgs ?? rng.pick([1, 2, 4, 256]),
  };
}

function drawProfile(rng: Prng, o: SimOptions, faults: boolean): Profile {
  const on = (p: number, w: number): number => (rng.chance(p) ? w : 0);
  const fault = (p: number, w: number): number => (faults ? on(p, w) : 0);
  // An election storm: leaders fail often and briefly (most safety bugs need several leaders, each
  // failing at the wrong moment); otherwise faults come at a gentler pace.
  const storm = faults && rng.chance(0.5);
  const churn = storm ? 5 + rng.int(15) : 1;
  // A membership storm: configuration changes one after the other (joint ones left explicitly
  // last a while), so that elections, commits, snapshots and partitions meet joint configurations.
  const members = rng.chance(0.3);
  const table: [Kind, number][] = [
    ["tick", 8 + rng.int(10)],
    ["deliver", 20 + rng.int(25)],
    ["reorder", on(0.7, 2 + rng.int(8))],
    ["flush", 1 + rng.int(6)],
    ["drop", fault(0.6, 1 + rng.int(5))],
    ["dup", fault(0.4, 0.5 + rng.float() * 2)],
    ["sync", 6 + rng.int(14)],
    ["syncAll", 1 + rng.int(4)],
    ["apply", o.asyncStorageWrites ? 3 + rng.int(8) : 0],
    ["propose", (2 + rng.int(8)) * (storm ? 2 : 1)],
    ["read", on(0.6, 0.5 + rng.float() * 3)],
    ["confChange", members ? 2 + rng.float() * 4 : on(0.5, 0.2 + rng.float() * 0.8)],
    ["transfer", on(0.4, (0.2 + rng.float() * 0.8) * churn)],
    ["snapshot", on(0.6, 0.3 + rng.float() * 1.5)],
    ["campaign", on(storm ? 0.8 : 0.3, (0.1 + rng.float() * 0.4) * churn)],
    ["crash", fault(0.6, 0.1 + rng.float() * 0.6)],
    ["crashLeader", fault(storm ? 0.9 : 0.5, (0.1 + rng.float() * 0.6) * churn)],
    ["isolateLeader", fault(storm ? 0.8 : 0.4, (0.1 + rng.float() * 0.5) * churn)],
    ["pause", fault(0.4, 0.1 + rng.float() * 0.4)],
    ["partition", fault(0.5, 0.1 + rng.float() * 0.5)],
    ["cut", fault(0.3, 0.1 + rng.float() * 0.4)],
    ["skew", fault(0.3, 0.1 + rng.float() * 0.3)],
    // Late copies of delivered messages (a duplicating network that delays), snapshots above all.
    ["replay", fault(0.3, 0.1 + rng.float() * 0.5)],
    ["replaySnap", fault(0.4, 0.2 + rng.float() * 1)],
    ["slowDisk", fault(0.3, 0.1 + rng.float() * 0.4)],
    ["splitJoint", members ? fault(0.8, 0.5 + rng.float() * 1.5) : 0],
    // Episodes: a few actions planned together, around a leader change.
    // A read at the leader, whose heartbeat acknowledgements are then held while the leader is cut
    // off and deposed; another read at the deposed leader; then the held messages arrive.
    ["staleReadEpisode", fault(0.7, 0.3 + rng.float() * 0.7)],
    // A follower's disk is slow while proposals flow and the leader is cut off (some of its appends
    // delivered, some not): the new leader's appends replace entries the follower is still writing.
    ["slowFollowerEpisode", fault(0.7, 0.3 + rng.float() * 0.7)],
    // A node cut off falls behind the leader's snapshot and catches up from it; later, once it took
    // a snapshot of its own, a copy of the leader's old MsgSnap arrives.
    ["staleSnapshotEpisode", fault(0.7, 0.3 + rng.float() * 0.7)],
  ];
  return {
    kinds: table.map(([k]) => k),
    weights: table.map(([, w]) => w),
    downFor: storm ? 3 + rng.int(40) : 20 + rng.int(200),
    pauseFor: 5 + rng.int(60),
    splitFor: storm ? 3 + rng.int(40) : 20 + rng.int(200),
    massCrash: rng.chance(0.15),
    hold: rng.pick([0, 0, 0.3, 0.7]),
    slowFor: 5 + rng.int(80),
    async: o.asyncStorageWrites,
  };
}

/** The generator's rough model of the cluster, to emit faults that make sense (and undo them). */
interface Model {
  readonly n: number;
  readonly down: Set<NodeId>;
  readonly paused: Set<NodeId>;
  /** Step at which each pending recovery is due. */
  readonly recover: { at: number; action: Action }[];
  split: boolean;
  /** An episode plays out until this step: no other fault or episode before. */
  quietUntil: number;
}

function drawSchedule(
  rng: Prng,
  cluster: ClusterSpec,
  p: Profile,
  steps: number,
  command: GenerateOptions["command"],
): Action[] {
  const n = cluster.nodes;
  const m: Model = { n, down: new Set(), paused: new Set(), recover: [], split: false, quietUntil: 0 };
  const out: Action[] = [];
  const node = (): NodeId => 1 + rng.int(n);
  let proposals = 0;
  let calm = rng.chance(0.5);
  let phaseEnd = 0;
  const calmWeights = p.weights.map((w, i) => (FAULTS.has(p.kinds[i]!) ? 0 : w));
  const quietWeights = calmWeights.map((w, i) =>
    EPISODES.has(p.kinds[i]!) || DISRUPTIONS.has(p.kinds[i]!) ? 0 : w,
  );
  while (out.length < steps) {
    const step = out.length;
    if (step >= phaseEnd) {
      calm = !calm;
      phaseEnd = step + 50 + rng.int(350);
    }
    // Recoveries that are due come first.
    const due = m.recover.findIndex((r) => r.at <= step);
    if (due >= 0) {
      const [r] = m.recover.splice(due, 1);
      out.push(applyToModel(m, r!.action));
      continue;
    }
    const kind = p.kinds[rng.weighted(step < m.quietUntil ? quietWeights : calm ? calmWeights : p.weights)]!;
    const a = drawAction(kind, rng, m, p, node, () => command?.(rng, proposals) ?? `x${proposals}`, step);
    if (a === undefined) continue;
    if (a.kind === "propose") proposals++;
    out.push(applyToModel(m, a));
  }
  // The case may end with faults in place: the liveness phase heals them.
  return out;
}

function applyToModel(m: Model, a: Action): Action {
  switch (a.kind) {
    case "crash":
      m.down.add(a.node);
      m.paused.delete(a.node);
      break;
    case "restart":
      if (a.node === 0) m.down.clear();
      else m.down.delete(a.node);
      break;
    case "pause":
      m.paused.add(a.node);
      break;
    case "resume":
      m.paused.delete(a.node);
      break;
    case "heal":
      m.split = false;
      break;
    case "partition":
    case "cut":
    case "isolateLeader":
    case "splitJoint":
      m.split = true;
      break;
  }
  return a;
}

function drawAction(
  kind: Kind,
  rng: Prng,
  m: Model,
  p: Profile,
  node: () => NodeId,
  data: () => string,
  step: number,
): Action | undefined {
  switch (kind) {
    case "tick":
      return { kind: "tick" };
    case "deliver":
      return { kind: "deliver", pick: 0 };
    case "reorder":
      return { kind: "deliver", pick: 1 + rng.geometric(3, 30) };
    case "flush":
      return { kind: "flush" };
    case "drop":
      return { kind: "drop", pick: rng.geometric(2, 30) };
    case "dup":
      return { kind: "dup", pick: rng.geometric(2, 30) };
    case "sync":
      return { kind: "sync", node: node() };
    case "syncAll":
      return { kind: "sync", node: 0 };
    case "apply":
      return { kind: "apply", node: rng.chance(0.1) ? 0 : node() };
    case "propose":
      return { kind: "propose", node: node(), data: data() };
    case "read":
      return { kind: "read", node: node() };
    case "confChange":
      return { kind: "confChange", change: drawConfChange(rng, m.n) };
    case "transfer":
      return { kind: "transfer", to: node() };
    case "snapshot":
      return { kind: "snapshot", node: node(), keep: rng.pick([0, 0, 1, 5]) };
    case "campaign":
      return { kind: "campaign", node: node() };
    case "crash": {
      const up = ids(m.n).filter((id) => !m.down.has(id));
      const limit = p.massCrash ? m.n : Math.floor((m.n - 1) / 2);
      if (up.length === 0 || m.down.size >= Math.max(1, limit)) return undefined;
      const id = rng.pick(up);
      m.recover.push({
        at: step + 1 + rng.geometric(p.downFor, 2000),
        action: { kind: "restart", node: id },
      });
      return { kind: "crash", node: id, torn: rng.pick([0, 0, 1, 2, 3, 1000]) };
    }
    case "crashLeader": {
      // The generator does not know who leads: count one more node down, restart them all later.
      const limit = p.massCrash ? m.n : Math.floor((m.n - 1) / 2);
      if (m.down.size >= Math.max(1, limit)) return undefined;
      m.down.add(0);
      m.recover.push({ at: step + 1 + rng.geometric(p.downFor, 2000), action: { kind: "restart", node: 0 } });
      return { kind: "crashLeader", torn: rng.pick([0, 0, 1, 2, 3, 1000]) };
    }
    case "isolateLeader": {
      if (m.split) return undefined;
      m.recover.push({ at: step + 1 + rng.geometric(p.splitFor, 2000), action: { kind: "heal" } });
      return rng.chance(p.hold) ? { kind: "isolateLeader", hold: true } : { kind: "isolateLeader" };
    }
    case "pause": {
      const cand = ids(m.n).filter((id) => !m.down.has(id) && !m.paused.has(id));
      if (cand.length === 0) return undefined;
      const id = rng.pick(cand);
      m.recover.push({
        at: step + 1 + rng.geometric(p.pauseFor, 2000),
        action: { kind: "resume", node: id },
      });
      return { kind: "pause", node: id };
    }
    case "partition": {
      if (m.split) return undefined;
      const all = ids(m.n);
      // Two groups (sometimes three with five nodes); a node may also end up alone.
      const groups: NodeId[][] = [[], []];
      if (m.n >= 5 && rng.chance(0.3)) groups.push([]);
      for (const id of all) groups[rng.int(groups.length)]!.push(id);
      const nonEmpty = groups.filter((g) => g.length > 0);
      if (nonEmpty.length < 2) return undefined;
      m.recover.push({ at: step + 1 + rng.geometric(p.splitFor, 2000), action: { kind: "heal" } });
      return rng.chance(p.hold)
        ? { kind: "partition", groups: nonEmpty, hold: true }
        : { kind: "partition", groups: nonEmpty };
    }
    case "cut": {
      const from = node();
      let to = node();
      if (to === from) to = (from % m.n) + 1;
      if (!m.split)
        m.recover.push({ at: step + 1 + rng.geometric(p.splitFor, 2000), action: { kind: "heal" } });
      return rng.chance(p.hold) ? { kind: "cut", from, to, hold: true } : { kind: "cut", from, to };
    }
    case "splitJoint": {
      if (m.split) return undefined;
      m.recover.push({ at: step + 1 + rng.geometric(p.splitFor, 2000), action: { kind: "heal" } });
      return { kind: "splitJoint", half: rng.pick(["incoming", "outgoing"] as const) };
    }
    case "staleReadEpisode": {
      if (m.split) return undefined;
      const isolate = step + 2 + rng.int(5);
      const read = isolate + 100 + rng.int(100);
      m.recover.push(
        { at: isolate, action: { kind: "isolateLeader", hold: true } },
        // The others elect a new leader (forced, in case no timeout expires in time).
        { at: isolate + 60, action: { kind: "campaign", node: node() } },
        { at: isolate + 80, action: { kind: "campaign", node: node() } },
        { at: isolate + 95, action: { kind: "campaign", node: node() } },
        { at: read - 10, action: { kind: "propose", node: node(), data: data() } },
        { at: read, action: { kind: "read", node: "isolated" } },
        { at: read + 5 + rng.int(45), action: { kind: "heal" } },
      );
      m.quietUntil = read + 50;
      return { kind: "read", node: "leader" };
    }
    case "slowFollowerEpisode": {
      // Node `id` has a slow disk; an entry reaches everyone; then the leader and `id` are cut off
      // together, and entries proposed at `id` reach only the two of them, while the others elect
      // a new leader. Healed, the new leader's appends replace entries `id` is still writing (with
      // asyncStorageWrites: without, a node writes one Ready at a time and the entries replaced are
      // not yet being written).
      if (m.split) return undefined;
      const id = node();
      const minority = 4 + rng.int(3);
      const plan: [number, Action][] = [
        [1, { kind: "propose", node: id, data: data() }],
        [2, { kind: "flush" }],
        [3, { kind: "flush" }],
        [minority, { kind: "isolateLeader", with: id }],
        [minority + 1, { kind: "propose", node: id, data: data() }],
        [minority + 2, { kind: "flush" }],
        [minority + 3, { kind: "propose", node: id, data: data() }],
        [minority + 4, { kind: "flush" }],
        [minority + 5, { kind: "flush" }],
      ];
      const other = (): NodeId => {
        const x = node();
        return x === id ? (x % m.n) + 1 : x;
      };
      plan.push(
        [minority + 60, { kind: "campaign", node: other() }],
        [minority + 80, { kind: "campaign", node: other() }],
        [minority + 95, { kind: "campaign", node: other() }],
        [minority + 110, { kind: "propose", node: node(), data: data() }],
      );
      const heal = minority + 130 + rng.int(100);
      plan.push(
        [heal, { kind: "heal" }],
        [heal + 20 + rng.int(100), { kind: "disk", node: id, slow: false }],
      );
      for (const [d, action] of plan) m.recover.push({ at: step + d, action });
      m.quietUntil = step + heal + 120;
      return { kind: "disk", node: id, slow: true };
    }
    case "staleSnapshotEpisode": {
      // Cut off (not paused: it may be the leader, and the others must make progress).
      if (m.split) return undefined;
      const id = node();
      const rest = ids(m.n).filter((x) => x !== id);
      const plan: [number, Action][] = [
        [1, { kind: "propose", node: rest[0]!, data: data() }],
        [2, { kind: "propose", node: rest[rest.length - 1]!, data: data() }],
      ];
      const heal = 30 + rng.int(40);
      plan.push(
        [heal - 2, { kind: "sync", node: 0 }],
        [heal - 1, { kind: "snapshot", node: "leader", keep: 0 }],
        [heal, { kind: "heal" }],
        [heal + 10 + rng.int(30), { kind: "propose", node: node(), data: data() }],
        [heal + 40 + rng.int(20), { kind: "propose", node: node(), data: data() }],
        [heal + 70 + rng.int(20), { kind: "sync", node: 0 }],
        [heal + 91 + rng.int(20), { kind: "snapshot", node: id, keep: 0 }],
        [heal + 120 + rng.int(60), { kind: "replay", pick: 0, snap: true, to: id }],
      );
      for (const [d, action] of plan) m.recover.push({ at: step + d, action });
      m.quietUntil = step + heal + 180;
      return { kind: "partition", groups: [[id], rest] };
    }
    case "replay":
      return { kind: "replay", pick: rng.geometric(3, 60), snap: false };
    case "replaySnap":
      return { kind: "replay", pick: rng.geometric(1, 8), snap: true };
    case "slowDisk": {
      const id = node();
      m.recover.push({
        at: step + 1 + rng.geometric(p.slowFor, 2000),
        action: { kind: "disk", node: id, slow: false },
      });
      return { kind: "disk", node: id, slow: true };
    }
    case "skew": {
      const id = node();
      m.recover.push({
        at: step + 1 + rng.geometric(p.splitFor, 2000),
        action: { kind: "skew", node: id, rate: 100 },
      });
      return { kind: "skew", node: id, rate: rng.pick([50, 70, 130, 200]) };
    }
  }
}

function drawConfChange(rng: Prng, n: number): ConfChangeSpec {
  const id = (): NodeId => 1 + rng.int(n);
  const r = rng.float();
  if (r < 0.12) {
    // Joint with a single change: demote or promote one node through a joint configuration.
    const op = rng.pick(["v", "l", "l", "r"] as const);
    return { mode: rng.chance(0.6) ? "joint-explicit" : "joint", ops: [{ op, node: id() }] };
  }
  if (r < 0.25) return { mode: "simple", ops: [{ op: "v", node: id() }] };
  if (r < 0.4) return { mode: "simple", ops: [{ op: "l", node: id() }] };
  if (r < 0.6) return { mode: "simple", ops: [{ op: "r", node: id() }] };
  if (r < 0.85) {
    const a = id();
    let b = id();
    if (b === a) b = (a % n) + 1;
    const op = (): ConfChangeOp["op"] => rng.pick(["v", "l", "r"] as const);
    return {
      mode: rng.chance(0.5) ? "joint" : "joint-explicit",
      ops: [
        { op: op(), node: a },
        { op: op(), node: b },
      ],
    };
  }
  return { mode: "leave", ops: [] };
}

function ids(n: number): NodeId[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
