/**
 * The checks that look at the whole cluster after every step (see invariants.ts for the rules they
 * follow): who could be elected now, and whether each leader's Progress bookkeeping is consistent
 * and truthful.
 */
import { ProgressState } from "../../tracker/index.js";
import { type ConfigModel, formatModel, isVoterIn, quorumOf } from "./config-model.js";
import { type CheckedNode, InvariantViolation } from "./violation.js";

/**
 * Leader Completeness, ahead of time: a node that could win an election now — a voter of its own
 * configuration whose log is at least as up to date as the logs of a quorum of it (Raft paper
 * §5.4.1) — holds the committed entry `k` of term `kt` (and so every one before it). Raft's safety
 * argument says exactly this of committed entries (a quorum holds them, and a log at least as up to
 * date as one holding a committed entry holds it too); checking it after every step catches a
 * broken commit rule at the moment of the commit, not only if a run goes on to elect the node that
 * lacks the entry. Nodes that are down count with their durable log; a node waiting for a snapshot
 * or with a committed conf change to apply may not campaign, and is skipped.
 */
export function checkElectable(
  nodes: readonly (CheckedNode | undefined)[],
  k: number,
  kt: number,
  configOf: (n: CheckedNode) => ConfigModel,
  unappliedConfChange: (n: CheckedNode) => number | undefined,
): void {
  let lastTerms: number[] | undefined;
  let lastIndexes: number[] | undefined;
  for (const n of nodes) {
    if (n === undefined || n.rn === undefined) continue;
    const log = n.log;
    // It holds the committed prefix (Log Matching: entry k implies all before), or a snapshot of it.
    if (k < log.baseIndex || log.term(k) === kt) continue;
    const cfg = configOf(n);
    if (!isVoterIn(cfg, n.id) || n.snapshotPending) continue;
    if (lastTerms === undefined || lastIndexes === undefined) {
      // The last entry of every node that may vote (durable log if down; none if removed).
      lastTerms = [];
      lastIndexes = [];
      for (const v of nodes) {
        let index = -1;
        let term = -1;
        if (v !== undefined && !v.removed) {
          const vl = v.rn !== undefined ? v.log : v.durableLog;
          index = vl.lastIndex();
          term = vl.lastTerm();
        }
        lastTerms.push(term);
        lastIndexes.push(index);
      }
    }
    const lt = lastTerms[n.id]!;
    const li = lastIndexes[n.id]!;
    const grants = (id: number): boolean => {
      const t = lastTerms![id] ?? -1;
      return t >= 0 && (lt > t || (lt === t && li >= lastIndexes![id]!));
    };
    if (!quorumOf(cfg, grants)) continue;
    // It may not campaign with committed configuration changes to apply (etcd's hup).
    if (unappliedConfChange(n) !== undefined) continue;
    throw new InvariantViolation(
      "leader-completeness",
      `node ${n.id} (log up to ${li}, term ${lt}) could be elected by a quorum of ` +
        `${formatModel(cfg)} whose logs are no more up to date, but lacks committed entry ${k} (term ${kt})`,
    );
  }
}

/**
 * Checks the Progress a leader keeps of each follower (after every step): consistent (match < next
 * ≤ last + 1, paused while a snapshot is pending, inflights within bounds) and truthful (a follower
 * of this leader, in its term, has the entry at match on its disk: it acknowledged it).
 */
export function checkProgress(leader: CheckedNode, nodes: readonly (CheckedNode | undefined)[]): void {
  const r = leader.rn!.raft;
  // The core's own last index: its Progress is kept against it (entries may not be handed out yet).
  const last = r.raftLog.lastIndex();
  r.trk.visit((id, pr) => {
    const bad = (what: string): never => {
      throw new InvariantViolation(
        "progress",
        `leader ${leader.id} (term ${r.term}) tracks ${id} with ${what}: ${pr}`,
      );
    };
    if (pr.match >= pr.next) bad("match >= next");
    if (pr.next > last + 1) bad(`next beyond its last index ${last}`);
    if (pr.match > last) bad(`match beyond its last index ${last}`);
    // etcd documents next === pendingSnapshot + 1 in StateSnapshot, but a stale rejection of an
    // earlier probe (maybeDecrTo) lowers next, and a late acknowledgement (maybeUpdate) raises
    // match and next, while the snapshot is pending (the simulator found both). What does hold is
    // that replication stays paused until the snapshot is reported.
    if (pr.state === ProgressState.StateSnapshot && !pr.isPaused())
      bad("not paused while waiting for a snapshot");
    if (pr.inflights.count() > pr.inflights.size) bad("too many inflight messages");
    if (id === leader.id || pr.match === 0) return;
    // Match is truthful: a follower of this leader, in its term, holds the entry at match on disk.
    const f = nodes[id];
    const fr = f?.rn?.raft;
    if (f === undefined || fr === undefined || fr.term !== r.term || fr.lead !== leader.id) return;
    const flast = f.durableLog.lastIndex();
    if (flast < pr.match) bad(`match beyond the follower's last index on disk ${flast}`);
    const ft = f.durableLog.term(pr.match);
    const lt = leader.log.term(pr.match);
    if (ft !== 0 && lt !== 0 && ft !== lt) bad(`match at an entry of term ${ft} on the follower, ${lt} here`);
  });
}
