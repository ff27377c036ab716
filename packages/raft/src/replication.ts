/**
 * The leader's side of log replication (Raft paper §5.3, §5.4.2): appending proposals to its own
 * log under the uncommitted-size quota, advancing the commit index, and the messages to followers —
 * appends sized by maxSizePerMsg and paced by each follower's Progress (probe, replicate with
 * Inflights, snapshot), snapshots when a follower needs compacted entries, and heartbeats.
 */
import { None } from "./constants.js";
import { isRaftError } from "./errors.js";
import { panic } from "./logger.js";
import type { Raft } from "./raft.js";
import { type Entry, MessageType, NO_ENTRIES, type Snapshot, zeroMessage } from "./raftpb/types.js";
import { isEmptySnap } from "./raftpb/util.js";
import { type Progress, ProgressState } from "./tracker/index.js";
import { appRespMsg, hex, message, payloadsSize } from "./util.js";

/** The errors RaftLog.term/entries throw for indexes outside the log. */
function isOutOfBounds(e: unknown): boolean {
  return isRaftError(e, "Compacted") || isRaftError(e, "Unavailable");
}

/** Sends an append (entries if any, and the commit index) to `to`. */
export function sendAppend(r: Raft, to: number): void {
  maybeSendAppend(r, to, true);
}

/**
 * Sends an append to `to` if its progress allows it. With `sendIfEmpty` false, nothing is sent
 * when there are no entries to send (empty appends only carry the commit index). Returns whether
 * a message was sent. Falls back to a snapshot when the entries were compacted away.
 */
export function maybeSendAppend(r: Raft, to: number, sendIfEmpty: boolean): boolean {
  const pr = r.trk.progress.get(to)!;
  if (pr.isPaused()) return false;

  const prevIndex = pr.next - 1;
  let prevTerm: number;
  try {
    prevTerm = r.raftLog.term(prevIndex);
  } catch (e) {
    if (!isOutOfBounds(e)) throw e;
    // The log was truncated at or after pr.next: only a snapshot can catch the follower up.
    return maybeSendSnapshot(r, to, pr);
  }

  let ents: Entry[] = NO_ENTRIES;
  // A throttled replicating follower only gets empty appends, so that a full Inflights whose
  // messages were all dropped cannot stall replication forever.
  if (pr.state !== ProgressState.StateReplicate || !pr.inflights.full()) {
    try {
      ents = r.raftLog.entries(pr.next, r.maxMsgSize);
    } catch (e) {
      if (!isOutOfBounds(e)) throw e;
      if (!sendIfEmpty) return false;
      return maybeSendSnapshot(r, to, pr);
    }
  }
  if (ents.length === 0 && !sendIfEmpty) return false;

  const commit = r.raftLog.committed;
  const m = zeroMessage(MessageType.MsgApp, to, None);
  m.logTerm = prevTerm;
  m.index = prevIndex;
  m.entries = ents;
  m.commit = commit;
  r.send(m);
  pr.sentEntries(ents.length, payloadsSize(ents));
  pr.sentCommit(commit);
  return true;
}

/** Sends the latest snapshot to `to` if it was recently active; returns whether it did. */
export function maybeSendSnapshot(r: Raft, to: number, pr: Progress): boolean {
  if (!pr.recentActive) {
    if (r.debugOn()) r.logger.debug(`ignore sending snapshot to ${hex(to)} since it is not recently active`);
    return false;
  }
  let snapshot: Snapshot;
  try {
    snapshot = r.raftLog.snapshot();
  } catch (e) {
    if (isRaftError(e, "SnapshotTemporarilyUnavailable")) {
      if (r.debugOn()) {
        r.logger.debug(
          `${hex(r.id)} failed to send snapshot to ${hex(to)} because snapshot is temporarily unavailable`,
        );
      }
      return false;
    }
    throw e;
  }
  if (isEmptySnap(snapshot)) panic(r.logger, "need non-empty snapshot");
  const { index: sindex, term: sterm } = snapshot.metadata;
  if (r.debugOn()) {
    r.logger.debug(
      `${hex(r.id)} [firstindex: ${r.raftLog.firstIndex()}, commit: ${r.raftLog.committed}] ` +
        `sent snapshot[index: ${sindex}, term: ${sterm}] to ${hex(to)} [${pr.toString()}]`,
    );
  }
  pr.becomeSnapshot(sindex);
  if (r.debugOn()) {
    r.logger.debug(`${hex(r.id)} paused sending replication messages to ${hex(to)} [${pr.toString()}]`);
  }
  r.send(message(MessageType.MsgSnap, to, { snapshot }));
  return true;
}

/** Sends a heartbeat to `to`, carrying `ctx` (a ReadIndex position) and a safe commit index. */
export function sendHeartbeat(r: Raft, to: number, ctx: Uint8Array): void {
  const pr = r.trk.progress.get(to)!;
  // The follower may not have the entries up to our commit index: never tell it to commit past
  // what it is known to hold.
  const commit = Math.min(pr.match, r.raftLog.committed);
  r.send(message(MessageType.MsgHeartbeat, to, { commit, context: ctx }));
  pr.sentCommit(commit);
}

/**
 * Advances the commit index to what a quorum holds, if that entry is of the current term (Raft
 * paper §5.4.2). Returns whether it moved; the caller then broadcasts. Leader only.
 */
export function maybeCommit(r: Raft): boolean {
  return r.raftLog.maybeCommit({ term: r.term, index: r.trk.committed() });
}

/**
 * Appends `es` to the leader's log at the current term, and queues the leader's own
 * acknowledgement for when they are durable. Returns false (appending nothing) if the
 * uncommitted-size quota refuses them.
 */
export function appendEntry(r: Raft, es: readonly Entry[]): boolean {
  const li = r.raftLog.lastIndex();
  const ents: Entry[] = new Array(es.length);
  for (let i = 0; i < es.length; i++) {
    const e = es[i]!;
    ents[i] = { term: r.term, index: li + 1 + i, type: e.type, data: e.data };
  }
  if (!increaseUncommittedSize(r, ents)) {
    r.logger.warn(
      `${hex(r.id)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
    );
    return false;
  }
  const last = r.raftLog.append(ents);
  // The leader sends itself no MsgApp: this acknowledgement, delivered once the entries are
  // durable, counts its own copy towards the quorum.
  r.send(appRespMsg(r.id, last));
  return true;
}

/**
 * Records `ents` in the uncommitted-size quota unless they would exceed it. An empty uncommitted
 * tail accepts any proposal, and empty payloads are always accepted.
 */
export function increaseUncommittedSize(r: Raft, ents: readonly Entry[]): boolean {
  const s = payloadsSize(ents);
  if (r.uncommittedSize > 0 && s > 0 && r.uncommittedSize + s > r.maxUncommittedSize) {
    return false;
  }
  r.uncommittedSize += s;
  return true;
}

/** Releases `s` payload bytes of newly committed entries from the quota (saturating at 0). */
export function reduceUncommittedSize(r: Raft, s: number): void {
  r.uncommittedSize = s > r.uncommittedSize ? 0 : r.uncommittedSize - s;
}

/** True if the entry at the commit index is of the current term (a leader may then serve reads). */
export function committedEntryInCurrentTerm(r: Raft): boolean {
  // A leader's term is never 0, so an out-of-bounds 0 never matches.
  return r.raftLog.zeroTermOnOutOfBounds(r.raftLog.committed) === r.term;
}
