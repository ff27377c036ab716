/**
 * Bookkeeping for ReadIndex requests on the leader (Raft thesis §6.4).
 *
 * In the safe mode each read is stamped with the leader's commit index and then confirmed by a
 * quorum of heartbeat acknowledgements proving the leader was still the leader when it took the
 * stamp. Heartbeats carry a position in the stream of reads (an 8-byte little-endian counter) as
 * their context; a follower echoes it back, and a quorum acknowledging position p confirms every
 * read up to p at once.
 */
import type { JointConfig } from "./quorum/joint.js";
import type { Message } from "./raftpb/types.js";

/**
 * How a leader answers ReadIndex requests. The values are also accepted as the plain strings
 * `"safe"` and `"lease-based"` in `Config.readOnlyOption`.
 */
export enum ReadOnlyOption {
  /**
   * Linearizable reads confirmed by a round of heartbeats to a quorum. The default and the
   * recommended option.
   */
  ReadOnlySafe = "safe",
  /**
   * Reads answered from the leader's lease (its belief that no other leader can exist until an
   * election timeout has passed). Cheaper, but relies on bounded clock drift; requires CheckQuorum.
   */
  ReadOnlyLeaseBased = "lease-based",
}

/** A pending read: the request and the commit index it was stamped with. */
export interface ReadIndexRequest {
  readonly req: Message;
  readonly index: number;
}

/** The leader's queue of ReadIndex requests awaiting confirmation by a quorum. */
export class ReadOnly {
  readonly option: ReadOnlyOption;
  /** Per voter, the highest read position it acknowledged. */
  private readonly acks = new Map<number, number>();
  /** Reads not yet confirmed, oldest first. */
  private unconfirmedReads: ReadIndexRequest[] = [];
  /**
   * How many reads were confirmed (and dropped from the head of `unconfirmedReads`) so far.
   * Invariant: the read at `unconfirmedReads[i]` has position `confirmedReads + i + 1`.
   */
  private confirmedReads = 0;

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /** Queues `req`, stamped with the commit index it must wait for. */
  addRequest(commitIndex: number, req: Message): void {
    this.unconfirmedReads.push({ req, index: commitIndex });
  }

  /** Records that `from` acknowledged the heartbeat carrying context `ctx`. */
  recvAck(from: number, ctx: Uint8Array): void {
    if (ctx.length === 0) return;
    const pos = decodeReadPosition(ctx);
    if (pos === undefined) return;
    const prev = this.acks.get(from);
    if (prev === undefined || pos > prev) this.acks.set(from, pos);
  }

  /** The highest read position a voter acknowledged (the quorum code's AckedIndexer). */
  private readonly ackedIndex = (voterId: number): number | undefined => this.acks.get(voterId);

  /**
   * Returns the reads a quorum of `voters` has now confirmed, oldest first, and forgets them.
   * Reads are confirmed in order: a quorum acknowledging position p confirms every read up to p.
   */
  maybeAdvance(voters: JointConfig): ReadIndexRequest[] {
    const newConfirmed = voters.committedIndex(this.ackedIndex);
    if (newConfirmed <= this.confirmedReads) return [];
    const n = Math.min(newConfirmed - this.confirmedReads, this.unconfirmedReads.length);
    const done = this.unconfirmedReads.slice(0, n);
    this.unconfirmedReads = this.unconfirmedReads.slice(n);
    this.confirmedReads = newConfirmed;
    return done;
  }

  /**
   * The context for the next heartbeat: the position of the newest pending read, or an empty array
   * when none is pending (the heartbeat then confirms nothing).
   */
  heartbeatCtx(): Uint8Array {
    if (this.unconfirmedReads.length === 0) return EMPTY_CTX;
    return encodeReadPosition(this.confirmedReads + this.unconfirmedReads.length);
  }

  /** The number of reads waiting for confirmation (for tests and status). */
  pendingCount(): number {
    return this.unconfirmedReads.length;
  }
}

const EMPTY_CTX = new Uint8Array(0);

/** Encodes a safe integer as 8 bytes, little endian (etcd's binary.LittleEndian.PutUint64). */
function encodeReadPosition(v: number): Uint8Array {
  const b = new Uint8Array(8);
  let lo = v % 0x100000000;
  let hi = Math.floor(v / 0x100000000);
  for (let i = 0; i < 4; i++) {
    b[i] = lo & 0xff;
    lo = Math.floor(lo / 256);
    b[4 + i] = hi & 0xff;
    hi = Math.floor(hi / 256);
  }
  return b;
}

/**
 * Decodes a context written by {@link encodeReadPosition}. A context shorter than 8 bytes (which
 * no tsraft or etcd leader sends) acknowledges nothing; etcd would crash on it.
 */
function decodeReadPosition(ctx: Uint8Array): number | undefined {
  if (ctx.length < 8) return undefined;
  let lo = 0;
  let hi = 0;
  for (let i = 3; i >= 0; i--) {
    lo = lo * 256 + ctx[i]!;
    hi = hi * 256 + ctx[4 + i]!;
  }
  return hi * 0x100000000 + lo;
}
