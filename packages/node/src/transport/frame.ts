/**
 * The transport's wire format: what one WebSocket binary message carries.
 *
 * Every message is one *frame*: a kind byte, then the body. Bodies are protobuf (proto3-style
 * varints and length-delimited fields) so any protobuf tool can read them once the kind byte is
 * stripped; a batch body is exactly `message Batch { repeated raftpb.Message messages = 1; }`.
 * The table lives in packages/node/README.md ("Wire format"); keep the two in step.
 *
 * Decoders here never trust a length or a number: every read is bounds-checked, numbers above
 * 2^53 − 1 are refused, and every failure is a {@link RaftError} with code "Decode" — the caller
 * drops the frame and counts it.
 */
import { RaftError } from "@tsraft/raft";
import {
  type DecodeOptions,
  decodeMessage,
  EMPTY_BYTES,
  encodeMessage,
  type Message,
  putVarint,
  varintSize,
} from "@tsraft/raft/raftpb";
import protobuf from "protobufjs/minimal.js";

/**
 * The protocol version this code speaks; a peer offering another one is refused (close 4005).
 * 2: snapshot streams carry the state machine image after a header without a size (version 1 sent
 * the whole `snapshot.data` in chunks after a header that declared its length).
 */
export const PROTOCOL_VERSION = 2;

/** The HTTP path of the WebSocket endpoint, appended to a peer's URL. */
export const RAFT_PATH = "/raft";

/**
 * The first byte of every frame. Wire constants are plain objects (as {@link CloseCode}), so that the
 * module is erasable TypeScript; the type of the same name is the union of the values.
 */
