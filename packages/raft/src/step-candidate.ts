/**
 * Message handling of a candidate and a pre-candidate (etcd's stepCandidate). They differ only in
 * which vote responses count: a candidate may still receive stale MsgPreVoteResp of its term.
 */

import { None } from "./constants.js";
import { campaign, poll } from "./election.js";
import { errProposalDropped } from "./errors.js";
import { VoteResult } from "./quorum/index.js";
import type { Raft } from "./raft.js";
import { type Message, MessageType } from "./raftpb/types.js";
import { StateType } from "./ready.js";
import { handleAppendEntries, handleHeartbeat, handleSnapshot } from "./step-follower.js";
import { hex } from "./util.js";

/**
 * Handles `m` as a (pre-)candidate: counts its votes, and yields to a leader of its term. Throws
 * a "ProposalDropped" RaftError for proposals: there is no leader yet.
 */
export function stepCandidate(r: Raft, m: Message): void {
  const myVoteRespType =
    r.state === StateType.StatePreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
  switch (m.type) {
    case MessageType.MsgProp:
      r.logger.info(`${hex(r.id)} no leader at term ${r.term}; dropping proposal`);
      throw errProposalDropped();
    // A leader of our term exists (m.term === r.term here): follow it (Raft paper §5.2).
    case MessageType.MsgApp:
      r.becomeFollower(m.term, m.from);
      handleAppendEntries(r, m);
      return;
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case myVoteRespType: {
      const { granted, rejected, result } = poll(r, m.from, m.type, !m.reject);
      r.logger.info(
        `${hex(r.id)} has received ${granted} ${MessageType[m.type]} votes and ${rejected} vote rejections`,
      );
      switch (result) {
        case VoteResult.VoteWon:
          if (r.state === StateType.StatePreCandidate) {
            campaign(r, "CampaignElection");
          } else {
            r.becomeLeader();
            r.bcastAppend();
          }
          return;
        case VoteResult.VoteLost:
          // A pre-vote response carries the pre-candidate's future term: keep ours.
          r.becomeFollower(r.term, None);
          return;
        case VoteResult.VotePending:
          return;
      }
      return;
    }
    case MessageType.MsgTimeoutNow:
      if (r.debugOn()) {
        r.logger.debug(
          `${hex(r.id)} [term ${r.term} state ${StateType[r.state]}] ignored MsgTimeoutNow from ${hex(m.from)}`,
        );
      }
      return;
  }
}
