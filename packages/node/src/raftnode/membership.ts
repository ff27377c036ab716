/**
 * The cluster's membership as the log says it: who is a member (with peer URL, learner or voter)
 * and which ids were removed. The node rebuilds it by applying conf-change entries in log order
 * (and restores it from snapshots), so every node holds the same membership at the same index and
 * validates each conf change identically when it applies (etcd's RaftCluster).
 */
import { RaftNodeError } from "./errors.js";

/** A member of the cluster. */
export interface Member {
  readonly id: number;
  /** Its peer URL (ws:// or wss://). */
  readonly url: string;
  readonly learner: boolean;
}

/** A membership change, as the node proposes and applies it. */
export type MemberChange =
  | { readonly kind: "add"; readonly id: number; readonly url: string; readonly learner: boolean }
  | { readonly kind: "promote"; readonly id: number }
  | { readonly kind: "remove"; readonly id: number };

/** The membership at the applied index: members by id, and the ids removed for good. */
export class Membership {
  /** Invariant: no id is both here and in `removedIds`. */
  private readonly byId = new Map<number, Member>();
  private readonly removedIds = new Set<number>();

  /** The members in id order. */
  list(): Member[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: number): Member | undefined {
    return this.byId.get(id);
  }

  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  removed(): number[] {
    return [...this.removedIds].sort((a, b) => a - b);
  }

  /**
   * Why `c` cannot apply to the current membership (etcd's ValidateConfigurationChange), or
   * undefined if it can. Deterministic: every node gets the same answer at the same log index.
   */
  check(c: MemberChange): RaftNodeError | undefined {
    const id = c.id;
    const m = this.byId.get(c.id);
    switch (c.kind) {
      case "add": {
        if (this.removedIds.has(c.id)) {
          return new RaftNodeError("MemberRemoved", `raftnode: member ${id} was removed; ids are not reused`);
        }
        if (m !== undefined)
          return new RaftNodeError("MemberExists", `raftnode: member ${id} already exists`);
        for (const o of this.byId.values()) {
          if (o.url === c.url) {
            return new RaftNodeError(
              "UrlExists",
              `raftnode: peer URL ${c.url} is already used by member ${o.id}`,
            );
          }
        }
        return undefined;
      }
      case "promote":
        if (m === undefined) return new RaftNodeError("MemberNotFound", `raftnode: member ${id} not found`);
        if (!m.learner) {
          return new RaftNodeError("MemberNotLearner", `raftnode: member ${id} is not a learner`);
        }
        return undefined;
      case "remove":
        if (m === undefined) return new RaftNodeError("MemberNotFound", `raftnode: member ${id} not found`);
        return undefined;
    }
  }

  /** Applies a change that passed {@link check}. */
  apply(c: MemberChange): void {
    switch (c.kind) {
      case "add":
        this.byId.set(c.id, { id: c.id, url: c.url, learner: c.learner });
        return;
      case "promote": {
        const m = this.byId.get(c.id)!;
        this.byId.set(c.id, { ...m, learner: false });
        return;
      }
      case "remove":
        this.byId.delete(c.id);
        this.removedIds.add(c.id);
        return;
    }
  }

  /** Replaces everything with a snapshot's membership. */
  restore(members: readonly Member[], removed: readonly number[]): void {
    this.byId.clear();
    this.removedIds.clear();
    for (const id of removed) this.removedIds.add(id);
    for (const m of members) if (!this.removedIds.has(m.id)) this.byId.set(m.id, { ...m });
  }
}
