/**
 * What the checker knows of acknowledged appends (MsgAppResp sent): an acknowledgement is sent only
 * once the entries are on disk, survives a crash, and a leader hands leadership over only to a node
 * that acknowledged its whole log. Part of the checker (invariants.ts); computed from the
 * simulator's records of each node's log and disk.
 */
import type { Message } from "../../raftpb/types.js";
import { type CheckedNode, InvariantViolation } from "./violation.js";

/** Acknowledgements per node. */
interface Acks {
  /** The highest append acknowledged in `term` in this incarnation (reset by a crash). */
  term: number;
  index: number;
  /** The highest append acknowledged in each term (term → index), across incarnations. */
  readonly byTerm: Map<number, number>;
}

/** The acknowledgements every node sent. */
export class AckChecks {
  private readonly acks: Acks[] = [];

  private of(id: number): Acks {
    let a = this.acks[id];
    if (a === undefined) {
      a = { term: 0, index: 0, byTerm: new Map() };
      this.acks[id] = a;
    }
    return a;
  }

  /**
   * Node `n` (id `id`) sent the acknowledgement `m` of entries up to m.index: they must be on its
   * disk already, unless it moved to a newer term since it made the acknowledgement (etcd then
   * still sends it once its current state is written, although a leader of that newer term may
   * have replaced the entries: harmless, as the sender would have lost them anyway).
   */
  onAck(id: number, n: CheckedNode | undefined, m: Message): void {
    if (n !== undefined && n.rn?.raft.term === m.term) {
      const d = n.durableLog;
      if (d.lastIndex() < m.index) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${id} acknowledged entries up to ${m.index} (term ${m.term}) with only ${d.lastIndex()} on disk`,
        );
      }
      const want = n.log.term(m.index);
      const got = d.term(m.index);
      if (want !== 0 && got !== 0 && want !== got) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${id} acknowledged entry ${m.index} of term ${want}, but its disk holds term ${got} there`,
        );
      }
    }
    const a = this.of(id);
    if (m.term > a.term) {
      a.term = m.term;
      a.index = m.index;
    } else if (m.term === a.term && m.index > a.index) {
      a.index = m.index;
    }
    if (m.index > (a.byTerm.get(m.term) ?? 0)) a.byTerm.set(m.term, m.index);
  }

  /**
   * Leader `id` tells m.to to campaign (MsgTimeoutNow): m.to must have acknowledged the leader's
   * whole log, as it was when the message was made — at least `leaderLast`, what the leader handed
   * out before the Ready carrying it (entries of that Ready may come after the message).
   */
  onTimeoutNow(id: number, m: Message, leaderLast: number): void {
    const acked = this.of(m.to).byTerm.get(m.term) ?? 0;
    if (acked < leaderLast) {
      throw new InvariantViolation(
        "leader-transfer",
        `leader ${id} (term ${m.term}) sent MsgTimeoutNow to ${m.to}, which acknowledged its log up to ${acked} ` +
          `of ${leaderLast} in this term`,
      );
    }
  }

  /**
   * Node `n` crashed (its torn write already on disk; its core still readable): what it
   * acknowledged in its current term must have survived.
   */
  onCrash(n: CheckedNode): void {
    const a = this.of(n.id);
    const r = n.rn!.raft;
    if (a.index > 0 && a.term === r.term) {
      const d = n.durableLog;
      const last = d.lastIndex();
      if (last < a.index) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${n.id} acknowledged entries up to ${a.index} in term ${a.term}, but only ${last} survived its crash`,
        );
      }
      const want = n.log.term(a.index);
      const got = d.term(a.index);
      if (want !== 0 && got !== 0 && want !== got) {
        throw new InvariantViolation(
          "ack-durability",
          `node ${n.id} acknowledged entry ${a.index} of term ${want}, but its disk holds term ${got} there`,
        );
      }
    }
    a.term = 0;
    a.index = 0;
  }
}
