import { confChangeError } from "../errors.js";
import { MajorityConfig } from "../quorum/majority.js";
import { type ConfChangeSingle, ConfChangeType } from "../raftpb/types.js";
import { Inflights } from "../tracker/inflights.js";
import { Progress, ProgressMap } from "../tracker/progress.js";
import type { TrackerConfig } from "../tracker/tracker.js";

/** What a {@link Changer} reads from a ProgressTracker (which satisfies it). Never modified. */
export interface ChangerTracker {
  readonly config: TrackerConfig;
  readonly progress: ProgressMap;
  readonly maxInflight: number;
  readonly maxInflightBytes: number;
}

/** A new configuration and the progress map that goes with it, to install in the tracker together. */
export interface ConfChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

/**
 * Computes configuration changes, simple or by joint consensus (Raft thesis §4.1, §4.3), checking
 * them so that an invalid change is refused before it touches the active configuration.
 *
 * Every method works on copies and returns the resulting config and progress map; the tracker given
 * is never modified. The caller installs the result (`trk.config = r.config; trk.progress =
 * r.progress`) or throws it away. Failures throw a RaftError with code `ConfChangeInvalid` (etcd's texts); nothing has changed then.
 */
export class Changer {
  /** The tracker holding the configuration to change. */
  tracker: ChangerTracker;
  /** The leader's last log index: where new peers' Progress starts probing. */
  lastIndex: number;

  constructor(tracker: ChangerTracker, lastIndex: number) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
  }

  /**
   * Enters a joint configuration: the outgoing half becomes a copy of the incoming one, and `ccs`
   * are applied to the incoming half, giving C_{new,old} in the terms of the Raft thesis §4.3. With
   * `autoLeave`, the leader leaves the joint state by itself once it can. Fails if already joint or
   * if there are no voters yet (an empty config may grow by simple changes only).
   */
  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ConfChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (isJoint(config)) throw confChangeError("config is already joint");
    if (config.voters.incoming.size === 0) {
      // Adding to an empty config is allowed for convenience (bootstrap, tests), but not jointly.
      throw confChangeError("can't make a zero-voter config joint");
    }
    config.voters.outgoing = config.voters.incoming.clone();
    this.#apply(config, progress, ccs);
    config.autoLeave = autoLeave;
    return checked(config, progress);
  }

  /**
   * Leaves a joint configuration: the outgoing half is dropped, leaving the incoming one as the only
   * decision maker (C_new, Raft thesis §4.3); peers staged in learnersNext become learners, and
   * peers in neither the new voters nor the learners lose their Progress. Fails if not joint.
   */
  leaveJoint(): ConfChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (!isJoint(config)) throw confChangeError("can't leave a non-joint config");
    for (const id of sorted(config.learnersNext)) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext = new Set();
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing = new MajorityConfig();
    config.autoLeave = false;
    return checked(config, progress);
  }

  /**
   * Applies `ccs` without joint consensus. Allowed only if, taken together, they change the set of
   * voters by at most one (so any old majority overlaps any new one: Raft thesis §4.1), leave at
   * least one voter, and the configuration is not joint.
   */
  simple(ccs: readonly ConfChangeSingle[]): ConfChangeResult {
    const { config, progress } = this.#checkAndCopy();
    if (isJoint(config)) throw confChangeError("can't apply simple config change in joint config");
    this.#apply(config, progress, ccs);
    if (symdiff(this.tracker.config.voters.incoming, config.voters.incoming) > 1) {
      throw confChangeError("more than one voter changed without entering joint config");
    }
    return checked(config, progress);
  }

  /**
   * Applies each change to `config` and `progress` in order. Voter changes always go to the incoming
   * half; the outgoing half only remembers the old voters while joint.
   */
  #apply(config: TrackerConfig, progress: ProgressMap, ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      // etcd's server zeroes the node id of a change it decided not to apply: skip those.
      if (cc.nodeId === 0) continue;
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          this.#makeVoter(config, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeAddLearnerNode:
          this.#makeLearner(config, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeRemoveNode:
          remove(config, progress, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeUpdateNode:
          break;
        default:
          throw confChangeError(`unexpected conf type ${String(cc.type)}`);
      }
    }
    if (config.voters.incoming.size === 0) throw confChangeError("removed all voters");
  }

  /** Adds `id` as a voter of the incoming half, or promotes it (its Progress is kept). */
  #makeVoter(config: TrackerConfig, progress: ProgressMap, id: number): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.#initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  /**
   * Makes `id` a learner, or stages it to become one. A peer that still votes in the outgoing half
   * cannot be a learner at the same time, so a demoted voter waits in learnersNext until the joint
   * state is left; anyone else becomes a learner at once (keeping its Progress).
   */
  #makeLearner(config: TrackerConfig, progress: ProgressMap, id: number): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.#initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Drop it as a voter of the incoming half, but keep its Progress.
    remove(config, progress, id);
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  /** Adds a new peer, voter or learner, with a fresh Progress. */
  #initProgress(config: TrackerConfig, progress: ProgressMap, id: number, isLearner: boolean): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    progress.set(
      id,
      new Progress({
        // Starting at the last index lets the leader probe the peer with its last entry (etcd notes
        // that the first index would often be the better guess, as a new peer usually needs a
        // snapshot).
        match: 0,
        next: Math.max(this.lastIndex, 1), // keeps match < next
        inflights: new Inflights(this.tracker.maxInflight, this.tracker.maxInflightBytes),
        isLearner,
        // A new peer counts as active, so that CheckQuorum does not step the leader down before the
        // peer had a chance to answer.
        recentActive: true,
      }),
    );
  }

  /** Copies of the tracker's config and progress, after checking that they are consistent. */
  #checkAndCopy(): ConfChangeResult {
    const config = this.tracker.config.clone();
    const progress = new ProgressMap();
    for (const id of this.tracker.progress.sortedIds())
      progress.set(id, this.tracker.progress.get(id)!.clone());
    return checked(config, progress);
  }
}

