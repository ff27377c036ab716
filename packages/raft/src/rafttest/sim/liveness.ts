/**
 * The liveness phase of a run (Raft paper §5.6: safety must not depend on timing, but availability
 * does). Every fault heals — paused nodes resume, crashed ones restart, links come back, clocks run
 * at the same rate, disks are fast — and nodes removed from the configuration are shut down, as an
 * operator would. Then, on a reliable network, a leader must be elected and a new proposal must
 * commit and apply on every member within a bounded number of ticks. The proposal is an empty entry
 * (the state machine sees an ApplyEntry of kind "empty", as for a new leader's), so the
 * application's state machine never receives a command it did not propose.
 *
 * Then probes of what must happen in bounded time on a healthy cluster, each followed by the same
 * convergence:
 * - CheckQuorum (when on): a leader cut off from every other node steps down within two election
 *   timeouts of its own clock (it checks its quorum once per election timeout);
 * - leadership transfer (Raft thesis §3.10): to a caught-up voter, and to a voter one entry behind,
 *   the target leads within an election timeout, and the entry the old leader had appended is kept;
 * - joint consensus: in a joint configuration whose leader is down, the other voters elect a leader
 *   (which needs a majority of each half: the voters of one half only must be asked too).
 */
import { ConfChangeTransition, ConfChangeType, type ConfChangeV2, EMPTY_BYTES } from "../../raftpb/types.js";
import { StateType } from "../../ready.js";
import { type ConfigModel, isVoterIn } from "./config-model.js";
import { InvariantViolation } from "./invariants.js";
import type { NodeHost } from "./node-host.js";
import type { Simulation } from "./simulation.js";

/** How the convergence loop runs. */
interface ConvergeOptions {
  /** Leave a joint configuration entered explicitly (as the application would). */
  readonly leaveJoint: boolean;
  /** Nodes kept down (not restarted although members). */
  readonly down: ReadonlySet<number>;
}

const NORMAL: ConvergeOptions = { leaveJoint: true, down: new Set() };

/**
 * The liveness phase of `sim` (see the module comment), as a loop that pauses (yields) once per
 * tick, where the caller settles the state machines; it returns the clock ticks it took.
 */
export function* livenessLoop(sim: Simulation): Generator<void, number> {
  const t = sim.transcript;
  t?.banner("liveness: every fault heals");
  sim.retiring = false;
  sim.guard(() => heal(sim));
  let ticks = yield* converge(sim, "after every fault healed", NORMAL);
  if (sim.options.checkQuorum) ticks += yield* probeCheckQuorum(sim);
  ticks += yield* probeTransfer(sim, false);
  ticks += yield* probeTransfer(sim, true);
  ticks += yield* probeJointElection(sim);
  return ticks;
}

/**
 * Runs the cluster until a leader committed a new proposal of its term and every member (but
 * `o.down`) applied it; throws a liveness violation naming `what` if that takes longer than
 * `sim.livenessTicks`. Returns the ticks it took.
 */
function* converge(sim: Simulation, what: string, o: ConvergeOptions): Generator<void, number> {
  const t = sim.transcript;
  let marker: { term: number; index: number } | undefined;
  for (let tick = 0; tick <= sim.livenessTicks; tick++) {
    t?.banner(`liveness tick ${tick}`);
    let done = false;
    sim.guard(() => {
      reconcileMembership(sim, o.down);
      // The application snapshots now and then: a node added after the latest snapshot refuses it
      // (it is not in its ConfState), and can only catch up from a newer one.
      if (tick % sim.options.electionTick === 0) for (const h of sim.hosts) h.snapshot(0);
      settle(sim);
      const l = sim.leader();
      if (l === undefined) return;
      const r = l.rn!.raft;
      const cfg = r.trk.config;
      if (
        o.leaveJoint &&
        cfg.voters.outgoing.size > 0 &&
        !cfg.autoLeave &&
        tick % sim.options.electionTick === 0
      ) {
        // A joint configuration entered with an explicit transition waits for the application.
        t?.note(`leader ${l.id} proposes to leave the joint configuration`);
        l.proposeConfChange({
          transition: ConfChangeTransition.ConfChangeTransitionAuto,
          changes: [],
          context: EMPTY_BYTES,
        });
      }
      if (marker === undefined || marker.term !== r.term) {
        const before = r.raftLog.lastIndex();
        // An empty entry: the state machine sees it as kind "empty", like a new leader's own.
        l.propose(EMPTY_BYTES);
        if (r.raftLog.lastIndex() > before) {
          marker = { term: r.term, index: r.raftLog.lastIndex() };
          t?.note(`leader ${l.id} proposed entry ${marker.index} in term ${marker.term}`);
        }
        settle(sim);
      }
      const now = sim.leader();
      done =
        now !== undefined &&
        marker !== undefined &&
        marker.term === now.rn!.raft.term &&
        converged(sim, now, marker.index, o.down);
    });
    yield;
    if (done) return tick;
    tickAll(sim);
  }
  throw violation(
    sim,
    `${what}, no leader committed a new proposal on every member within ${sim.livenessTicks} ticks ` +
      `(${marker === undefined ? "nothing proposed" : `proposed ${marker.index} in term ${marker.term}`}); ` +
      describeNodes(sim),
  );
}

