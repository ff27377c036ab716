/**
 * The leader's message handling (etcd's stepLeader): heartbeats and quorum checks, proposals
 * (with the conf change rules), ReadIndex, replication feedback (MsgAppResp, MsgHeartbeatResp,
 * MsgSnapStatus, MsgUnreachable) and leadership transfer.
 */

import { None } from "./constants.js";
import { describeConfChange } from "./describe.js";
import { errProposalDropped } from "./errors.js";
import { panic } from "./logger.js";
import type { Raft } from "./raft.js";
import { asV2, type ConfChangeI } from "./raftpb/confchange.js";
import { decodeConfChange, decodeConfChangeV2 } from "./raftpb/decode.js";
import { EMPTY_BYTES, type Entry, EntryType, type Message, MessageType } from "./raftpb/types.js";
import { ReadOnlyOption } from "./read-only.js";
import {
  appendEntry,
  committedEntryInCurrentTerm,
  maybeCommit,
  maybeSendAppend,
  sendAppend,
} from "./replication.js";
import { type Progress, ProgressState as PrState } from "./tracker/index.js";
import { hex, message } from "./util.js";

/**
 * Handles `m` as the leader. Throws a "ProposalDropped" RaftError for a proposal it cannot take (not in the
 * configuration, transfer in progress, uncommitted-size quota).
 */
export function stepLeader(r: Raft, m: Message): void {
  // These message types need no progress for m.from.
  switch (m.type) {
    case MessageType.MsgBeat:
      r.bcastHeartbeat();
      return;
    case MessageType.MsgCheckQuorum:
      if (!r.trk.quorumActive()) {
        r.logger.warn(`${hex(r.id)} stepped down to follower since quorum is not active`);
        r.becomeFollower(r.term, None);
      }
      // Everyone but ourselves must prove itself active again before the next check.
      r.trk.visit((id, pr) => {
        if (id !== r.id) pr.recentActive = false;
      });
      return;
    case MessageType.MsgProp:
      stepProposal(r, m);
      return;
    case MessageType.MsgReadIndex:
      stepReadIndex(r, m);
      return;
    case MessageType.MsgForgetLeader:
      return; // a leader has no leader to forget
  }

  // All other types need the progress of m.from.
  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) {
    if (r.debugOn()) r.logger.debug(`${hex(r.id)} no progress available for ${hex(m.from)}`);
    return;
  }
  switch (m.type) {
    case MessageType.MsgAppResp:
      handleAppendResponse(r, m, pr);
      return;
    case MessageType.MsgHeartbeatResp:
      handleHeartbeatResponse(r, m, pr);
      return;
    case MessageType.MsgSnapStatus:
      if (pr.state !== PrState.StateSnapshot) return;
      if (!m.reject) {
        pr.becomeProbe();
        if (r.debugOn()) {
          r.logger.debug(
            `${hex(r.id)} snapshot succeeded, resumed sending replication messages to ${hex(m.from)} [${pr.toString()}]`,
          );
        }
      } else {
        // Forget the pending snapshot first, or we would probe from an index never applied.
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
        if (r.debugOn()) {
          r.logger.debug(
            `${hex(r.id)} snapshot failed, resumed sending replication messages to ${hex(m.from)} [${pr.toString()}]`,
          );
        }
      }
      // After a success, wait for the follower's MsgAppResp before the next MsgApp; after a
      // failure, for a heartbeat interval before trying again.
      pr.msgAppFlowPaused = true;
      return;
    case MessageType.MsgUnreachable:
      // An optimistic MsgApp to an unreachable peer was probably lost: go back to probing.
      if (pr.state === PrState.StateReplicate) pr.becomeProbe();
      if (r.debugOn()) {
        r.logger.debug(
          `${hex(r.id)} failed to send message to ${hex(m.from)} because it is unreachable [${pr.toString()}]`,
        );
      }
      return;
    case MessageType.MsgTransferLeader:
      handleTransferLeader(r, m, pr);
      return;
  }
}

/**
 * A proposal: refused while this node is not in the configuration or a transfer runs; conf
 * changes that break the one-at-a-time or joint-state rules are replaced by empty entries.
 */
