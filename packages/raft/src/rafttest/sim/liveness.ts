/**
 * The liveness phase of a run (Raft paper §5.6: safety must not depend on timing, but availability
 * does): every fault heals — paused nodes resume, crashed ones restart, links come back, clocks run
 * at the same rate — and nodes removed from the configuration are shut down, as an operator would.
 * Then, on a reliable network, a leader must be elected and a new proposal must commit and apply on
 * every member within a bounded number of ticks. The proposal is an empty entry (the state machine
 * sees an ApplyEntry of kind "empty", as for a new leader's), so the application's state machine
 * never receives a command it did not propose.
 */
import { ConfChangeTransition, EMPTY_BYTES } from "../../raftpb/types.js";
import { InvariantViolation } from "./invariants.js";
import type { NodeHost } from "./node-host.js";
import type { Simulation } from "./simulation.js";

/**
 * The liveness phase of `sim` (see the module comment), as a loop that pauses (yields) once per
 * tick, where the caller settles the state machines; it returns the clock ticks it took.
 */
export function* livenessLoop(sim: Simulation): Generator<void, number> {
  const t = sim.transcript;
  t?.banner("liveness: every fault heals");
  sim.retiring = false;
  sim.guard(() => heal(sim));
  let marker: { term: number; index: number } | undefined;
  for (let tick = 0; tick <= sim.livenessTicks; tick++) {
    t?.banner(`liveness tick ${tick}`);
    let done = false;
    sim.guard(() => {
      reconcileMembership(sim);
      // The application snapshots now and then: a node added after the latest snapshot refuses it
      // (it is not in its ConfState), and can only catch up from a newer one.
      if (tick % sim.options.electionTick === 0) for (const h of sim.hosts) h.snapshot(0);
      settle(sim);
      const l = sim.leader();
      if (l === undefined) return;
      const r = l.rn!.raft;
      const cfg = r.trk.config;
      if (cfg.voters.outgoing.size > 0 && !cfg.autoLeave && tick % sim.options.electionTick === 0) {
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
        converged(sim, now, marker.index);
    });
    yield;
    if (done) return tick;
    sim.stats.ticks++;
    sim.guard(() => {
      for (const h of sim.hosts) h.tick();
    });
  }
  const v = new InvariantViolation(
    "liveness",
    `after every fault healed, no leader committed a new proposal on every member within ` +
      `${sim.livenessTicks} ticks (${marker === undefined ? "nothing proposed" : `proposed ${marker.index} in term ${marker.term}`}); ` +
      describeNodes(sim),
  );
  v.step = sim.steps;
  sim.transcript?.note(`VIOLATION ${v.message}`);
  throw v;
}

/** Resumes paused nodes, restarts crashed ones, restores every link and clock rate. */
function heal(sim: Simulation): void {
  sim.network.healAll();
  for (const h of sim.hosts) {
    h.setRate(100);
    if (h.up && h.paused) h.paused = false;
  }
  for (const h of sim.hosts) if (!h.up && !h.removed) h.start();
}

/**
 * Shuts down the nodes no running node counts as a member any more, and a leader that is no longer
 * a voter (without stepDownOnRemoval it would lead forever), and brings back nodes some running
 * node counts as a member (a node that has not applied a change yet may need their vote).
 */
function reconcileMembership(sim: Simulation): void {
  const members = new Set<number>();
  for (const h of sim.hosts) if (h.running) for (const id of membersOf(h)) members.add(id);
  if (members.size === 0) return;
  for (const h of sim.hosts) {
    if (members.has(h.id) && !h.up && !h.removed) h.start();
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

/** Every member of the leader's configuration is running and applied all the leader committed. */
function converged(sim: Simulation, l: NodeHost, marker: number): boolean {
  const commit = l.rn!.raft.raftLog.committed;
  if (commit < marker) return false;
  for (const id of membersOf(l)) {
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