/** One clock tick of every node (and the run's counter). */
function tickAll(sim: Simulation): void {
  sim.stats.ticks++;
  sim.guard(() => {
    for (const h of sim.hosts) h.tick();
  });
}

/** A liveness violation, stamped and recorded in the transcript. */
function violation(sim: Simulation, detail: string): InvariantViolation {
  const v = new InvariantViolation("liveness", detail);
  v.step = sim.steps;
  sim.transcript?.note(`VIOLATION ${v.message}`);
  return v;
}

/**
 * CheckQuorum: the leader, cut off from every other node, steps down within two election timeouts
 * (it checks once per election timeout whether a quorum was active since the last check; replies
 * received just before the cut count once more).
 */
function* probeCheckQuorum(sim: Simulation): Generator<void, number> {
  const l = sim.leader();
  if (l === undefined) return 0;
  const bound = 2 * sim.options.electionTick + 1;
  sim.stats.livenessProbes++;
  sim.transcript?.banner(
    `liveness probe: leader ${l.id} cut off, CheckQuorum must depose it within ${bound} ticks`,
  );
  for (const h of sim.hosts) {
    if (h.id === l.id) continue;
    sim.network.setCut(l.id, h.id, true);
    sim.network.setCut(h.id, l.id, true);
  }
  let tick = 0;
  for (; tick <= bound; tick++) {
    sim.guard(() => settle(sim));
    yield;
    if (l.rn?.raft.state !== StateType.StateLeader) break;
    tickAll(sim);
  }
  if (l.rn?.raft.state === StateType.StateLeader) {
    throw violation(
      sim,
      `leader ${l.id}, cut off from every other node with CheckQuorum on, still leads after ${bound} ticks ` +
        "(it must step down within two election timeouts)",
    );
  }
  sim.network.healAll();
  return tick + (yield* converge(sim, `after leader ${l.id} stepped down`, NORMAL));
}

/**
 * Leadership transfer on a healthy network: the target (the lowest voter other than the leader)
 * leads within an election timeout; with `lagging`, the leader first appends an entry the target
 * does not have yet, and that entry must be committed in the end.
 */
