/**
 * A follower's message handling (etcd's stepFollower), and the handlers of the leader's
 * replication messages that candidates share: appends, heartbeats and snapshots.
 */

import { None } from "./constants.js";
import { hup } from "./election.js";
import { errProposalDropped } from "./errors.js";
import { restoreSnapshot } from "./membership.js";
import type { Raft } from "./raft.js";
import { type Message, MessageType, newSnapshot } from "./raftpb/types.js";
import { ReadOnlyOption } from "./read-only.js";
import { appRespMsg, hex, message } from "./util.js";

/**
 * Handles `m` as a follower: the leader's appends, heartbeats and snapshots, and forwarding of
 * proposals, reads and transfer requests to the leader. Throws a "ProposalDropped" RaftError for a proposal
 * with no leader to forward it to (or forwarding disabled).
 */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === None) {
        r.logger.info(`${hex(r.id)} no leader at term ${r.term}; dropping proposal`);
        throw errProposalDropped();
      }
      if (r.disableProposalForwarding) {
        r.logger.info(
          `${hex(r.id)} not forwarding to leader ${hex(r.lead)} at term ${r.term}; dropping proposal`,
        );
        throw errProposalDropped();
      }
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgApp:
      r.acknowledgeLeader(m.from);
      handleAppendEntries(r, m);
      return;
    case MessageType.MsgHeartbeat:
      r.acknowledgeLeader(m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.MsgSnap:
      r.acknowledgeLeader(m.from);
      handleSnapshot(r, m);
      return;
    case MessageType.MsgTransferLeader:
      forwardToLeader(r, m, "leader transfer msg");
      return;
    case MessageType.MsgForgetLeader:
      // With lease-based reads, the leader serves reads on the assumption that no other leader
      // can be elected before its lease ends: forgetting it early would break that.
      if (r.readOnly.option === ReadOnlyOption.ReadOnlyLeaseBased) {
        r.logger.error("ignoring MsgForgetLeader due to ReadOnlyLeaseBased");
        return;
      }
      if (r.lead !== None) {
        r.logger.info(`${hex(r.id)} forgetting leader ${hex(r.lead)} at term ${r.term}`);
        r.forgetLeader();
      }
      return;
    case MessageType.MsgTimeoutNow:
      r.logger.info(
        `${hex(r.id)} [term ${r.term}] received MsgTimeoutNow from ${hex(m.from)} and starts an election to get leadership.`,
      );
      // A transfer never uses pre-vote: no partition to recover from, no extra round trip needed.
      hup(r, "CampaignTransfer");
      return;
    case MessageType.MsgReadIndex:
      forwardToLeader(r, m, "index reading msg");
      return;
    case MessageType.MsgReadIndexResp:
      if (m.entries.length !== 1) {
        r.logger.error(
          `${hex(r.id)} invalid format of MsgReadIndexResp from ${hex(m.from)}, entries count: ${m.entries.length}`,
        );
        return;
      }
      r.readStates.push({ index: m.index, requestCtx: m.entries[0]!.data });
      return;
  }
}

/** Forwards `m` to the leader, or drops it (saying so, naming it `what`) when there is none. */
function forwardToLeader(r: Raft, m: Message, what: string): void {
  if (r.lead === None) {
    r.logger.info(`${hex(r.id)} no leader at term ${r.term}; dropping ${what}`);
    return;
  }
  r.send({ ...m, to: r.lead });
}

/**
 * Appends the leader's entries if our log matches at (m.logTerm, m.index) (Raft paper §5.3), and
 * answers; a rejection carries a hint of where the logs may match, to skip a divergent tail.
 */
export function handleAppendEntries(r: Raft, m: Message): void {
  const log = r.raftLog;
  if (m.index < log.committed) {
    // Everything up to our commit index is known to match: tell the leader where we are.
    r.send(appRespMsg(m.from, log.committed));
    return;
  }
  const a = { term: m.term, prev: { term: m.logTerm, index: m.index }, entries: m.entries };
  const lastNew = log.maybeAppend(a, m.commit);
  if (lastNew !== undefined) {
    r.send(appRespMsg(m.from, lastNew));
    return;
  }
  if (r.debugOn()) {
    r.logger.debug(
      `${hex(r.id)} [logterm: ${log.zeroTermOnOutOfBounds(m.index)}, index: ${m.index}] rejected MsgApp ` +
        `[logterm: ${m.logTerm}, index: ${m.index}] from ${hex(m.from)}`,
    );
  }
  // Hint the largest (index, term) in our log with term ≤ m.logTerm and index ≤ m.index: every
  // entry of our tail past it has a higher term than the leader's at that point, so cannot match.
  // m.index ≥ committed here, and lastIndex ≥ committed, so the search starts inside the log.
  const hintIndex = Math.min(m.index, log.lastIndex());
  const [rejectHint, hintTerm] = log.findConflictByTerm(hintIndex, m.logTerm);
  r.send(
    message(MessageType.MsgAppResp, m.from, {
      index: m.index,
      reject: true,
      rejectHint,
      logTerm: hintTerm,
    }),
  );
}

/** A heartbeat carries a commit index that is safe for us (≤ our match on the leader). */
export function handleHeartbeat(r: Raft, m: Message): void {
  r.raftLog.commitTo(m.commit);
  r.send(message(MessageType.MsgHeartbeatResp, m.from, { context: m.context }));
}

/** Restores a snapshot from the leader and answers with our new last index (or our commit index). */
export function handleSnapshot(r: Raft, m: Message): void {
  // A MsgSnap always carries a snapshot; be safe and treat a missing one as empty.
  const s = m.snapshot ?? newSnapshot();
  const { index: sindex, term: sterm } = s.metadata;
  if (restoreSnapshot(r, s)) {
    r.logger.info(
      `${hex(r.id)} [commit: ${r.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`,
    );
    r.send(message(MessageType.MsgAppResp, m.from, { index: r.raftLog.lastIndex() }));
  } else {
    r.logger.info(
      `${hex(r.id)} [commit: ${r.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`,
    );
    r.send(message(MessageType.MsgAppResp, m.from, { index: r.raftLog.committed }));
  }
}
