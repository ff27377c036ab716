/**
 * Elections (Raft paper §5.2, thesis §9.6 for pre-votes): starting a campaign, asking for votes,
 * counting them, and deciding whether to grant a vote.
 */
import { None } from "./constants.js";
import { panic, RaftPanic } from "./logger.js";
import type { Raft } from "./raft.js";
import { EMPTY_BYTES, EntryType, type Message, MessageType } from "./raftpb/types.js";
import { StateType } from "./ready.js";
import type { VoteTally } from "./tracker/index.js";
import type { EntryID } from "./types.js";
import { hex, message, voteRespMsgType } from "./util.js";

/** Why a node campaigns; a transfer campaign carries its type as the vote request's context. */
export type CampaignType = "CampaignPreElection" | "CampaignElection" | "CampaignTransfer";

/** The context of a leadership-transfer vote request: the ASCII bytes of "CampaignTransfer". */
const CAMPAIGN_TRANSFER_CTX: Uint8Array = Uint8Array.from("CampaignTransfer", (c) => c.charCodeAt(0));

/** True if a vote request's context marks it as part of a leadership transfer (it then ignores leases). */
export function isCampaignTransferCtx(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER_CTX.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER_CTX[i]) return false;
  return true;
}

/** Starts an election (or pre-election) unless this node is leader or may not campaign. */
export function hup(r: Raft, t: CampaignType): void {
  if (r.state === StateType.StateLeader) {
    if (r.debugOn()) r.logger.debug(`${hex(r.id)} ignoring MsgHup because already leader`);
    return;
  }
  if (!r.promotable()) {
    r.logger.warn(`${hex(r.id)} is unpromotable and can not campaign`);
    return;
  }
  if (hasUnappliedConfChanges(r)) {
    r.logger.warn(
      `${hex(r.id)} cannot campaign at term ${r.term} since there are still pending configuration changes to apply`,
    );
    return;
  }
  r.logger.info(`${hex(r.id)} is starting a new election at term ${r.term}`);
  campaign(r, t);
}

/**
 * True if a committed conf change is not applied yet. Such a node must not campaign: it could
 * win under a configuration that is already replaced.
 */
export function hasUnappliedConfChanges(r: Raft): boolean {
  const log = r.raftLog;
  if (log.applied >= log.committed) return false;
  const lo = log.applied + 1;
  const hi = log.committed + 1;
  let found = false;
  try {
    // Page through the unapplied tail (bounded like the entries handed out for applying).
    log.scan(lo, hi, log.maxApplyingEntsSize, (ents) => {
      for (const e of ents) {
        if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
          found = true;
          return false;
        }
      }
      return true;
    });
  } catch (e) {
    if (e instanceof RaftPanic) throw e;
    panic(r.logger, `error scanning unapplied entries [${lo}, ${hi}): ${(e as Error).message}`);
  }
  return found;
}

/** Becomes (pre-)candidate and asks every voter for its vote, in id order. */
export function campaign(r: Raft, t: CampaignType): void {
  if (!r.promotable()) {
    // Callers check this; log loudly if one did not.
    r.logger.warn(`${hex(r.id)} is unpromotable; campaign() should have been called`);
  }
  let term: number;
  let voteMsg: MessageType;
  if (t === "CampaignPreElection") {
    r.becomePreCandidate();
    voteMsg = MessageType.MsgPreVote;
    // Pre-votes are for the next term; ours only moves if we win.
    term = r.term + 1;
  } else {
    r.becomeCandidate();
    voteMsg = MessageType.MsgVote;
    term = r.term;
  }
  const ids = [...r.trk.config.voters.ids()].sort((a, b) => a - b);
  for (const id of ids) {
    if (id === r.id) {
      // Our own vote counts once it is durable, like any other.
      r.send(message(voteRespMsgType(voteMsg), id, { term }));
      continue;
    }
    const last = r.raftLog.lastEntryID();
    r.logger.info(
      `${hex(r.id)} [logterm: ${last.term}, index: ${last.index}] sent ${MessageType[voteMsg]} request to ${hex(id)} at term ${r.term}`,
    );
    r.send(
      message(voteMsg, id, {
        term,
        index: last.index,
        logTerm: last.term,
        context: t === "CampaignTransfer" ? CAMPAIGN_TRANSFER_CTX : EMPTY_BYTES,
      }),
    );
  }
}

/** Records a vote from `id` and tallies the election. */
export function poll(r: Raft, id: number, t: MessageType, v: boolean): VoteTally {
  if (v) r.logger.info(`${hex(r.id)} received ${MessageType[t]} from ${hex(id)} at term ${r.term}`);
  else r.logger.info(`${hex(r.id)} received ${MessageType[t]} rejection from ${hex(id)} at term ${r.term}`);
  r.trk.recordVote(id, v);
  return r.trk.tallyVotes();
}

/** Grants or rejects a (pre-)vote (Raft paper §5.2, §5.4.1; thesis §9.6 for pre-votes). */
export function handleVoteRequest(r: Raft, m: Message): void {
  // We can vote if this repeats a vote we cast, if we have not voted and know no leader in this
  // term, or if this is a pre-vote for a future term...
  const canVote =
    r.vote === m.from ||
    (r.vote === None && r.lead === None) ||
    (m.type === MessageType.MsgPreVote && m.term > r.term);
  // ...and the candidate's log is at least as up to date as ours.
  const last = r.raftLog.lastEntryID();
  const cand: EntryID = { term: m.logTerm, index: m.index };
  const desc = `${hex(r.id)} [logterm: ${last.term}, index: ${last.index}, vote: ${hex(r.vote)}]`;
  const tail = `${MessageType[m.type]} for ${hex(m.from)} [logterm: ${cand.term}, index: ${cand.index}] at term ${r.term}`;
  if (canVote && r.raftLog.isUpToDate(cand)) {
    // Learners vote too: one may have been promoted without knowing it yet, and its vote may be
    // needed to elect the only node holding all committed entries.
    r.logger.info(`${desc} cast ${tail}`);
    // Answer with the request's term, not ours: a pre-vote's is in our future, and a stale
    // local term would make the candidate ignore the answer.
    r.send(message(voteRespMsgType(m.type), m.from, { term: m.term }));
    if (m.type === MessageType.MsgVote) {
      // Only real votes are recorded.
      r.grantVote(m.from);
    }
  } else {
    r.logger.info(
      `${desc} rejected ${MessageType[m.type]} from ${hex(m.from)} [logterm: ${cand.term}, index: ${cand.index}] at term ${r.term}`,
    );
    r.send(message(voteRespMsgType(m.type), m.from, { term: r.term, reject: true }));
  }
}
