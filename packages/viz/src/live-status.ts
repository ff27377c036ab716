/**
 * Live mode's model of a running `tsraft-kv` cluster: each node's `/status` JSON (README.md, "HTTP API"),
 * checked field by field, and the cluster summary drawn from them. The page reaches the nodes
 * through the visualizer's server (`/proxy?url=...`): `tsraft-kv` sends no CORS headers, so a page
 * served from another origin cannot read its answers directly.
 */
import type { Member, PeerProgress, RaftNodeStatus } from "@tsraft/node";

/** A peer's replication progress as the leader's `/status` reports it (RaftNode's, with its id). */
export interface LiveProgress extends PeerProgress {
  readonly id: number;
}

/** One node's `/status`, or why it could not be read. */
export interface LiveNode {
  /** The HTTP base URL polled. */
  readonly url: string;
  /** Why the last poll failed; undefined when `status` is fresh. */
  readonly error: string | undefined;
  readonly status: LiveStatus | undefined;
}

/** The fields of `/status` the page shows: RaftNode's status (packages/node/src/raftnode/status.ts) and the store's. */
export interface LiveStatus
  extends Pick<
    RaftNodeStatus,
    "id" | "term" | "vote" | "commit" | "applied" | "lead" | "state" | "snapshotIndex"
  > {
  readonly members: readonly Member[];
  readonly progress: readonly LiveProgress[] | undefined;
  /** The key-value store: its applied index, revision and key count. */
  readonly kv:
    | { readonly appliedIndex: number; readonly revision: number; readonly keys: number }
    | undefined;
}

/** Thrown for a `/status` answer that does not have the expected shape. */
export class StatusShapeError extends Error {
  override name = "StatusShapeError";
}

/** Checks and narrows a parsed `/status` body. Throws a {@link StatusShapeError}. */
export function parseStatus(body: unknown): LiveStatus {
  const o = record(body, "status");
  const progress =
    o.progress === undefined
      ? undefined
      : Object.entries(record(o.progress, "progress"))
          .map(([id, p]): LiveProgress => {
            const r = record(p, `progress ${id}`);
            return {
              id: Number(id),
              match: num(r, "match"),
              next: num(r, "next"),
              state: str(r, "state"),
              learner: r.learner === true,
              recentActive: r.recentActive === true,
              paused: r.paused === true,
            };
          })
          .sort((a, b) => a.id - b.id);
  const members = Array.isArray(o.members)
    ? o.members.map((m, i) => {
        const r = record(m, `member ${i}`);
        return { id: num(r, "id"), url: typeof r.url === "string" ? r.url : "", learner: r.learner === true };
      })
    : [];
  const kv =
    o.kv === undefined
      ? undefined
      : (() => {
          const r = record(o.kv, "kv");
          return { appliedIndex: num(r, "appliedIndex"), revision: num(r, "revision"), keys: num(r, "keys") };
        })();
  return {
    id: num(o, "id"),
    term: num(o, "term"),
    vote: num(o, "vote"),
    commit: num(o, "commit"),
    applied: num(o, "applied"),
    lead: num(o, "lead"),
    state: str(o, "state"),
    snapshotIndex: typeof o.snapshotIndex === "number" ? o.snapshotIndex : 0,
    members,
    progress,
    kv,
  };
}

/** The leader among `nodes`: the reachable node in StateLeader with the highest term; else undefined. */
export function leaderOf(nodes: readonly LiveNode[]): LiveNode | undefined {
  let best: LiveNode | undefined;
  for (const n of nodes) {
    const s = n.status;
    if (n.error !== undefined || s?.state !== "StateLeader") continue;
    if (best === undefined || s.term > best.status!.term) best = n;
  }
  return best;
}

/** Splits the URL box: comma, space or newline separated; trailing slashes dropped; http:// added. */
export function parseUrls(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .filter((u) => u !== "")
    .map((u) => (/^https?:\/\//.test(u) ? u : `http://${u}`).replace(/\/+$/, ""));
}

/** The URL the page fetches to reach `target` through the visualizer's server. */
export function proxied(target: string): string {
  return `proxy?url=${encodeURIComponent(target)}`;
}

/** A node's role as drawn, from its `/status` state. */
export function liveRole(n: LiveNode): string {
  if (n.error !== undefined || n.status === undefined) return "down";
  switch (n.status.state) {
    case "StateLeader":
      return "leader";
    case "StateCandidate":
      return "candidate";
    case "StatePreCandidate":
      return "pre-candidate";
    default:
      return "follower";
  }
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new StatusShapeError(`${what}: not an object`);
  return v as Record<string, unknown>;
}

function num(o: Record<string, unknown>, k: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new StatusShapeError(`${k}: not a number`);
  return v;
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== "string") throw new StatusShapeError(`${k}: not a string`);
  return v;
}
