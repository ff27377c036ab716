/**
 * The growth bench's view of a system under test through its public HTTP API only: who leads, what
 * each member has committed and applied, and its /metrics page. One adapter for tsraft-kv
 * (`GET /status`), one for etcd (`POST /v3/maintenance/status` on its JSON gateway), so the same
 * phases drive both and no internal of either is read.
 */
import { askJson, askText, type Cluster, type Member, startEtcd, startTsraft } from "./cluster-procs.js";
import { ETCD_SHAPE, type RequestShape, TSRAFT_SHAPE } from "./loadgen.js";

/** What one member says about itself. */
export interface MemberStatus {
  /** Its member id, as a string (tsraft-kv: 1..3; etcd: a 64-bit id). */
  readonly id: string;
  /** The id of the leader it knows, "0" for none. */
  readonly lead: string;
  /** Its commit index. */
  readonly commit: number;
  /** The index applied to its state machine. */
  readonly applied: number;
  /** The index of its latest snapshot or compaction point, when the system says (tsraft-kv's `snapshotIndex`). */
  readonly snapshotIndex?: number | undefined;
}

/** A system the growth bench can start, load and observe. */
export interface SystemAdapter {
  /** "tsraft-kv" or "etcd": the `system` field of every line. */
  readonly name: string;
  readonly shape: RequestShape;
  /** Starts a fresh 3-member cluster in `dir` with `extraArgs` on every member's command line. */
  start(dir: string, extraArgs: readonly string[]): Promise<Cluster>;
  /** Asks `m` for its status; undefined when it does not answer within `timeoutMs`. */
  status(m: Member, timeoutMs: number): Promise<MemberStatus | undefined>;
}

const num = (x: unknown): number =>
  typeof x === "number" ? x : typeof x === "string" ? Number(x) : Number.NaN;

/** tsraft-kv: `GET /status` (the node's RaftNodeStatus: id, lead, commit, applied, snapshotIndex). */
export const TSRAFT_SYSTEM: SystemAdapter = {
  name: "tsraft-kv",
  shape: TSRAFT_SHAPE,
  start: (dir, extra) => startTsraft(dir, extra),
  async status(m, timeoutMs) {
    try {
      const r = await askJson(
        m.clientPort,
        { method: "GET", path: "/status", body: undefined, contentType: "text/plain" },
        timeoutMs,
      );
      const s = r.json as Record<string, unknown> | undefined;
      if (r.status !== 200 || s === undefined) return undefined;
      const kv = s.kv as Record<string, unknown> | undefined;
      const applied = num(s.applied ?? kv?.appliedIndex);
      return {
        id: String(s.id),
        lead: String(s.lead ?? 0),
        commit: num(s.commit),
        applied,
        snapshotIndex: s.snapshotIndex === undefined ? undefined : num(s.snapshotIndex),
      };
    } catch {
      return undefined;
    }
  },
};

/** etcd: `POST /v3/maintenance/status` (member_id, leader, raftIndex = committed, raftAppliedIndex). */
export function etcdSystem(bin: string, quotaBackendBytes: number): SystemAdapter {
  return {
    name: "etcd",
    shape: ETCD_SHAPE,
    start: (dir, extra) =>
      startEtcd(bin, dir, ["--quota-backend-bytes", String(quotaBackendBytes), ...extra]),
    async status(m, timeoutMs) {
      try {
        const r = await askJson(
          m.clientPort,
          {
            method: "POST",
            path: "/v3/maintenance/status",
            body: Buffer.from("{}"),
            contentType: "application/json",
          },
          timeoutMs,
        );
        const s = r.json as
          | {
              header?: { member_id?: string };
              leader?: string;
              raftIndex?: string;
              raftAppliedIndex?: string;
            }
          | undefined;
        if (r.status !== 200 || s?.header?.member_id === undefined) return undefined;
        return {
          id: s.header.member_id,
          lead: s.leader ?? "0",
          commit: num(s.raftIndex),
          applied: num(s.raftAppliedIndex ?? s.raftIndex),
        };
      } catch {
        return undefined;
      }
    },
  };
}

/** The text of `m`'s /metrics page (both systems serve it on the client port); undefined if no answer. */
export async function scrapeMetrics(m: Member, timeoutMs: number): Promise<string | undefined> {
  try {
    const r = await askText(
      m.clientPort,
      { method: "GET", path: "/metrics", body: undefined, contentType: "text/plain" },
      timeoutMs,
    );
    return r.status === 200 ? r.text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The member index (0..2) of the leader, from statuses taken at about the same time: the member
 * whose id the answering members name as leader. Undefined when they name none, disagree, or the
 * leader named is not among the answers and its id is unknown (`ids`: member ids learned earlier).
 */
export function leaderOf(
  statuses: readonly (MemberStatus | undefined)[],
  ids: readonly (string | undefined)[],
): number | undefined {
  const leads = statuses.filter((s) => s !== undefined && s.lead !== "0").map((s) => s!.lead);
  if (leads.length === 0 || leads.some((l) => l !== leads[0])) return undefined;
  const i = ids.indexOf(leads[0]);
  return i >= 0 ? i : undefined;
}
