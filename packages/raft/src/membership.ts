/**
 * Membership: applying configuration changes (Raft thesis §4), switching the tracker to a new
 * configuration and reacting to it, restoring a follower from a leader's snapshot (log and
 * configuration at once), and the applied-index bookkeeping that triggers the automatic leave of a
 * joint configuration.
 */
import { Changer, restore as restoreConfig } from "./confchange/index.js";
import { None } from "./constants.js";
import { describeConfState } from "./describe.js";
import { isRaftError } from "./errors.js";
import { panic } from "./logger.js";
import type { Raft } from "./raft.js";
import { enterJoint, leaveJoint } from "./raftpb/confchange.js";
import type { ConfChangeV2, ConfState, Snapshot } from "./raftpb/types.js";
import { confStateEquivalent } from "./raftpb/util.js";
import { StateType } from "./ready.js";
import { maybeCommit, maybeSendAppend } from "./replication.js";
import { type ProgressMap, ProgressTracker, type TrackerConfig } from "./tracker/index.js";
import type { EntryID } from "./types.js";
import { confChangeToMsg, hex } from "./util.js";

/**
 * Restores the log and the configuration from a snapshot sent by the leader. Returns false if the
 * snapshot was ignored: obsolete, not naming this node, or already matching our log (then only
 * the commit index moves).
 */
export function restoreSnapshot(r: Raft, s: Snapshot): boolean {
  const meta = s.metadata;
  if (meta.index <= r.raftLog.committed) return false;
  if (r.state !== StateType.StateFollower) {
    // Defense in depth: a leader must never apply a snapshot. Moving to a new term as a
    // follower prevents damage.
    r.logger.warn(`${hex(r.id)} attempted to restore snapshot as leader; should never happen`);
    r.becomeFollower(r.term + 1, None);
    return false;
  }
  // More defense in depth: much code assumes this node is in its own configuration.
  // (LearnersNext need not be checked: such a node is in VotersOutgoing.)
  const cs = meta.confState;
  if (!cs.voters.includes(r.id) && !cs.learners.includes(r.id) && !cs.votersOutgoing.includes(r.id)) {
    r.logger.warn(
      `${hex(r.id)} attempted to restore snapshot but it is not in the ConfState ${describeConfState(cs)}; should never happen`,
    );
    return false;
  }

  const id: EntryID = { term: meta.term, index: meta.index };
  if (r.raftLog.matchTerm(id)) {
    const last = r.raftLog.lastEntryID();
    r.logger.info(
      `${hex(r.id)} [commit: ${r.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] ` +
        `fast-forwarded commit to snapshot [index: ${id.index}, term: ${id.term}]`,
    );
    r.raftLog.commitTo(meta.index);
    return false;
  }

  r.raftLog.restore(s);

  // Rebuild the configuration from scratch with the snapshot's peers.
  r.trk = new ProgressTracker(r.trk.maxInflight, r.trk.maxInflightBytes);
  let restored: { config: TrackerConfig; progress: ProgressMap };
  try {
    restored = restoreConfig(new Changer(r.trk, r.raftLog.lastIndex()), cs);
  } catch (e) {
    // A bug in conf change handling, or a corrupted snapshot.
    panic(r.logger, `unable to restore config ${describeConfState(cs)}: ${(e as Error).message}`);
  }
  assertConfStatesEquivalent(r, cs, switchToConfig(r, restored.config, restored.progress));

  const last = r.raftLog.lastEntryID();
  r.logger.info(
    `${hex(r.id)} [commit: ${r.raftLog.committed}, lastindex: ${last.index}, lastterm: ${last.term}] ` +
      `restored snapshot [index: ${id.index}, term: ${id.term}]`,
  );
  return true;
}

/** Applies a committed conf change to the tracker and returns the new ConfState. */
export function applyConfChange(r: Raft, cc: ConfChangeV2): ConfState {
  const changer = new Changer(r.trk, r.raftLog.lastIndex());
  let res: { config: TrackerConfig; progress: ProgressMap };
  if (leaveJoint(cc)) {
    res = changer.leaveJoint();
  } else {
    const { autoLeave, ok } = enterJoint(cc);
    res = ok ? changer.enterJoint(autoLeave, cc.changes) : changer.simple(cc.changes);
  }
  return switchToConfig(r, res.config, res.progress);
}

/**
 * Makes `cfg`/`progress` the active configuration and reacts: a removed or demoted leader steps
 * down (with stepDownOnRemoval); a leader commits what the new quorum allows, probes new peers,
 * and abandons a transfer to a node that is no longer a voter.
 */
export function switchToConfig(r: Raft, cfg: TrackerConfig, progress: ProgressMap): ConfState {
  r.trk.config = cfg;
  r.trk.progress = progress;

  r.logger.info(`${hex(r.id)} switched to configuration ${r.trk.config.toString()}`);
  const cs = r.trk.confState();
  const pr = r.trk.progress.get(r.id);
  r.isLearner = pr?.isLearner === true;

  if ((pr === undefined || r.isLearner) && r.state === StateType.StateLeader) {
    if (r.stepDownOnRemoval) r.becomeFollower(r.term, None);
    return cs;
  }

  // The rest only concerns a leader with peers.
  if (r.state !== StateType.StateLeader || cs.voters.length === 0) return cs;

  if (maybeCommit(r)) {
    // The new quorum commits more: tell everyone.
    r.bcastAppend();
  } else {
    // Probe newly added peers now rather than at the next heartbeat or proposal.
    r.trk.visit((id) => {
      if (id !== r.id) maybeSendAppend(r, id, false);
    });
  }
  if (r.leadTransferee !== None && !r.trk.config.voters.ids().has(r.leadTransferee)) {
    r.abortLeaderTransfer();
  }
  return cs;
}

/** Panics unless `a` and `b` describe the same configuration (a restored config must round-trip). */
export function assertConfStatesEquivalent(r: Raft, a: ConfState, b: ConfState): void {
  const err = confStateEquivalent(a, b);
  if (err !== undefined) panic(r.logger, err.message);
}

/**
 * Records that entries up to `index` were applied (`size` bytes of them were in flight). A leader
 * in a joint configuration with auto-leave proposes leaving it once the entering change applied.
 */
export function appliedTo(r: Raft, index: number, size: number): void {
  const newApplied = Math.max(index, r.raftLog.applied);
  r.raftLog.appliedTo(newApplied, size);

  if (r.trk.config.autoLeave && newApplied >= r.pendingConfIndex && r.state === StateType.StateLeader) {
    // An empty ConfChangeV2 leaves the joint configuration; its empty data can never be refused
    // for size. It can still be dropped during a leadership transfer: we retry on every apply.
    const m = confChangeToMsg(undefined);
    try {
      r.step(m);
      r.logger.info(`initiating automatic transition out of joint configuration ${r.trk.config.toString()}`);
    } catch (e) {
      if (!isRaftError(e)) throw e;
      if (r.debugOn()) {
        r.logger.debug(
          `not initiating automatic transition out of joint configuration ${r.trk.config.toString()}: ${e.message}`,
        );
      }
    }
  }
}

/** Records that the snapshot `snap` is durable and applied. */
export function appliedSnap(r: Raft, snap: Snapshot): void {
  const index = snap.metadata.index;
  r.raftLog.stableSnapTo(index);
  appliedTo(r, index, 0);
}