function stepProposal(r: Raft, m: Message): void {
  if (m.entries.length === 0) panic(r.logger, `${hex(r.id)} stepped empty MsgProp`);
  // A leader removed from the configuration accepts no new proposals.
  if (!r.trk.progress.has(r.id)) throw errProposalDropped();
  if (r.leadTransferee !== None) {
    if (r.debugOn()) {
      r.logger.debug(
        `${hex(r.id)} [term ${r.term}] transfer leadership to ${hex(r.leadTransferee)} is in progress; dropping proposal`,
      );
    }
    throw errProposalDropped();
  }

  let ents: Entry[] = m.entries;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    let cc: ConfChangeI | undefined;
    if (e.type === EntryType.EntryConfChange) cc = decodeConfChange(e.data);
    else if (e.type === EntryType.EntryConfChangeV2) cc = decodeConfChangeV2(e.data);
    if (cc === undefined) continue;

    const alreadyPending = r.pendingConfIndex > r.raftLog.applied;
    const alreadyJoint = r.trk.config.voters.outgoing.size > 0;
    const wantsLeaveJoint = asV2(cc).changes.length === 0;

    let failedCheck = "";
    if (alreadyPending) {
      failedCheck = `possible unapplied conf change at index ${r.pendingConfIndex} (applied to ${r.raftLog.applied})`;
    } else if (alreadyJoint && !wantsLeaveJoint) {
      failedCheck = "must transition out of joint config first";
    } else if (!alreadyJoint && wantsLeaveJoint) {
      failedCheck = "not in joint state; refusing empty conf change";
    }

    if (failedCheck !== "" && !r.disableConfChangeValidation) {
      r.logger.info(
        `${hex(r.id)} ignoring conf change ${describeConfChange(cc)} at config ${r.trk.config.toString()}: ${failedCheck}`,
      );
      // Replace the refused change by an empty entry (on a copy: the caller's message is not ours).
      if (ents === m.entries) ents = ents.slice();
      ents[i] = { term: 0, index: 0, type: EntryType.EntryNormal, data: EMPTY_BYTES };
    } else {
      r.pendingConfIndex = r.raftLog.lastIndex() + i + 1;
    }
  }

  if (!appendEntry(r, ents)) throw errProposalDropped();
  r.bcastAppend();
}

/** A ReadIndex request (Raft thesis §6.4). */
function stepReadIndex(r: Raft, m: Message): void {
  // Until it commits an entry of its term, a new leader does not know the commit index of the
  // cluster: postpone. Deviation from etcd: etcd answers a single voter at once, before this check.
  // But the commit index is not synced to disk, so a single voter restarting may come back with
  // a commit index below one it committed, and served reads at, before the crash: answering at
  // once can go back in time (the simulator in rafttest/sim found such a stale read).
  if (!committedEntryInCurrentTerm(r)) {
    r.pendingReadIndexMessages.push(m);
    return;
  }
  sendMsgReadIndexResponse(r, m);
}

/** Answers or queues a ReadIndex request, depending on the read-only option. */
export function sendMsgReadIndexResponse(r: Raft, m: Message): void {
  // The leader is the only voter: its commit index is already safe to read at.
  if (r.trk.isSingleton()) {
    const resp = responseToReadIndexReq(r, m, r.raftLog.committed);
    if (resp !== undefined) r.send(resp);
    return;
  }
  switch (r.readOnly.option) {
    case ReadOnlyOption.ReadOnlySafe:
      // Confirm leadership with a heartbeat round; we ack our own heartbeat.
      r.readOnly.addRequest(r.raftLog.committed, m);
      r.readOnly.recvAck(r.id, r.readOnly.heartbeatCtx());
      r.bcastHeartbeat();
      return;
    case ReadOnlyOption.ReadOnlyLeaseBased: {
      const resp = responseToReadIndexReq(r, m, r.raftLog.committed);
      if (resp !== undefined) r.send(resp);
      return;
    }
  }
}

/** Answers the reads postponed until this leader committed an entry of its term. */
export function releasePendingReadIndexMessages(r: Raft): void {
  // The common case, without the term lookup of committedEntryInCurrentTerm.
  if (r.pendingReadIndexMessages.length === 0) return;
  if (!committedEntryInCurrentTerm(r)) {
    r.logger.error("pending MsgReadIndex should be released only after first commit in current term");
    return;
  }
  const msgs = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of msgs) sendMsgReadIndexResponse(r, m);
}

/**
 * The answer to read request `req` at `readIndex`: a local request becomes a ReadState (and
 * undefined is returned); a forwarded one gets a MsgReadIndexResp to send.
 */
export function responseToReadIndexReq(r: Raft, req: Message, readIndex: number): Message | undefined {
  if (req.from === None || req.from === r.id) {
    r.readStates.push({ index: readIndex, requestCtx: req.entries[0]!.data });
    return undefined;
  }
  return message(MessageType.MsgReadIndexResp, req.from, { index: readIndex, entries: req.entries });
}