function* probeTransfer(sim: Simulation, lagging: boolean): Generator<void, number> {
  const l = sim.leader();
  if (l === undefined) return 0;
  const cfg = sim.checker.configOf(l.id);
  const target = [...cfg.voters].filter((id) => id !== l.id && sim.node(id).running).sort((a, b) => a - b)[0];
  if (target === undefined || cfg.outgoing.size > 0) return 0;
  const r = l.rn!.raft;
  const term = r.term;
  let appended: { index: number; term: number } | undefined;
  sim.guard(() => {
    if (lagging) {
      const before = r.raftLog.lastIndex();
      l.propose(EMPTY_BYTES);
      if (r.raftLog.lastIndex() > before) appended = { index: r.raftLog.lastIndex(), term };
    }
    l.transferLeader(target);
  });
  const what = `a leadership transfer from ${l.id} to ${lagging ? "lagging" : "caught-up"} voter ${target}`;
  sim.stats.livenessProbes++;
  sim.transcript?.banner(`liveness probe: ${what} must finish within an election timeout`);
  const bound = sim.options.electionTick;
  let tick = 0;
  let done = false;
  for (; tick <= bound; tick++) {
    sim.guard(() => settle(sim));
    yield;
    const now = sim.leader();
    done = now?.id === target && now.rn!.raft.term > term;
    if (done) break;
    tickAll(sim);
  }
  if (!done) {
    throw violation(
      sim,
      `${what} did not finish within ${bound} ticks on a healthy network; ${describeNodes(sim)}`,
    );
  }
  const ticks = tick + (yield* converge(sim, `after ${what}`, NORMAL));
  if (appended !== undefined && sim.checker.committedTerm[appended.index] !== appended.term) {
    const v = new InvariantViolation(
      "leader-transfer",
      `${what} lost entry ${appended.index} (term ${appended.term}), appended by the old leader before the transfer`,
    );
    v.step = sim.steps;
    sim.transcript?.note(`VIOLATION ${v.message}`);
    throw v;
  }
  return ticks;
}

/**
 * Joint consensus without the leader: the leader enters a joint configuration that demotes voters
 * (and, with three voters, promotes a non-voter) so that, the leader down, each half still has a
 * majority, but the voters of both halves alone are no majority of the outgoing one: a candidate
 * must ask the voters of each half. Then the leader stops; the others must elect a leader and
 * commit; then it comes back and the joint configuration is left.
 */
function* probeJointElection(sim: Simulation): Generator<void, number> {
  const l = sim.leader();
  if (l === undefined) return 0;
  const cfg = sim.checker.configOf(l.id);
  const change = jointChangeFor(sim, l.id, cfg);
  if (change === undefined) return 0;
  sim.transcript?.banner(
    `liveness probe: joint configuration ${change.describe}, then its leader ${l.id} stops: the others must elect a leader`,
  );
  sim.stats.livenessProbes++;
  sim.guard(() => l.proposeConfChange(change.cc));
  const hold: ConvergeOptions = { leaveJoint: false, down: new Set() };
  let ticks = yield* converge(
    sim,
    `after leader ${l.id} proposed the joint configuration ${change.describe}`,
    hold,
  );
  const now = sim.leader();
  if (now === undefined) return ticks;
  const joint = sim.checker.configOf(now.id);
  // Each half keeps a majority without the (possibly new) leader, or stopping it proves nothing.
  const without = (s: ReadonlySet<number>): boolean => (s.has(now.id) ? s.size - 1 : s.size) * 2 > s.size;
  if (joint.outgoing.size === 0 || !without(joint.voters) || !without(joint.outgoing)) return ticks;
  const down = new Set([now.id]);
  sim.guard(() => now.stop());
  ticks += yield* converge(
    sim,
    `in the joint configuration ${change.describe} with its leader ${now.id} stopped`,
    {
      leaveJoint: false,
      down,
    },
  );
  ticks += yield* converge(
    sim,
    `after leader ${now.id} came back and the joint configuration was left`,
    NORMAL,
  );
  return ticks;
}

/** A joint change for {@link probeJointElection}, or undefined if the configuration allows none. */
function jointChangeFor(
  sim: Simulation,
  leader: number,
  cfg: ConfigModel,
): { cc: ConfChangeV2; describe: string } | undefined {
  if (cfg.outgoing.size > 0) return undefined;
  const voters = [...cfg.voters].sort((a, b) => a - b);
  const others = voters.filter((id) => id !== leader);
  const spare = sim.hosts
    .map((h) => h.id)
    .filter((id) => !isVoterIn(cfg, id) && !sim.removedIds.has(id) && !sim.node(id).removed)[0];
  const keep = Math.floor(voters.length / 2) + 1;
  for (let demote = 1; demote <= voters.length - keep; demote++) {
    for (const add of spare === undefined ? [[]] : [[], [spare]]) {
      const d = others.slice(0, demote);
      const incoming = new Set([...voters.filter((id) => !d.includes(id)), ...add]);
      const outgoing = new Set(voters);
      const without = (s: ReadonlySet<number>, pred: (id: number) => boolean): boolean => {
        let n = 0;
        for (const id of s) if (id !== leader && pred(id)) n++;
        return n * 2 > s.size;
      };
      // The others elect a leader without the leader; the voters of both halves alone cannot.
      if (!without(incoming, () => true) || !without(outgoing, () => true)) continue;
      if (without(outgoing, (id) => incoming.has(id))) continue;
      const changes = [
        ...d.map((nodeId) => ({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId })),
        ...add.map((nodeId) => ({ type: ConfChangeType.ConfChangeAddNode, nodeId })),
      ];
      return {
        cc: {
          transition: ConfChangeTransition.ConfChangeTransitionJointExplicit,
          changes,
          context: EMPTY_BYTES,
        },
        describe: `(${[...incoming].sort((a, b) => a - b).join(" ")})&&(${voters.join(" ")})`,
      };
    }
  }
  return undefined;
}

