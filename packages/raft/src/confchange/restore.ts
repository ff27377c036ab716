import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../raftpb/types.js";
import { ProgressMap } from "../tracker/progress.js";
import { Changer, type ConfChangeResult } from "./confchange.js";

/**
 * The changes that rebuild `cs` from an empty configuration: `outgoing` builds, one voter at a time,
 * the configuration that will become the outgoing half; `incoming`, applied on entering the joint
 * state, turns that into `cs`.
 *
 * For voters=(1 2 3) learners=(5) outgoing=(1 2 4 6) learners_next=(4):
 *   outgoing: add 1, add 2, add 4, add 6                          → (1 2 4 6)
 *   incoming: remove 1 2 4 6; add 1 2 3; learner 5; learner 4     → (1 2 3)&&(1 2 4 6) learners=(5)
 *                                                                   learners_next=(4)
 * Whether 5 was a learner before the joint state cannot be told, and does not matter.
 */
function toConfChangeSingle(cs: ConfState): { outgoing: ConfChangeSingle[]; incoming: ConfChangeSingle[] } {
  const change = (type: ConfChangeType, nodeId: number): ConfChangeSingle => ({ type, nodeId });
  const outgoing = cs.votersOutgoing.map((id) => change(ConfChangeType.ConfChangeAddNode, id));
  const incoming = [
    ...cs.votersOutgoing.map((id) => change(ConfChangeType.ConfChangeRemoveNode, id)),
    ...cs.voters.map((id) => change(ConfChangeType.ConfChangeAddNode, id)),
    ...cs.learners.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
    // Learners to be, still voting in the outgoing half: they land in learnersNext.
    ...cs.learnersNext.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
  ];
  return { outgoing, incoming };
}

/**
 * Builds the configuration `cs` describes, starting from `changer`'s tracker, which must hold the
 * empty configuration (a fresh ProgressTracker): used when a node starts from a snapshot or from its
 * persisted ConfState. Returns the config and progress map to install; throws a "ConfChangeInvalid" RaftError if
 * `cs` is not a valid configuration. `changer` and its tracker are not modified.
 */
export function restore(changer: Changer, cs: ConfState): ConfChangeResult {
  const { outgoing, incoming } = toConfChangeSingle(cs);
  const { maxInflight, maxInflightBytes } = changer.tracker;
  let state: ConfChangeResult = {
    config: changer.tracker.config.clone(),
    progress: cloneProgress(changer.tracker.progress),
  };
  const step = (op: (c: Changer) => ConfChangeResult): void => {
    state = op(new Changer({ ...state, maxInflight, maxInflightBytes }, changer.lastIndex));
  };
  if (outgoing.length === 0) {
    // Not joint: add the voters and learners one at a time.
    for (const cc of incoming) step((c) => c.simple([cc]));
  } else {
    // Joint: first build the outgoing config as if it were the only one (for (1 2 3)&&(2 3 4) this
    // gives (2 3 4)), then enter the joint state, which rotates it into the outgoing half while the
    // incoming changes build (1 2 3).
    for (const cc of outgoing) step((c) => c.simple([cc]));
    step((c) => c.enterJoint(cs.autoLeave, incoming));
  }
  return state;
}

function cloneProgress(m: ProgressMap): ProgressMap {
  const out = new ProgressMap();
  for (const id of m.sortedIds()) out.set(id, m.get(id)!.clone());
  return out;
}
