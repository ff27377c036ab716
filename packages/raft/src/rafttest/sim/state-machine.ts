/**
 * The application state machine a simulated node applies committed entries to. The simulator owns
 * the log, snapshots and membership; the state machine only sees the data of committed normal
 * entries, in log order, and must be deterministic: the same commands give the same state.
 */
import { fnv1a, utf8Decode, utf8Encode } from "./bytes.js";

/**
 * An application state machine under test. One instance per node incarnation: a crashed node's
 * instance is dropped, and the restarted node gets a fresh one restored from its durable snapshot.
 */
export interface StateMachine {
  /** Applies the command of committed entry `index` (entries are applied once each, in order). */
  apply(data: Uint8Array, index: number): void;
  /** The whole state as bytes: it goes into a Raft snapshot (and to lagging followers). */
  snapshot(): Uint8Array;
  /** Replaces the state with one produced by {@link StateMachine.snapshot} (possibly on another node). */
  restore(data: Uint8Array): void;
}

/** Builds the state machine of a node (called at start and at every restart). */
export type StateMachineFactory = (nodeId: number) => StateMachine;

/**
 * The default state machine: a running hash of every command applied and their count. Two nodes
 * that applied the same commands in the same order have the same state.
 */
export class ChecksumStateMachine implements StateMachine {
  hash = 0x811c9dc5;
  count = 0;

  apply(data: Uint8Array): void {
    this.hash = fnv1a(data, this.hash);
    this.count++;
  }

  snapshot(): Uint8Array {
    return utf8Encode(`${this.hash} ${this.count}`);
  }

  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.hash = 0x811c9dc5;
      this.count = 0;
      return;
    }
    const [h, c] = utf8Decode(data).split(" ");
    this.hash = Number(h);
    this.count = Number(c);
  }
}

/**
 * A tiny replicated key-value store, the example of the package README: commands are
 * `put <key> <value>` and `del <key>` (UTF-8 text); anything else is ignored.
 */
export class KvStateMachine implements StateMachine {
  readonly data = new Map<string, string>();
  /** The index of the last entry applied (restored with the state). */
  appliedIndex = 0;

  apply(cmd: Uint8Array, index: number): void {
    const [op, key, ...rest] = utf8Decode(cmd).split(" ");
    if (op === "put" && key !== undefined) this.data.set(key, rest.join(" "));
    else if (op === "del" && key !== undefined) this.data.delete(key);
    this.appliedIndex = index;
  }

  snapshot(): Uint8Array {
    return utf8Encode(JSON.stringify({ index: this.appliedIndex, data: this.toJSON() }));
  }

  restore(snap: Uint8Array): void {
    this.data.clear();
    this.appliedIndex = 0;
    if (snap.length === 0) return;
    const s = JSON.parse(utf8Decode(snap)) as { index: number; data: Record<string, string> };
    this.appliedIndex = s.index;
    for (const [k, v] of Object.entries(s.data)) this.data.set(k, v);
  }

  /** The content as a plain object with sorted keys (so two equal stores print the same). */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of [...this.data.keys()].sort()) out[k] = this.data.get(k)!;
    return out;
  }
}
