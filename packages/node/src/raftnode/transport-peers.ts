/**
 * Which peers the transport talks to, kept in step with the membership the log applies: a member
 * added is dialed at once; a member removed is dropped after a grace period (its last messages,
 * which tell it it was removed, may still sit in the queue); a snapshot's membership replaces the
 * whole set.
 */
import type { Member, MemberChange } from "./membership.js";
import type { RaftTransport } from "./options.js";

export class TransportPeers {
  /** The peers (other than this node) the transport was given. */
  private readonly peers: Set<number>;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly transport: RaftTransport,
    private readonly self: number,
    /** How long a removed member stays connected. */
    private readonly graceMs: number,
    /** Whether `id` is still removed when the grace period ends (it could not be re-added, but check). */
    private readonly isRemoved: (id: number) => boolean,
    initial: Iterable<number>,
  ) {
    this.peers = new Set(initial);
  }

  /** Follows one applied change. Changes about this node itself are the node's to act on. */
  apply(c: MemberChange): void {
    if (c.id === this.self) return;
    switch (c.kind) {
      case "add":
        this.transport.addPeer(c.id, c.url);
        this.peers.add(c.id);
        return;
      case "promote":
        return;
      case "remove": {
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (!this.isRemoved(c.id)) return;
          this.transport.removePeer(c.id);
          this.peers.delete(c.id);
        }, this.graceMs);
        t.unref();
        this.timers.add(t);
        return;
      }
    }
  }

  /** Replaces the peer set with a snapshot's members. */
  reset(members: readonly Member[]): void {
    const keep = new Set(members.map((m) => m.id).filter((id) => id !== this.self));
    for (const id of this.peers) if (!keep.has(id)) this.transport.removePeer(id);
    for (const m of members) if (m.id !== this.self) this.transport.addPeer(m.id, m.url);
    this.peers.clear();
    for (const id of keep) this.peers.add(id);
  }

  /** Cancels pending removals (the node is stopping). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
