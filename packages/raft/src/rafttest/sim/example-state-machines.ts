/**
 * Two small in-memory implementations of the state machine contract (`StateMachine<R>` in
 * packages/raft/src/state-machine.ts): the simulator's default, and the package README's key-value
 * example. Both are volatile (no `sync`): after a restart they start empty and the driver restores
 * them from its newest snapshot, then applies the log after it. They run unchanged in the simulator
 * and in `@tsraft/node`'s RaftNode.
 */
import type { ApplyEntry, MaybePromise, StateMachine, StateMachineSnapshot } from "../../state-machine.js";
import { utf8Decode, utf8Encode } from "./bytes.js";
import { FNV1A_OFFSET, fnv1a } from "./fnv1a.js";
import { imageSnapshot, loadImage } from "./snapshot-image.js";

/**
 * The default state machine: a running hash of every normal entry's data and their count. Two
 * nodes that applied the same commands in the same order have the same state. Applying a command
 * returns the count after it (the command's position among all commands applied).
 */
export class ChecksumStateMachine implements StateMachine<number> {
  hash = FNV1A_OFFSET;
  count = 0;
  private applied = 0;

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: readonly ApplyEntry[]): (number | undefined)[] {
    const out: (number | undefined)[] = [];
    for (const e of entries) {
      if (e.kind === "normal") {
        this.hash = fnv1a(e.data, this.hash);
        this.count++;
        out.push(this.count);
      } else {
        out.push(undefined);
      }
      this.applied = e.index;
    }
    return out;
  }

  snapshot(): StateMachineSnapshot {
    const image = utf8Encode(`${this.hash} ${this.count}`);
    return imageSnapshot(this.applied, image);
  }

  restore(index: number, image: AsyncIterable<Uint8Array>): MaybePromise<void> {
    return loadImage(image, (b) => this.load(index, b));
  }

  private load(index: number, b: Uint8Array): void {
    const m = /^(\d+) (\d+)$/.exec(utf8Decode(b));
    if (m === null) throw new Error(`not a ChecksumStateMachine image (${b.length} bytes)`);
    this.hash = Number(m[1]);
    this.count = Number(m[2]);
    this.applied = index;
  }
}

/**
 * A tiny replicated key-value store, the example of the package README. Commands are UTF-8 text:
 * `put <key> <value>` and `del <key>` return the key's previous value, `get <key>` its value (a read
 * through the log); anything else is ignored (and returns undefined).
 */
export class KvStateMachine implements StateMachine<string | undefined> {
  readonly data = new Map<string, string>();
  private applied = 0;

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: readonly ApplyEntry[]): (string | undefined)[] {
    const out: (string | undefined)[] = [];
    for (const e of entries) {
      out.push(e.kind === "normal" ? this.run(utf8Decode(e.data)) : undefined);
      this.applied = e.index;
    }
    return out;
  }

  private run(cmd: string): string | undefined {
    const [op, key, ...rest] = cmd.split(" ");
    if (key === undefined) return undefined;
    const prev = this.data.get(key);
    if (op === "put") this.data.set(key, rest.join(" "));
    else if (op === "del") this.data.delete(key);
    else if (op !== "get") return undefined;
    return prev;
  }

  /** The image is the store as JSON, taken now (later applies do not change it). */
  snapshot(): StateMachineSnapshot {
    const image = utf8Encode(JSON.stringify(this.toJSON()));
    return imageSnapshot(this.applied, image);
  }

  restore(index: number, image: AsyncIterable<Uint8Array>): MaybePromise<void> {
    return loadImage(image, (b) => this.load(index, b));
  }

  private load(index: number, b: Uint8Array): void {
    const parsed: unknown = JSON.parse(utf8Decode(b));
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error("not a KvStateMachine image");
    }
    const entries = Object.entries(parsed as Record<string, unknown>);
    for (const [k, v] of entries) if (typeof v !== "string") throw new Error(`bad value of ${k} in image`);
    this.data.clear();
    for (const [k, v] of entries) this.data.set(k, v as string);
    this.applied = index;
  }

  /** The content as a plain object with sorted keys (so two equal stores print the same). */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of [...this.data.keys()].sort()) out[k] = this.data.get(k)!;
    return out;
  }
}
