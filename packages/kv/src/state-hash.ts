/**
 * The state digest of `/debug/hash` (SqliteStateMachine.stateHash), computed incrementally from the
 * rows as a snapshot reads them (sqlite-snapshot.ts): a backup thus names the digest of the state it
 * holds, taken from the source's own database at the backup's index, and a node restored from it
 * must answer the same digest at that index. Fed in the order stateHash reads: the revision, every
 * key and value in key order, then (only if there are any) the idempotency records in key order.
 * Every field is length-prefixed (u32 big-endian).
 */
import { createHash, type Hash } from "node:crypto";

export class StateHasher {
  private readonly h: Hash = createHash("sha256");
  private readonly u32 = Buffer.alloc(4);
  private keys = 0;
  private idempotencyStarted = false;

  constructor(revision: number) {
    this.field(Buffer.from(String(revision)));
  }

  /** A key and its value (in key order, before any idempotency record). */
  keyValue(key: Uint8Array, value: Uint8Array): void {
    this.field(key);
    this.field(value);
    this.keys++;
  }

  /** A row of IDEMPOTENCY_ROWS (sqlite-idempotency.ts): key, applied index, request digest, result. */
  idempotency(row: readonly unknown[]): void {
    if (!this.idempotencyStarted) this.field(Buffer.from("idempotency"));
    this.idempotencyStarted = true;
    this.field(row[0] as Buffer);
    this.field(Buffer.from(String(row[1])));
    this.field(row[2] as Buffer);
    this.field(row[3] as Buffer);
  }

  /** The digest (hex) and the number of keys; call once, after the last row. */
  finish(): { hash: string; keys: number } {
    return { hash: this.h.digest("hex"), keys: this.keys };
  }

  private field(b: Uint8Array): void {
    this.u32.writeUInt32BE(b.length);
    this.h.update(this.u32);
    this.h.update(b);
  }
}