/** Resumes paused nodes, restarts crashed ones, restores every link, clock rate and disk. */
function heal(sim: Simulation): void {
  sim.network.healAll();
  for (const h of sim.hosts) {
    h.setRate(100);
    h.slowDisk = false;
    if (h.up && h.paused) h.paused = false;
  }
  for (const h of sim.hosts) if (!h.up && !h.removed) h.start();
}

/**
 * Shuts down the nodes no running node counts as a member any more, and a leader that is no longer
 * a voter (without stepDownOnRemoval it would lead forever), and brings back nodes some running
 * node counts as a member (a node that has not applied a change yet may need their vote) — but the
 * nodes kept `down`.
 */
function reconcileMembership(sim: Simulation, down: ReadonlySet<number>): void {
  const members = new Set<number>();
  for (const h of sim.hosts) if (h.running) for (const id of membersOf(h)) members.add(id);
  if (members.size === 0) return;
  for (const h of sim.hosts) {
    if (members.has(h.id) && !h.up && !h.removed && !down.has(h.id)) h.start();
    else if (!members.has(h.id) && h.up) h.stop();
  }
  const l = sim.leader();
  if (l !== undefined && !l.rn!.raft.trk.config.voters.ids().has(l.id)) {
    sim.transcript?.note(`leader ${l.id} is no longer a voter: shutting it down`);
    l.stop();
  }
}

/** Every voter (both halves) and learner of `h`'s configuration. */
function membersOf(h: NodeHost): Set<number> {
  const cfg = h.rn!.raft.trk.config;
  return new Set([...cfg.voters.ids(), ...cfg.learners, ...cfg.learnersNext]);
}

/** Completes all storage work and delivers every message, until the cluster is quiet. */
function settle(sim: Simulation): void {
  for (let round = 0; round < 200; round++) {
    let work = false;
    for (const h of sim.hosts) {
      if (h.running && h.busy) {
        h.syncAndApplyAll();
        work = true;
      }
    }
    sim.settleReadies();
    const msgs = sim.network.takeAll();
    for (const m of msgs) sim.deliver(m);
    sim.checkLeaders();
    if (msgs.length === 0 && !work) return;
  }
}

/** Every member of the leader's configuration (but `down`) is running and applied all it committed. */
function converged(sim: Simulation, l: NodeHost, marker: number, down: ReadonlySet<number>): boolean {
  const commit = l.rn!.raft.raftLog.committed;
  if (commit < marker) return false;
  for (const id of membersOf(l)) {
    if (down.has(id)) continue;
    const h = sim.node(id);
    if (!h.running || h.busy || h.appliedIndex !== commit) return false;
  }
  return true;
}

function describeNodes(sim: Simulation): string {
  return sim.hosts
    .map((h) => {
      if (!h.up) return `${h.id}: down`;
      const r = h.rn!.raft;
      const role = ["follower", "candidate", "leader", "pre-candidate"][r.state];
      return (
        `${h.id}: ${role} term ${r.term} lead ${r.lead} commit ${r.raftLog.committed} ` +
        `applied ${h.appliedIndex} last ${r.raftLog.lastIndex()} config ${r.trk.config.toString()}`
      );
    })
    .join("; ");
}
