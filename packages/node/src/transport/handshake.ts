/**
 * The connection handshake: the dialer's Hello and the acceptor's HelloAck, and the checks each side
 * makes on the other's. Nothing but a Hello is accepted before a connection is authenticated, and a
 * connection that fails a check is closed with one of {@link CloseCode}'s codes and a reason.
 */
import { timingSafeEqual } from "node:crypto";
import type { RawData } from "ws";
import { CloseCode, ConnKind, type Hello, PROTOCOL_VERSION } from "./frame.js";
import { type ResolvedOptions, tokenDigest } from "./options.js";

/** Why a handshake was refused: the close code and reason sent, and the metric label counted. */
export interface Refusal {
  code: number;
  reason: string;
  /** The `reason` label of `framesRejected`. */
  metric: string;
}

/** This node's Hello (or HelloAck) to `to` on a connection of `kind`. */
export function localHello(o: ResolvedOptions, to: number, kind: ConnKind): Hello {
  return { version: PROTOCOL_VERSION, clusterId: o.clusterId, from: o.id, to, kind, token: o.token };
}

/** Constant-time token check. With no local token configured, any token passes. */
export function tokenMatches(local: Uint8Array, localDigest: Buffer, presented: Uint8Array): boolean {
  if (local.length === 0) return true;
  // Digests have a fixed length, so neither the comparison's time nor its early exit on a length
  // mismatch tells an attacker anything about the token.
  return timingSafeEqual(localDigest, tokenDigest(presented));
}

/** The checks both sides make: version, token, cluster, and that the hello is addressed to us. */
function checkCommon(o: ResolvedOptions, digest: Buffer, h: Hello): Refusal | undefined {
  if (h.version !== PROTOCOL_VERSION) {
    return {
      code: CloseCode.UnsupportedVersion,
      reason: `unsupported protocol version ${h.version}`,
      metric: "version",
    };
  }
  if (!tokenMatches(o.token, digest, h.token)) {
    return { code: CloseCode.BadToken, reason: "bad cluster token", metric: "bad-token" };
  }
  if (h.clusterId !== o.clusterId) {
    return {
      code: CloseCode.ClusterMismatch,
      reason: `cluster id mismatch: local ${o.clusterId}, remote ${h.clusterId}`,
      metric: "cluster-mismatch",
    };
  }
  if (h.to !== o.id) {
    return {
      code: CloseCode.WrongReceiver,
      reason: `receiver mismatch: this is ${o.id}, not ${h.to}`,
      metric: "wrong-receiver",
    };
  }
  if (h.kind !== ConnKind.Stream && h.kind !== ConnKind.Snapshot) {
    return {
      code: CloseCode.BadHandshake,
      reason: `unknown connection kind ${h.kind}`,
      metric: "bad-handshake",
    };
  }
  return undefined;
}

/**
 * The acceptor's checks on a Hello. `isMember` answers for the sender (peer set and the handler's
 * membership test). Stream connections must come from the lower id of the pair — the rule that
 * keeps one connection per pair; snapshot connections may come from either side.
 */
export function checkHello(
  o: ResolvedOptions,
  digest: Buffer,
  h: Hello,
  isMember: (id: number) => boolean,
  isRemoved: (id: number) => boolean = () => false,
): Refusal | undefined {
  const common = checkCommon(o, digest, h);
  if (common !== undefined) return common;
  if (h.from !== 0 && h.from !== o.id && isRemoved(h.from)) {
    return {
      code: CloseCode.MemberRemoved,
      reason: `sender ${h.from} was removed from cluster ${o.clusterId}`,
      metric: "removed-member",
    };
  }
  if (h.from === 0 || h.from === o.id || !isMember(h.from)) {
    return {
      code: CloseCode.NotMember,
      reason: `sender ${h.from} is not a member of cluster ${o.clusterId}`,
      metric: "non-member",
    };
  }
  if (h.kind === ConnKind.Stream && h.from > o.id) {
    return {
      code: CloseCode.WrongDirection,
      reason: `stream connections are dialed by the lower id; ${o.id} dials ${h.from}`,
      metric: "wrong-direction",
    };
  }
  return undefined;
}

/** The dialer's checks on a HelloAck: the same, plus that it comes from the peer we dialed. */
export function checkHelloAck(
  o: ResolvedOptions,
  digest: Buffer,
  h: Hello,
  peer: number,
  kind: ConnKind,
): Refusal | undefined {
  const common = checkCommon(o, digest, h);
  if (common !== undefined) return common;
  if (h.from !== peer || h.kind !== kind) {
    return {
      code: CloseCode.WrongReceiver,
      reason: `dialed ${peer} but ${h.from} answered`,
      metric: "wrong-receiver",
    };
  }
  return undefined;
}

/** A received WebSocket message as one Buffer (ws hands out Buffer by default; the others are normalized). */
export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