export const FrameKind = {
  /** Dialer → acceptor, first frame on every connection. */
  Hello: 1,
  /** Acceptor → dialer: the handshake was accepted; the acceptor's own credentials. */
  HelloAck: 2,
  /** A batch of raft messages (stream connections only, both directions). */
  Batch: 3,
  /** Snapshot connection: the MsgSnap (its `snapshot.data` is the node's metadata, not the image). */
  SnapHeader: 4,
  /** Snapshot connection: the next piece of the state machine image, raw (never empty). */
  SnapChunk: 5,
  /** Snapshot connection: total length and SHA-256 of the image. */
  SnapTrailer: 6,
  /** Snapshot connection, receiver → sender: the image was verified and the node has stored it. */
  SnapAck: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** What a connection is for, named in the handshake. */
export const ConnKind = {
  /** The one long-lived connection per peer pair carrying message batches both ways. */
  Stream: 1,
  /** A short-lived connection carrying one MsgSnap and its image, sender → receiver. */
  Snapshot: 2,
} as const;
export type ConnKind = (typeof ConnKind)[keyof typeof ConnKind];

/**
 * Close codes the transport uses (4000–4999 is the application range of RFC 6455). ws itself closes
 * with 1009 when a frame exceeds maxPayload and 1002 on a framing error.
 */
export const CloseCode = {
  /** The first frame was not a well-formed handshake, or a frame came that the connection's kind forbids. */
  BadHandshake: 4000,
  ClusterMismatch: 4001,
  /** The sender is not (or no longer) a member of the cluster. */
  NotMember: 4002,
  /** The handshake names another node as its receiver. */
  WrongReceiver: 4003,
  BadToken: 4004,
  UnsupportedVersion: 4005,
  HandshakeTimeout: 4006,
  /** A newer connection from the same peer replaced this one (the peer restarted or redialed). */
  Superseded: 4007,
  /** The higher id dialed the lower one; the lower id dials (one connection per pair). */
  WrongDirection: 4008,
  /** The peer was removed or its URL changed. */
  PeerRemoved: 4009,
  /**
   * A snapshot stream failed: verification (length, checksum, size limit), a stall, a malformed
   * frame, or the receiving node refused or failed to store the image.
   */
  SnapshotRejected: 4010,
  /**
   * The dialer was removed from the cluster (ids are never reused): it must not dial again. A member
   * removed while it was down learns so from this at restart (etcd answers it 410 Gone).
   */
  MemberRemoved: 4011,
  /** Normal shutdown of the transport. */
  GoingAway: 1001,
} as const;

/** The handshake, sent by the dialer (Hello) and answered by the acceptor (HelloAck). */
export interface Hello {
  version: number;
  clusterId: number;
  /** The node sending this hello. */
  from: number;
  /** The node it expects to be talking to. */
  to: number;
  kind: ConnKind;
  /** The shared cluster token, empty when none is configured. */
  token: Uint8Array;
}

/** The trailer of a snapshot stream: what the receiver checks the image it got against. */
export interface SnapTrailer {
  /** The image's length in bytes (the sum of the chunks' lengths). */
  size: number;
  /** SHA-256 of the image (32 bytes). */
  sha256: Uint8Array;
}

/** Bytes in a SHA-256 digest; a trailer carrying another length is malformed. */
export const SHA256_BYTES = 32;

const { Writer } = protobuf;

/** The two handshake frames' kinds. */
type HelloKind = typeof FrameKind.Hello | typeof FrameKind.HelloAck;

/** Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited). */
const tag = (field: number, wireType: 0 | 2): number => (field << 3) | wireType;

/** Encodes a Hello or HelloAck frame. */
export function encodeHello(kind: HelloKind, h: Hello): Uint8Array {
  const w = Writer.create();
  w.uint32(kind);
  w.uint32(tag(1, 0)).uint32(h.version);
  w.uint32(tag(2, 0)).uint64(h.clusterId);
  w.uint32(tag(3, 0)).uint64(h.from);
  w.uint32(tag(4, 0)).uint64(h.to);
  w.uint32(tag(5, 0)).uint32(h.kind);
  if (h.token.length > 0) w.uint32(tag(6, 2)).bytes(h.token);
  return w.finish();
}

/** Decodes a Hello/HelloAck frame of the given kind; unknown fields are skipped (forward compatibility). */
export function decodeHello(kind: HelloKind, frame: Uint8Array): Hello {
  const r = new FrameReader(frame, kind);
  const h: Hello = { version: 0, clusterId: 0, from: 0, to: 0, kind: 0 as ConnKind, token: EMPTY_BYTES };
  while (r.more()) {
    const t = r.tag();
    switch (t) {
      case tag(1, 0):
        h.version = r.varint("version");
        break;
      case tag(2, 0):
        h.clusterId = r.varint("clusterId");
        break;
      case tag(3, 0):
        h.from = r.varint("from");
        break;
      case tag(4, 0):
        h.to = r.varint("to");
        break;
      case tag(5, 0):
        h.kind = r.varint("kind") as ConnKind; // checked by the handshake (handshake.ts)
        break;
      case tag(6, 2):
        h.token = r.bytes();
        break;
      default:
        r.skip(t);
    }
  }
  return h;
}

/**
 * Encodes a batch of messages as one frame: the kind byte, then each message as field 1.
 * The caller keeps the frame under the peer's maxPayload (see `messageSizeBound`).
 *
 * The hot path: each message is encoded once by the raftpb codec (one sized pass), then the frame is
 * assembled in one allocation. That is a quarter faster than handing the encodings to protobufjs's
 * Writer, which builds an operation list before it copies, and gives the same bytes.
 */
export function encodeBatch(messages: readonly Message[]): Uint8Array {
  const encoded: Uint8Array[] = new Array(messages.length);
  let size = 1;
  for (let i = 0; i < messages.length; i++) {
    const e = encodeMessage(messages[i]!);
    encoded[i] = e;
    size += 1 + varintSize(e.length) + e.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = FrameKind.Batch;
  let pos = 1;
  for (const e of encoded) {
    out[pos++] = tag(1, 2);
    pos = putVarint(out, pos, e.length);
    out.set(e, pos);
    pos += e.length;
  }
  return out;
}

/** raftpb's option for decoding straight out of a frame the transport owns (see decodeBatch). */
const IN_PLACE: DecodeOptions = { aliasInput: true };

/**
 * Messages of this many encoded bytes or more are decoded in place (see {@link decodeBatch}); smaller
 * ones are copied, as raftpb does by default.
 */
export const IN_PLACE_MIN_BYTES = 16 * 1024;

/**
 * Decodes a batch frame, all or nothing: a frame with any malformed message, or any field other than
 * `messages`, throws and none of its messages may be delivered.
 *
 * A message of {@link IN_PLACE_MIN_BYTES} or more has its bytes fields (entries' `data`, `context`)
 * as views into `frame`, not copies: with 16 KiB entries, that copy (a fresh ArrayBuffer per
 * message) was a follower's biggest allocation per write. The caller hands over `frame` and never
 * writes to it or reuses it. That holds for ws's messages (ws 8, lib/receiver.js): a binary message
 * is a view into one socket read (Node allocates a fresh buffer per read and never refills it) or,
 * if it spans reads, a fresh `Buffer.allocUnsafe` the fragments are copied into; masked payloads are
 * unmasked in place before the message is emitted, and ws keeps no reference after it.
 *
 * Smaller messages are still copied: the copy is cheap there (carved from a pooled slab below 4
 * KiB), and in `pnpm bench transport/msgapp-64x128B` (9 KB messages in 1 MiB frames) decoding them
 * in place cost the receiver more than it saved: with nothing else allocated between ws's 1 MiB frame
 * buffers, glibc kept handing their memory back to the kernel and faulting it in again (2–4× the
 * page faults, twice the system time).
 *
 * Memory: an entry the log keeps keeps its frame's ArrayBuffer alive until log compaction drops the
 * entry. That buffer is one socket read (at most 64 KiB: at most 4× a message decoded in place) or
 * one frame (at most maxBatchBytes, 1 MiB by default, or a single message up to maxPayload), holding
 * nothing but this stream's messages; under load those are MsgApps whose entries the log keeps
 * anyway, so the overhead is their headers.
 */
export function decodeBatch(frame: Uint8Array): Message[] {
  const r = new FrameReader(frame, FrameKind.Batch);
  const out: Message[] = [];
  while (r.more()) {
    const t = r.tag();
    if (t !== tag(1, 2)) throw decodeFailure(`batch: unexpected field tag ${t}`);
    const m = r.bytes();
    out.push(decodeMessage(m, m.length >= IN_PLACE_MIN_BYTES ? IN_PLACE : undefined));
  }
  return out;
}

/**
 * Encodes the header of a snapshot stream: the MsgSnap as it is, `snapshot.data` included (the
 * sending node's small metadata; the image follows in chunks, its size unknown until the trailer).
 */
export function encodeSnapHeader(m: Message): Uint8Array {
  const w = Writer.create();
  w.uint32(FrameKind.SnapHeader);
  w.uint32(tag(1, 2)).bytes(encodeMessage(m));
  return w.finish();
}

/**
 * Decodes a snapshot header into its message; throws a "Decode" RaftError if it is malformed or
 * carries no message. Unknown fields are skipped; the receiver checks that the message is a MsgSnap
 * addressed to it.
 */
export function decodeSnapHeader(frame: Uint8Array): Message {
  const r = new FrameReader(frame, FrameKind.SnapHeader);
  let message: Message | undefined;
  while (r.more()) {
    const t = r.tag();
    if (t === tag(1, 2)) message = decodeMessage(r.bytes());
    else r.skip(t);
  }
  if (message === undefined) throw decodeFailure("snapshot header: no message");
  return message;
}

/**
 * Encodes a chunk frame. Copies `data` once (behind the kind byte). The sender builds its frames in
 * place instead (snapshot-sender.ts); this is for tests and tools.
 */
export function encodeSnapChunk(data: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = FrameKind.SnapChunk;
  out.set(data, 1);
  return out;
}

/**
 * The data of a chunk frame: a plain Uint8Array view (not a copy, and not a Buffer, whose `slice`
 * would alias where Uint8Array's copies).
 */
export function snapChunkData(frame: Uint8Array): Uint8Array {
  return new Uint8Array(frame.buffer, frame.byteOffset + 1, frame.byteLength - 1);
}

/** Encodes the trailer that closes a snapshot stream: the image's length and its SHA-256. */
export function encodeSnapTrailer(t: SnapTrailer): Uint8Array {
  const w = Writer.create();
  w.uint32(FrameKind.SnapTrailer);
  w.uint32(tag(1, 0)).uint64(t.size);
  w.uint32(tag(2, 2)).bytes(t.sha256);
  return w.finish();
}

/**
 * Decodes a snapshot trailer; the receiver compares both fields with what it received. A digest that
 * is not 32 bytes long is malformed.
 */
export function decodeSnapTrailer(frame: Uint8Array): SnapTrailer {
  const r = new FrameReader(frame, FrameKind.SnapTrailer);
  const t: SnapTrailer = { size: 0, sha256: EMPTY_BYTES };
  while (r.more()) {
    const f = r.tag();
    if (f === tag(1, 0)) t.size = r.varint("size");
    else if (f === tag(2, 2)) t.sha256 = r.bytes();
    else r.skip(f);
  }
  if (t.sha256.length !== SHA256_BYTES) {
    throw decodeFailure(`snapshot trailer: SHA-256 of ${t.sha256.length} bytes`);
  }
  return t;
}

/** The one-byte acknowledgement of a verified and stored snapshot. */
export const SNAP_ACK: Uint8Array = Uint8Array.of(FrameKind.SnapAck);

function decodeFailure(message: string): RaftError {
  return new RaftError("Decode", `transport: ${message}`);
}

/**
 * A bounds-checked reader over a frame body (the frame minus its kind byte). Lengths are checked
 * against the bytes actually present before anything is sliced, so a declared length of 2^50 costs
 * nothing but the error. Invariant: 1 ≤ pos ≤ buf.length.
 */
class FrameReader {
  private pos = 1;
  private readonly buf: Uint8Array;
  constructor(frame: Uint8Array, kind: FrameKind) {
    if (frame[0] !== kind) throw decodeFailure(`expected frame kind ${kind}, got ${frame[0]}`);
    // Read through a plain Uint8Array view (ws hands out Buffers), so the bytes fields handed out
    // are plain Uint8Array views too.
    this.buf = new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
  }

  more(): boolean {
    return this.pos < this.buf.length;
  }

  tag(): number {
    const t = this.varint("tag");
    if (t >>> 3 === 0 || t > 0xffffffff) throw decodeFailure(`invalid field tag ${t}`);
    return t;
  }

  /** A varint as a safe integer. */
  varint(what: string): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos];
      if (b === undefined) throw decodeFailure(`${what}: truncated varint`);
      this.pos++;
      v += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(v)) throw decodeFailure(`${what}: value above 2^53-1`);
        return v;
      }
      mul *= 128;
    }
    throw decodeFailure(`${what}: varint longer than 10 bytes`);
  }

  /** A length-delimited field's bytes: a view into the frame. */
  bytes(): Uint8Array {
    const n = this.varint("length");
    const end = this.pos + n;
    if (end > this.buf.length) throw decodeFailure(`length ${n} runs past the end of the frame`);
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips an unknown field of the wire types proto3 still uses. */
  skip(t: number): void {
    switch (t & 7) {
      case 0:
        this.varint("unknown field");
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw decodeFailure(`unsupported wire type ${t & 7}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw decodeFailure("truncated fixed-width field");
    this.pos += n;
  }
}
