/**
 * The simulator's own model of membership (Raft thesis §4, etcd's confchange semantics), written
 * from the rules rather than from the core's code: what configuration applying a ConfChange or
 * ConfChangeV2 entry must produce. The checker compares every configuration the core returns with
 * it, and computes quorums (majorities of each half of a joint configuration) from it alone.
 */
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
} from "../../raftpb/types.js";

/** A configuration: voters (incoming and, while joint, outgoing), learners, and how joint ends. */
export interface ConfigModel {
  readonly voters: ReadonlySet<number>;
  /** Non-empty only while joint (the configuration being left). */
  readonly outgoing: ReadonlySet<number>;
  readonly learners: ReadonlySet<number>;
  /** Outgoing voters that become learners when the joint configuration is left. */
  readonly learnersNext: ReadonlySet<number>;
  readonly autoLeave: boolean;
}

/** The configuration a ConfState describes. */
export function modelOf(cs: ConfState): ConfigModel {
  return {
    voters: new Set(cs.voters),
    outgoing: new Set(cs.votersOutgoing),
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}

/** True while `c` is joint. */
export function isJointModel(c: ConfigModel): boolean {
  return c.outgoing.size > 0;
}

/** The halves whose majorities decide (one if not joint). */
export function halves(c: ConfigModel): ReadonlySet<number>[] {
  return c.outgoing.size > 0 ? [c.voters, c.outgoing] : [c.voters];
}

/** True if `id` votes in `c` (in either half). */
export function isVoterIn(c: ConfigModel, id: number): boolean {
  return c.voters.has(id) || c.outgoing.has(id);
}

/** True if `ok` holds for a majority of every half of `c` (an empty half never decides). */
export function quorumOf(c: ConfigModel, ok: (id: number) => boolean): boolean {
  for (const h of halves(c)) {
    if (h.size === 0) continue;
    let n = 0;
    for (const id of h) if (ok(id)) n++;
    if (n * 2 <= h.size) return false;
  }
  return true;
}

/**
 * The configuration after applying `cc` to `c`, by the rules: a V1 change or a V2 with one change
 * and the automatic transition changes `c` directly; a V2 with more changes or a joint transition
 * first makes the current voters the outgoing half (left automatically unless the transition is
 * explicit); an empty V2 with the automatic transition leaves the joint configuration (outgoing
 * voters that were demoted become learners). A voter demoted while it still votes in the outgoing
 * half becomes a learner only when that half is dropped.
 */
export function applyToModel(c: ConfigModel, cc: ConfChange | ConfChangeV2): ConfigModel {
  const v2: ConfChangeV2 =
    "changes" in cc
      ? cc
      : {
          transition: ConfChangeTransition.ConfChangeTransitionAuto,
          changes: [{ type: cc.type, nodeId: cc.nodeId }],
          context: cc.context,
        };
  const voters = new Set(c.voters);
  let outgoing = new Set(c.outgoing);
  const learners = new Set(c.learners);
  let learnersNext = new Set(c.learnersNext);
  let autoLeave = c.autoLeave;
  const auto = v2.transition === ConfChangeTransition.ConfChangeTransitionAuto;
  if (auto && v2.changes.length === 0) {
    for (const id of learnersNext) learners.add(id);
    return { voters, outgoing: new Set(), learners, learnersNext: new Set(), autoLeave: false };
  }
  if (!auto || v2.changes.length > 1) {
    outgoing = new Set(voters);
    autoLeave = v2.transition !== ConfChangeTransition.ConfChangeTransitionJointExplicit;
  }
  for (const ch of v2.changes) {
    const id = ch.nodeId;
    if (id === 0) continue;
    switch (ch.type) {
      case ConfChangeType.ConfChangeAddNode:
        voters.add(id);
        learners.delete(id);
        learnersNext.delete(id);
        break;
      case ConfChangeType.ConfChangeAddLearnerNode:
        if (learners.has(id)) break;
        voters.delete(id);
        learnersNext.delete(id);
        if (outgoing.has(id)) learnersNext.add(id);
        else learners.add(id);
        break;
      case ConfChangeType.ConfChangeRemoveNode:
        voters.delete(id);
        learners.delete(id);
        learnersNext.delete(id);
        break;
      case ConfChangeType.ConfChangeUpdateNode:
        break;
    }
  }
  if (outgoing.size === 0) learnersNext = new Set();
  return { voters, outgoing, learners, learnersNext, autoLeave: outgoing.size > 0 && autoLeave };
}

/** Why `cs` (the core's) differs from the model `c`, or undefined if they agree. */
export function diffModel(c: ConfigModel, cs: ConfState): string | undefined {
  const same = (a: ReadonlySet<number>, b: readonly number[]): boolean =>
    a.size === new Set(b).size && b.every((x) => a.has(x));
  const parts: string[] = [];
  if (!same(c.voters, cs.voters)) parts.push("voters");
  if (!same(c.outgoing, cs.votersOutgoing)) parts.push("outgoing voters");
  if (!same(c.learners, cs.learners)) parts.push("learners");
  if (!same(c.learnersNext, cs.learnersNext)) parts.push("learners_next");
  if (c.autoLeave !== cs.autoLeave) parts.push("autoleave");
  return parts.length === 0 ? undefined : parts.join(", ");
}

/** `voters=[1 2]&&[1 2 3] learners=[4]`: for messages. */
export function formatModel(c: ConfigModel): string {
  const ids = (s: ReadonlySet<number>): string => [...s].sort((a, b) => a - b).join(" ");
  let s = `voters=[${ids(c.voters)}]`;
  if (c.outgoing.size > 0) s += `&&[${ids(c.outgoing)}]`;
  if (c.learners.size > 0) s += ` learners=[${ids(c.learners)}]`;
  if (c.learnersNext.size > 0) s += ` learners_next=[${ids(c.learnersNext)}]`;
  if (c.autoLeave) s += " autoleave";
  return s;
}