/** Removes `id` as a voter of the incoming half and as a learner; its Progress goes unless it is an outgoing voter. */
function remove(config: TrackerConfig, progress: ProgressMap, id: number): void {
  if (!progress.has(id)) return;
  config.voters.incoming.delete(id);
  config.learners.delete(id);
  config.learnersNext.delete(id);
  if (!config.voters.outgoing.has(id)) progress.delete(id);
}

function isJoint(config: TrackerConfig): boolean {
  return config.voters.outgoing.size > 0;
}

function sorted(ids: Iterable<number>): number[] {
  return Array.from(ids).sort((a, b) => a - b);
}

/** The number of ids in exactly one of `l` and `r`. */
function symdiff(l: MajorityConfig, r: MajorityConfig): number {
  let n = 0;
  for (const id of l) if (!r.has(id)) n++;
  for (const id of r) if (!l.has(id)) n++;
  return n;
}

/** Returns its arguments if they are consistent with each other, else throws (etcd's checkInvariants). */
function checked(config: TrackerConfig, progress: ProgressMap): ConfChangeResult {
  // The empty config is allowed on purpose: bootstrap (and tests) build a config up from nothing.
  for (const ids of [config.voters.ids(), config.learners, config.learnersNext]) {
    for (const id of sorted(ids)) {
      if (!progress.has(id)) throw confChangeError(`no progress for ${id}`);
    }
  }
  // A learner is staged only because it still votes in the outgoing half.
  for (const id of sorted(config.learnersNext)) {
    if (!config.voters.outgoing.has(id)) {
      throw confChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    }
    if (progress.get(id)!.isLearner) {
      throw confChangeError(`${id} is in LearnersNext, but is already marked as learner`);
    }
  }
  // Learners and voters never overlap.
  for (const id of sorted(config.learners)) {
    if (config.voters.outgoing.has(id)) throw confChangeError(`${id} is in Learners and Voters[1]`);
    if (config.voters.incoming.has(id)) throw confChangeError(`${id} is in Learners and Voters[0]`);
    if (!progress.get(id)!.isLearner) {
      throw confChangeError(`${id} is in Learners, but is not marked as learner`);
    }
  }
  if (!isJoint(config)) {
    // etcd also insists that Voters[1] be nil rather than empty; here empty is the only form.
    if (config.learnersNext.size > 0) throw confChangeError("cfg.LearnersNext must be nil when not joint");
    if (config.autoLeave) throw confChangeError("AutoLeave must be false when not joint");
  }
  return { config, progress };
}
