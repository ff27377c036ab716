/**
 * What the RaftNode adds around the application's bytes, in the log and in snapshots:
 *
 * - **Proposal envelope** (EntryNormal data): `0x01`, then uvarints `node`, `nonce`, `seq`, then the
 *   payload. (node, nonce, seq) is the request id: the proposing node (`node`, in the run started
 *   with boot `nonce`) matches the applied entry to its waiting promise by `seq`; the state machine
 *   only sees the payload. An empty entry is a new leader's no-op.
 * - **Conf-change context** (ConfChange.context): UTF-8 JSON `{"url"?, "promote"?, "req"?}`: the
 *   member's peer URL (etcd carries it the same way), a promotion flag, and the request id.
 * - **Snapshot data** (raftpb Snapshot.data): `"TSRN"`, version byte 1, a u32 big-endian length, that
 *   many bytes of JSON `{"members": [{id, url, learner}], "removed": [ids]}`, then the state
 *   machine's snapshot bytes. Membership thus survives log compaction and restarts.
 * - **WAL metadata**: UTF-8 JSON `{"id", "clusterId"}`, checked at restart.
 */
import type { Member } from "./membership.js";

/** The first byte of a proposal envelope (any other first byte is not one of ours). */
const PROPOSAL_VERSION = 0x01;

/** The id of a request, unique across the cluster's history: node id, boot nonce, counter. */
export interface RequestId {
  readonly node: number;
  readonly nonce: number;
  readonly seq: number;
}

