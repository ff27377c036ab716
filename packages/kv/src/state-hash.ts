/**
 * The state digest of `/debug/hash` (SqliteStateMachine.stateHash), the one definition of it: the
 * state machine feeds it from its own connection (mvcc-store.ts `hashInto`, then the idempotency
 * table's), and a snapshot feeds it the rows it reads for its image (sqlite-snapshot.ts), so a
 * backup names the digest of the state it holds, taken from the source's own database at the
 * backup's index, and a node restored from it must answer the same digest at that index.
 *
 * SHA-256 over, in this order, each field length-prefixed (u32 big-endian; an absent field, a
 * delete's value, is the length 0xffffffff alone; numbers as their decimal digits):
 * - the revision and the compact revision;
 * - every key in key order: key, value, create revision, mod revision, version;
 * - an absent field (between the keys and the history);
 * - every change of the history in (revision, sub) order: revision, sub, key, value, create
 *   revision, version, previous mod revision, previous value;
 * - only if there are any (so a store that never saw an Idempotency-Key hashes as one without the
 *   table): the field "idempotency", then every idempotency record in key order: key, the index
 *   that recorded it, the request digest, the result.
 */
import { createHash, type Hash } from "node:crypto";
import type { KeyValue, KvChange } from "./mvcc-types.js";

/** What a finished {@link StateHasher} counted, and its digest (hex). */
export interface StateDigest {
  readonly keys: number;
  readonly changes: number;
  readonly hash: string;
}

/** A state's digest at an applied index: what `/debug/hash` answers and a backup names. */
export interface StateHash extends StateDigest {
  readonly appliedIndex: number;
  readonly revision: number;
  readonly compactRevision: number;
}

/**
 * The digest of one state, fed a section at a time in the order of the module comment: keys,
 * then changes, then idempotency records. Feeding them out of order throws (the digest would differ
 * from `/debug/hash`'s for the same state).
 */
export class StateHasher {
  private readonly h: Hash = createHash("sha256");
  private readonly u32 = Buffer.alloc(4);
  private section: "keys" | "changes" | "idempotency" | "done" = "keys";
  private keys = 0;
  private changes = 0;

  constructor(revision: number, compactRevision: number) {
    this.fields(revision, compactRevision);
  }

  /** A key with its value and revisions (in key order, before any change). */
  key(kv: KeyValue): void {
    if (this.section !== "keys") throw new Error(`state hash: a key after the ${this.section}`);
    this.fields(kv.key, kv.value, kv.createRevision, kv.modRevision, kv.version);
    this.keys++;
  }

  /** A change of the history (in (revision, sub) order, after every key). */
  change(c: KvChange): void {
    this.enter("changes");
    this.fields(
      c.revision,
      c.sub,
      c.key,
      c.value,
      c.createRevision,
      c.version,
      c.prevModRevision,
      c.prevValue,
    );
    this.changes++;
  }

  /**
   * A row of IDEMPOTENCY_ROWS (sqlite-idempotency.ts: key, applied index, request digest, result),
   * in key order, after every change.
   */
  idempotency(row: readonly unknown[]): void {
    if (this.section !== "idempotency") {
      this.enter("idempotency");
      this.field(Buffer.from("idempotency"));
    }
    this.fields(row[0] as Buffer, row[1] as number, row[2] as Buffer, row[3] as Buffer);
  }

  /** The digest and the counts; call once, after the last row. */
  finish(): StateDigest {
    this.enter("done");
    return { keys: this.keys, changes: this.changes, hash: this.h.digest("hex") };
  }

  private enter(section: "changes" | "idempotency" | "done"): void {
    const order = ["keys", "changes", "idempotency", "done"];
    if (order.indexOf(section) < order.indexOf(this.section)) {
      throw new Error(`state hash: ${section} after the ${this.section}`);
    }
    if (this.section === "keys") this.field(undefined); // between the keys and the history
    this.section = section;
  }

  /** {@link field} for each of `vs`, in order. */
  private fields(...vs: (Uint8Array | number | undefined)[]): void {
    for (const v of vs) this.field(v);
  }

  private field(b: Uint8Array | number | undefined): void {
    const bytes = typeof b === "number" ? Buffer.from(String(b)) : b;
    this.u32.writeUInt32BE(bytes === undefined ? 0xffffffff : bytes.length);
    this.h.update(this.u32);
    if (bytes !== undefined) this.h.update(bytes);
  }
}
