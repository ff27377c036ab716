/**
 * Bootstrapping a new cluster: writing the initial membership into an empty log (etcd's
 * RawNode.Bootstrap).
 */

import { None } from "./constants.js";
import { applyConfChange } from "./membership.js";
import type { Raft } from "./raft.js";
import { asV2 } from "./raftpb/confchange.js";
import { encodeConfChange } from "./raftpb/encode.js";
import { ConfChangeType, EMPTY_BYTES, type Entry, EntryType } from "./raftpb/types.js";

/** A member of the initial configuration. `context` is stored in its ConfChange entry. */
export interface Peer {
  id: number;
  context?: Uint8Array;
}

/**
 * Fakes the log of a new cluster: one committed ConfChangeAddNode entry per peer at term 1, and
 * applies them to the configuration right away (so the node can campaign at once). The entries are
 * still handed out for persisting and applying in the next Ready, where the application calls
 * applyConfChange on them again (a no-op). Throws if `peers` is empty or storage is not empty.
 */
export function bootstrap(r: Raft, peers: readonly Peer[]): void {
  if (peers.length === 0) throw new Error("must provide at least one peer to Bootstrap");
  if (r.raftLog.storage.lastIndex() !== 0) throw new Error("can't bootstrap a nonempty Storage");

  r.becomeFollower(1, None);
  const ents: Entry[] = peers.map((p, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.EntryConfChange,
    data: encodeConfChange({
      id: 0,
      type: ConfChangeType.ConfChangeAddNode,
      nodeId: p.id,
      context: p.context ?? EMPTY_BYTES,
    }),
  }));
  r.raftLog.append(ents);

  // Commit them (they are not applied: the application sees them in committedEntries), then add
  // the peers, after the append so that their progress starts past these entries.
  r.raftLog.committed = ents.length;
  for (const p of peers) {
    applyConfChange(
      r,
      asV2({ id: 0, type: ConfChangeType.ConfChangeAddNode, nodeId: p.id, context: EMPTY_BYTES }),
    );
  }
}