function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function putUvarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 128) {
    out[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/** Reads a uvarint at `at`; undefined if it is truncated or above 2^53 − 1. */
function getUvarint(b: Uint8Array, at: number): { v: number; next: number } | undefined {
  let v = 0;
  let mul = 1;
  for (let i = at; i < b.length; i++) {
    const c = b[i]!;
    v += (c & 0x7f) * mul;
    if (c < 0x80) return Number.isSafeInteger(v) ? { v, next: i + 1 } : undefined;
    mul *= 128;
    if (mul > 2 ** 56) return undefined;
  }
  return undefined;
}

/** Wraps `payload` with its request id for `RawNode.propose`. */
export function encodeProposal(id: RequestId, payload: Uint8Array): Uint8Array {
  const head = 1 + uvarintSize(id.node) + uvarintSize(id.nonce) + uvarintSize(id.seq);
  const out = new Uint8Array(head + payload.length);
  out[0] = PROPOSAL_VERSION;
  let at = putUvarint(out, 1, id.node);
  at = putUvarint(out, at, id.nonce);
  at = putUvarint(out, at, id.seq);
  out.set(payload, at);
  return out;
}

/** Unwraps an EntryNormal's data; undefined if it is not a proposal envelope. */
export function decodeProposal(data: Uint8Array): { id: RequestId; payload: Uint8Array } | undefined {
  if (data.length === 0 || data[0] !== PROPOSAL_VERSION) return undefined;
  const node = getUvarint(data, 1);
  if (node === undefined) return undefined;
  const nonce = getUvarint(data, node.next);
  if (nonce === undefined) return undefined;
  const seq = getUvarint(data, nonce.next);
  if (seq === undefined) return undefined;
  return { id: { node: node.v, nonce: nonce.v, seq: seq.v }, payload: data.subarray(seq.next) };
}

/** The context of a conf change the node proposes. */
export interface ConfChangeContext {
  /** The member's peer URL (adds). */
  readonly url?: string;
  /** An AddNode that promotes an existing learner (etcd's IsPromote). */
  readonly promote?: boolean;
  /** The proposing request, as [node, nonce, seq]. */
  readonly req?: RequestId;
}

/** Encodes a conf change's context (see the file comment). */
export function encodeConfChangeContext(ctx: ConfChangeContext): Uint8Array {
  const j: Record<string, unknown> = {};
  if (ctx.url !== undefined) j.url = ctx.url;
  if (ctx.promote === true) j.promote = true;
  if (ctx.req !== undefined) j.req = [ctx.req.node, ctx.req.nonce, ctx.req.seq];
  return new TextEncoder().encode(JSON.stringify(j));
}

/** Decodes a conf change's context; an empty or foreign context gives `{}`. */
export function decodeConfChangeContext(b: Uint8Array): ConfChangeContext {
  if (b.length === 0) return {};
  let j: unknown;
  try {
    j = JSON.parse(new TextDecoder().decode(b));
  } catch {
    return {};
  }
  if (typeof j !== "object" || j === null) return {};
  const o = j as Record<string, unknown>;
  const ctx: { url?: string; promote?: boolean; req?: RequestId } = {};
  if (typeof o.url === "string") ctx.url = o.url;
  if (o.promote === true) ctx.promote = true;
  const r = o.req;
  if (Array.isArray(r) && r.length === 3 && r.every((x) => Number.isSafeInteger(x) && x >= 0)) {
    ctx.req = { node: r[0] as number, nonce: r[1] as number, seq: r[2] as number };
  }
  return ctx;
}

/** The membership part of a snapshot. */
export interface MembershipState {
  readonly members: readonly Member[];
  readonly removed: readonly number[];
}

const SNAP_MAGIC = [0x54, 0x53, 0x52, 0x4e]; // "TSRN"
const SNAP_VERSION = 1;
const SNAP_HEAD = SNAP_MAGIC.length + 1 + 4;

/** Builds a snapshot's data from the membership and the state machine's snapshot. */
export function encodeSnapshotData(m: MembershipState, app: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({
      members: m.members.map((x) => ({ id: x.id, url: x.url, learner: x.learner })),
      removed: [...m.removed],
    }),
  );
  const out = new Uint8Array(SNAP_HEAD + header.length + app.length);
  out.set(SNAP_MAGIC, 0);
  out[4] = SNAP_VERSION;
  new DataView(out.buffer).setUint32(5, header.length);
  out.set(header, SNAP_HEAD);
  out.set(app, SNAP_HEAD + header.length);
  return out;
}

/** Splits a snapshot's data; throws an Error saying what is wrong if it is not one of ours. */
export function decodeSnapshotData(data: Uint8Array): MembershipState & { app: Uint8Array } {
  if (data.length < SNAP_HEAD || SNAP_MAGIC.some((c, i) => data[i] !== c)) {
    throw new Error("snapshot data is not a RaftNode snapshot (bad magic)");
  }
  if (data[4] !== SNAP_VERSION) throw new Error(`unsupported RaftNode snapshot version ${data[4]}`);
  const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(5);
  if (SNAP_HEAD + len > data.length) throw new Error("RaftNode snapshot header runs past the data");
  const j = JSON.parse(new TextDecoder().decode(data.subarray(SNAP_HEAD, SNAP_HEAD + len))) as {
    members?: unknown;
    removed?: unknown;
  };
  if (!Array.isArray(j.members) || !Array.isArray(j.removed)) {
    throw new Error("RaftNode snapshot header lacks members or removed");
  }
  const members: Member[] = j.members.map((x: { id: unknown; url: unknown; learner: unknown }) => {
    if (!Number.isSafeInteger(x.id) || typeof x.url !== "string") throw new Error("bad member in snapshot");
    return { id: x.id as number, url: x.url, learner: x.learner === true };
  });
  const removed = j.removed.filter((x): x is number => Number.isSafeInteger(x));
  return { members, removed, app: data.subarray(SNAP_HEAD + len) };
}

/** The WAL's metadata: which node and cluster the log belongs to. */
export function encodeWalMetadata(id: number, clusterId: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ id, clusterId }));
}

/** Decodes the WAL's metadata; undefined if it is not ours. */
export function decodeWalMetadata(b: Uint8Array): { id: number; clusterId: number } | undefined {
  try {
    const j = JSON.parse(new TextDecoder().decode(b)) as { id?: unknown; clusterId?: unknown };
    if (Number.isSafeInteger(j.id) && Number.isSafeInteger(j.clusterId)) {
      return { id: j.id as number, clusterId: j.clusterId as number };
    }
  } catch {
    // fall through
  }
  return undefined;
}
