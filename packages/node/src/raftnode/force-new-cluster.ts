/**
 * `forceNewCluster` (etcd's --force-new-cluster): disaster recovery when a cluster has lost its
 * quorum for good. On the data directory of a surviving member, before the node starts:
 *
 * 1. the membership at its commit index is rebuilt (the snapshot's, then the committed conf-change
 *    entries, validated as the apply loop validates them);
 * 2. the entries after the commit index are discarded (they may never have been committed: a
 *    leader could have answered their proposers Superseded), and ConfChangeRemoveNode entries for
 *    every other member are written in their place, at the node's current term, with a HardState
 *    committing them: one fsynced WAL write, so the change is durable before anything else happens;
 * 3. the node then starts as usual: applying those entries leaves itself the only voter, and it
 *    elects itself. A restart later, with or without the option, finds the same log.
 *
 * Every committed entry it has is kept. Writes acknowledged by the cluster but not yet known
 * committed here are lost, so force the member with the highest commit index (the last leader's,
 * if it survived: it committed every acknowledged write). The other members are added back as new
 * ones (`addMember`, then `join` with an empty data directory); removed ids are not reused.
 */

import { join } from "node:path";
import {
  ConfChangeType,
  decodeConfChange,
  type Entry,
  EntryType,
  encodeConfChange,
  type HardState,
} from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import { type FileSystem, nodeFileSystem } from "../file-system.js";
import { WAL } from "../wal/wal.js";
import { memberChange } from "./applier.js";
import { RaftNodeError } from "./errors.js";
import { Membership } from "./membership.js";
import { decodeSnapshotMetadata } from "./metadata.js";
import type { NodeStorage } from "./node-storage.js";
import { decodeConfChangeContext, encodeConfChangeContext } from "./proposal.js";

/**
 * True if `dataDir` holds a node's log (a WAL): what forceNewCluster needs. A tool checks it before
 * opening anything else in the directory.
 */
export function dataDirHasLog(dataDir: string, fs: FileSystem = nodeFileSystem): Promise<boolean> {
  return WAL.exists(join(dataDir, "wal"), fs);
}

/** Rewrites `disk`'s log as the file comment says; returns the ids removed (none: already alone). */
export async function forceNewCluster(disk: NodeStorage, id: number, log: Logger): Promise<number[]> {
  if (!disk.restarted) {
    throw new RaftNodeError(
      "InvalidArgument",
      "raftnode: forceNewCluster needs the data directory of a surviving member; this one holds no log",
    );
  }
  const mem = disk.memory;
  const snap = disk.snapshot;
  const hs = disk.hardState;
  const snapIndex = snap?.metadata.index ?? 0;
  const commit = Math.max(hs.commit, snapIndex);
  const membership = new Membership();
  if (snap !== undefined) {
    const meta = decodeSnapshotMetadata(snap.data);
    membership.restore(meta.members, meta.removed);
  }
  const committed = commit > snapIndex ? mem.entries(snapIndex + 1, commit + 1, Number.MAX_SAFE_INTEGER) : [];
  for (const e of committed) {
    if (e.type !== EntryType.EntryConfChange) continue;
    const cc = decodeConfChange(e.data);
    const change = memberChange(cc, decodeConfChangeContext(cc.context));
    if (change !== undefined && membership.check(change) === undefined) membership.apply(change);
  }
  const me = membership.get(id);
  if (me === undefined || me.learner) {
    throw new RaftNodeError(
      "InvalidArgument",
      `raftnode: forceNewCluster: member ${id} is ${me === undefined ? "not a member" : "a learner"} at its commit index ${commit}; force a voter`,
    );
  }
  const others = membership
    .list()
    .map((m) => m.id)
    .filter((x) => x !== id);
  const discarded = mem.lastIndex() - commit;
  if (others.length === 0) {
    log.info({ commit }, "forceNewCluster: already the only member; nothing to rewrite");
    return [];
  }
  const term = Math.max(hs.term, mem.term(commit));
  const entries: Entry[] = others.map((other, i) => ({
    term,
    index: commit + 1 + i,
    type: EntryType.EntryConfChange,
    data: encodeConfChange({
      id: 0,
      type: ConfChangeType.ConfChangeRemoveNode,
      nodeId: other,
      context: encodeConfChangeContext({}),
    }),
  }));
  const next: HardState = { term, vote: term === hs.term ? hs.vote : 0, commit: commit + entries.length };
  await disk.rewriteTail(next, entries);
  log.warn(
    { commit, discardedUncommitted: discarded, removed: others, term },
    "forceNewCluster: the membership is rewritten to this member alone (durably, in the WAL)",
  );
  return others;
}
