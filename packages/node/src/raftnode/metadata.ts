/**
 * What the RaftNode stores beside the state machine's image (docs/architecture.md, "Formats"):
 *
 * - **Snapshot metadata** (raftpb Snapshot.data, in `.snap` files, MemoryStorage and MsgSnap):
 *   `"TSRN"`, version byte 2, a u32 big-endian length, that many bytes of UTF-8 JSON
 *   `{"members": [{id, url, learner}], "removed": [ids], "image"?: {"size", "sha256"}}`. Membership
 *   thus survives log compaction and restarts. `image` describes the state machine image file kept
 *   beside the `.snap` file (absent when the state machine is durable on its own, and in MsgSnap,
 *   whose image travels as a stream). Version 1 (earlier releases) appended the state machine's
 *   whole image after the JSON; it is still read.
 * - **WAL metadata**: UTF-8 JSON `{"id", "clusterId"}`, checked at restart.
 */
import type { Member } from "./membership.js";

/** The state machine image file that goes with a snapshot. */
export interface ImageInfo {
  readonly size: number;
  /** SHA-256 of the file's content, lower-case hex. */
  readonly sha256: string;
}

/** The node's part of a snapshot: the membership at its index, and where its image is. */
export interface SnapshotMetadata {
  readonly members: readonly Member[];
  readonly removed: readonly number[];
  readonly image?: ImageInfo;
  /** Version 1 only: the image itself, inline. */
  readonly inlineImage?: Uint8Array;
}

const SNAP_MAGIC = [0x54, 0x53, 0x52, 0x4e]; // "TSRN"
const SNAP_VERSION = 2;
const SNAP_HEAD = SNAP_MAGIC.length + 1 + 4;

/** Encodes the node's snapshot metadata (see the file comment). */
export function encodeSnapshotMetadata(m: SnapshotMetadata): Uint8Array {
  const json: Record<string, unknown> = {
    members: m.members.map((x) => ({ id: x.id, url: x.url, learner: x.learner })),
    removed: [...m.removed],
  };
  if (m.image !== undefined) json.image = { size: m.image.size, sha256: m.image.sha256 };
  const header = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(SNAP_HEAD + header.length);
  out.set(SNAP_MAGIC, 0);
  out[4] = SNAP_VERSION;
  new DataView(out.buffer).setUint32(5, header.length);
  out.set(header, SNAP_HEAD);
  return out;
}

/** Decodes a snapshot's metadata; throws an Error saying what is wrong if it is not one of ours. */
export function decodeSnapshotMetadata(data: Uint8Array): SnapshotMetadata {
  if (data.length < SNAP_HEAD || SNAP_MAGIC.some((c, i) => data[i] !== c)) {
    throw new Error("snapshot data is not a RaftNode snapshot (bad magic)");
  }
  const version = data[4];
  if (version !== 1 && version !== SNAP_VERSION)
    throw new Error(`unsupported RaftNode snapshot version ${version}`);
  const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(5);
  if (SNAP_HEAD + len > data.length) throw new Error("RaftNode snapshot header runs past the data");
  const j = JSON.parse(new TextDecoder().decode(data.subarray(SNAP_HEAD, SNAP_HEAD + len))) as {
    members?: unknown;
    removed?: unknown;
    image?: { size?: unknown; sha256?: unknown };
  };
  if (!Array.isArray(j.members) || !Array.isArray(j.removed)) {
    throw new Error("RaftNode snapshot header lacks members or removed");
  }
  const members: Member[] = j.members.map((x: { id: unknown; url: unknown; learner: unknown }) => {
    if (!Number.isSafeInteger(x.id) || typeof x.url !== "string") throw new Error("bad member in snapshot");
    return { id: x.id as number, url: x.url, learner: x.learner === true };
  });
  const removed = j.removed.filter((x): x is number => Number.isSafeInteger(x));
  if (version === 1) return { members, removed, inlineImage: data.subarray(SNAP_HEAD + len) };
  if (j.image === undefined) return { members, removed };
  const { size, sha256 } = j.image;
  if (!Number.isSafeInteger(size) || typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) {
    throw new Error("bad image description in RaftNode snapshot header");
  }
  return { members, removed, image: { size: size as number, sha256 } };
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
    // fall through: not ours
  }
  return undefined;
}
