import type { ConfState, Snapshot } from "../raftpb/types.js";

/** A deep copy of a ConfState. */
export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: [...cs.voters],
    learners: [...cs.learners],
    votersOutgoing: [...cs.votersOutgoing],
    learnersNext: [...cs.learnersNext],
    autoLeave: cs.autoLeave,
  };
}

/** A deep copy of a Snapshot, so that storage and the message that carried it share nothing. */
export function cloneSnapshot(s: Snapshot): Snapshot {
  return {
    data: s.data.slice(),
    metadata: {
      index: s.metadata.index,
      term: s.metadata.term,
      confState: cloneConfState(s.metadata.confState),
    },
  };
}
