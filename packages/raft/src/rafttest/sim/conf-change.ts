/**
 * Turning a schedule's {@link ConfChangeSpec} into a ConfChangeV2 for the leader's current
 * configuration, or into the reason it is skipped. The core validates what it must (one change
 * pending at a time, joint state rules); what it leaves to the application — never removing the
 * last voter, one voter changed at a time without joint consensus — is checked here, as an
 * application would.
 */
import type { MajorityConfig } from "../../quorum/index.js";
import { ConfChangeTransition, ConfChangeType, type ConfChangeV2, EMPTY_BYTES } from "../../raftpb/types.js";
import type { TrackerConfig } from "../../tracker/index.js";
import type { ConfChangeSpec } from "./schedule.js";

/**
 * The change leader `leader` is to propose for `spec` under `cfg` (nodes 1..nodes), or a string
 * saying why not.
 *
 * Two rules an operator follows (etcd's strict reconfiguration check is in the same spirit): the
 * leader itself is never removed or demoted (leadership is transferred first), and a change keeps
 * a majority of the current voters. Under etcd's rules a configuration takes effect when applied,
 * and the commit index is not synced: a remaining voter may restart with the old configuration,
 * in which it needs the vote of a removed node. If that node's log is the longest, it refuses the
 * vote, and cannot campaign itself (it is not in its own configuration): the cluster stays without
 * a leader for good. The simulator found both cases.
 */
export function buildConfChange(
  spec: ConfChangeSpec,
  cfg: TrackerConfig,
  nodes: number,
  leader: number,
  removed: ReadonlySet<number>,
): ConfChangeV2 | string {
  if (spec.mode === "leave") {
    return { transition: ConfChangeTransition.ConfChangeTransitionAuto, changes: [], context: EMPTY_BYTES };
  }
  // While joint, the core itself refuses anything but leaving (it proposes an empty entry instead):
  // let it, that is part of what runs are testing.
  const joint = cfg.voters.outgoing.size > 0;
  const voters = new Set(ids(cfg.voters.incoming));
  const learners = new Set(cfg.learners);
  for (const op of spec.ops) {
    if (op.node < 1 || op.node > nodes) return `no node ${op.node}`;
    if (op.node === leader && op.op !== "v") return "it would remove or demote the leader";
    if (removed.has(op.node) && op.op !== "r") return `node ${op.node} was removed: ids are never reused`;
    switch (op.op) {
      case "v":
        voters.add(op.node);
        learners.delete(op.node);
        break;
      case "l":
        learners.add(op.node);
        voters.delete(op.node);
        break;
      case "r":
        voters.delete(op.node);
        learners.delete(op.node);
        break;
    }
  }
  if (!joint) {
    if (voters.size === 0) return "it would remove every voter";
    const old = ids(cfg.voters.incoming);
    const kept = old.filter((id) => voters.has(id)).length;
    if (kept < Math.floor(old.length / 2) + 1) return "it would remove or demote a majority of the voters";
    const simple = spec.mode === "simple" && spec.ops.length === 1;
    if (simple && symdiff(new Set(ids(cfg.voters.incoming)), voters) > 1) {
      return "it changes more than one voter without joint consensus";
    }
  }
  const transition =
    spec.mode === "joint"
      ? ConfChangeTransition.ConfChangeTransitionJointImplicit
      : spec.mode === "joint-explicit"
        ? ConfChangeTransition.ConfChangeTransitionJointExplicit
        : ConfChangeTransition.ConfChangeTransitionAuto;
  return {
    transition,
    changes: spec.ops.map((o) => ({
      type:
        o.op === "v"
          ? ConfChangeType.ConfChangeAddNode
          : o.op === "l"
            ? ConfChangeType.ConfChangeAddLearnerNode
            : ConfChangeType.ConfChangeRemoveNode,
      nodeId: o.node,
    })),
    context: EMPTY_BYTES,
  };
}

function ids(m: MajorityConfig): number[] {
  return [...m];
}

function symdiff(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  let n = 0;
  for (const x of a) if (!b.has(x)) n++;
  for (const x of b) if (!a.has(x)) n++;
  return n;
}
