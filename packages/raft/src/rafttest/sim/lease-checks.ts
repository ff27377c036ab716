/**
 * The leader lease under CheckQuorum (Raft thesis §4.2.3): a follower that heard from its leader
 * less than an election timeout ago (on its own clock) neither moves to the term of a vote request
 * nor grants it, unless the request is part of a leadership transfer. Part of the checker
 * (invariants.ts); computed from the messages the simulator delivers and the node's own ticks.
 */
import { type Message, MessageType } from "../../raftpb/types.js";
import { StateType } from "../../ready.js";
import { utf8Decode } from "./bytes.js";
import { type CheckedNode, InvariantViolation } from "./violation.js";

/** The context of a leadership transfer's vote requests (etcd's campaignTransfer), as text. */
const TRANSFER_CTX = "CampaignTransfer";

/** What {@link LeaseChecks.before} remembers of a node for {@link LeaseChecks.after}. */
export interface DeliveryContext {
  readonly term: number;
  /** True if the node was within its leader's lease. */
  readonly lease: boolean;
  /** How many messages the core had queued for sending. */
  readonly queued: number;
}

/** The lease of every follower. */
export class LeaseChecks {
  /** Per node: the last time (term, own tick) it heard from its leader; undefined if it has none. */
  private readonly contact: ({ term: number; tick: number } | undefined)[] = [];

  constructor(
    private readonly electionTick: number,
    private readonly checkQuorum: boolean,
  ) {}

  /** Node `id` is now `state` at `term`: a new term or role ends the lease. */
  observe(id: number, state: StateType, term: number): void {
    const c = this.contact[id];
    if (c !== undefined && (state !== StateType.StateFollower || term !== c.term))
      this.contact[id] = undefined;
  }

  /** Node `id` restarted: it knows no leader. */
  restart(id: number): void {
    this.contact[id] = undefined;
  }

  /** A message is about to be delivered to `n`. */
  before(n: CheckedNode): DeliveryContext {
    const r = n.rn?.raft;
    if (r === undefined) return { term: 0, lease: false, queued: 0 };
    const c = this.contact[n.id];
    const lease =
      this.checkQuorum &&
      c !== undefined &&
      r.state === StateType.StateFollower &&
      c.term === r.term &&
      n.ticks - c.tick < this.electionTick;
    return { term: r.term, lease, queued: r.msgs.length + r.msgsAfterAppend.length };
  }

  /**
   * `m` was delivered to `n`: a leader's message renews the follower's lease; a vote request of a
   * higher term that arrived within the lease must have been ignored: no new term, and no vote
   * granted among the messages the core queued for sending.
   */
  after(n: CheckedNode, m: Message, before: DeliveryContext): void {
    const r = n.rn?.raft;
    if (r === undefined) return;
    if (
      (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat) &&
      r.term === m.term &&
      r.state === StateType.StateFollower
    ) {
      this.contact[n.id] = { term: m.term, tick: n.ticks };
      return;
    }
    if (m.type !== MessageType.MsgVote && m.type !== MessageType.MsgPreVote) return;
    if (!before.lease || m.term <= before.term || utf8Decode(m.context) === TRANSFER_CTX) return;
    const what = `a ${MessageType[m.type]} from ${m.from} for term ${m.term}`;
    if (r.term !== before.term) {
      throw new InvariantViolation(
        "leader-lease",
        `node ${n.id} heard from its leader less than an election timeout ago, but moved from term ${before.term} ` +
          `to ${r.term} for ${what}`,
      );
    }
    const queued = [...r.msgs, ...r.msgsAfterAppend].slice(before.queued);
    const grant = queued.find(
      (x) =>
        (x.type === MessageType.MsgVoteResp || x.type === MessageType.MsgPreVoteResp) &&
        x.to === m.from &&
        !x.reject,
    );
    if (grant !== undefined) {
      throw new InvariantViolation(
        "leader-lease",
        `node ${n.id} heard from its leader less than an election timeout ago, but granted ${what}`,
      );
    }
  }
}