/** A follower's answer to a MsgApp (or the leader's own, after its append became durable). */
function handleAppendResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;

  if (m.reject) {
    // rejectHint is the follower's guess of the last index where the logs may match, and logTerm
    // its term there. Probing down one index at a time could take a round trip per entry of a
    // divergent tail; instead skip every index whose term in our log exceeds the follower's term at
    // the hint (the follower's log there cannot match ours), so we probe at most once per term.
    if (r.debugOn()) {
      r.logger.debug(
        `${hex(r.id)} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${hex(m.from)} for index ${m.index}`,
      );
    }
    let nextProbeIdx = m.rejectHint;
    if (m.logTerm > 0) {
      nextProbeIdx = r.raftLog.findConflictByTerm(m.rejectHint, m.logTerm)[0];
    }
    if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
      if (r.debugOn())
        r.logger.debug(`${hex(r.id)} decreased progress of ${hex(m.from)} to [${pr.toString()}]`);
      if (pr.state === PrState.StateReplicate) pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }

  // Update when the response moves Match, or when it lets a probing peer (already matched at
  // m.index) go back to replicating. Not for StateSnapshot: its pending snapshot blocks that.
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === PrState.StateProbe))) return;

  switch (pr.state) {
    case PrState.StateProbe:
      pr.becomeReplicate();
      break;
    case PrState.StateSnapshot:
      // Whatever index the snapshot actually applied at, the follower can be caught up from the log
      // now: resume replicating (via probing, which accounts for the snapshot).
      if (pr.match + 1 >= r.raftLog.firstIndex()) {
        if (r.debugOn()) {
          r.logger.debug(
            `${hex(r.id)} recovered from needing snapshot, resumed sending replication messages to ${hex(m.from)} [${pr.toString()}]`,
          );
        }
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      break;
    case PrState.StateReplicate:
      pr.inflights.freeLE(m.index);
      break;
  }

  if (maybeCommit(r)) {
    // The commit index moved in our term: postponed reads can be answered.
    releasePendingReadIndexMessages(r);
    r.bcastAppend();
  } else if (r.id !== m.from && pr.canBumpCommit(r.raftLog.committed)) {
    // The follower may lack the latest commit index: send it now rather than at the next heartbeat.
    sendAppend(r, m.from);
  }
  // Flow control may now allow several (size-limited) messages in flight: send as many as we can,
  // without empty ones.
  if (r.id !== m.from) {
    while (maybeSendAppend(r, m.from, false)) {
      // keep sending
    }
  }
  // A transfer waits for the transferee to catch up.
  if (m.from === r.leadTransferee && pr.match === r.raftLog.lastIndex()) {
    r.logger.info(`${hex(r.id)} sent MsgTimeoutNow to ${hex(m.from)} after received MsgAppResp`);
    r.sendTimeoutNow(m.from);
  }
}

function handleHeartbeatResponse(r: Raft, m: Message, pr: Progress): void {
  pr.recentActive = true;
  pr.msgAppFlowPaused = false;

  // Send an append to a lagging follower: even when Inflights is full (its messages may all have
  // been dropped), and to a caught-up follower in StateProbe so it can return to StateReplicate.
  // (StateSnapshot is always paused: sendAppend does nothing there.)
  if (pr.match < r.raftLog.lastIndex() || pr.state === PrState.StateProbe) sendAppend(r, m.from);

  if (r.readOnly.option !== ReadOnlyOption.ReadOnlySafe || m.context.length === 0) return;

  r.readOnly.recvAck(m.from, m.context);
  for (const rs of r.readOnly.maybeAdvance(r.trk.config.voters)) {
    const resp = responseToReadIndexReq(r, rs.req, rs.index);
    if (resp !== undefined) r.send(resp);
  }
}

/** Leadership transfer (Raft thesis §3.10): catch the transferee up, then tell it to campaign. */
function handleTransferLeader(r: Raft, m: Message, pr: Progress): void {
  if (pr.isLearner) {
    if (r.debugOn()) r.logger.debug(`${hex(r.id)} is learner. Ignored transferring leadership`);
    return;
  }
  const leadTransferee = m.from;
  const lastLeadTransferee = r.leadTransferee;
  if (lastLeadTransferee !== None) {
    if (lastLeadTransferee === leadTransferee) {
      r.logger.info(
        `${hex(r.id)} [term ${r.term}] transfer leadership to ${hex(leadTransferee)} is in progress, ignores request to same node ${hex(leadTransferee)}`,
      );
      return;
    }
    r.abortLeaderTransfer();
    r.logger.info(
      `${hex(r.id)} [term ${r.term}] abort previous transferring leadership to ${hex(lastLeadTransferee)}`,
    );
  }
  if (leadTransferee === r.id) {
    if (r.debugOn())
      r.logger.debug(`${hex(r.id)} is already leader. Ignored transferring leadership to self`);
    return;
  }
  r.logger.info(`${hex(r.id)} [term ${r.term}] starts to transfer leadership to ${hex(leadTransferee)}`);
  // The transfer must finish within an election timeout.
  r.beginLeaderTransfer(leadTransferee);
  if (pr.match === r.raftLog.lastIndex()) {
    r.sendTimeoutNow(leadTransferee);
    r.logger.info(
      `${hex(r.id)} sends MsgTimeoutNow to ${hex(leadTransferee)} immediately as ${hex(leadTransferee)} already has up-to-date log`,
    );
  } else {
    sendAppend(r, leadTransferee);
  }
}
