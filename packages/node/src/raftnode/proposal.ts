/**
 * What the RaftNode adds around the application's bytes in log entries (docs/architecture.md,
 * "Formats"):
 *
 * - **Proposal envelope** (EntryNormal data): `0x01`, then uvarints `node`, `nonce`, `seq`, then the
 *   payload. (node, nonce, seq) is the request id: the proposing node (`node`, in the run started
 *   with boot `nonce`) matches the applied entry to its waiting promise by `seq`; the state machine
 *   only sees the payload. An empty entry is a new leader's no-op.
 * - **Conf-change context** (ConfChange.context): UTF-8 JSON `{"url"?, "promote"?, "req"?}`: the
 *   member's peer URL (etcd carries it the same way), a promotion flag, and the request id.
 */

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
