/** The example state machines, as implementations of the contract in packages/raft/src/state-machine.ts. */
import { describe, expect, it } from "vitest";
import type { ApplyEntry, ApplyEntryKind, StateMachineSnapshot } from "../../state-machine.js";
import { utf8Encode } from "./bytes.js";
import { ChecksumStateMachine, KvStateMachine } from "./example-state-machines.js";
import { collectImage } from "./snapshot-image.js";

const entry = (index: number, kind: ApplyEntryKind, text = ""): ApplyEntry => ({
  index,
  term: 1,
  kind,
  data: utf8Encode(text),
});

/** The image of `s` as a real stream (not also a synchronous iterable), `size` bytes per chunk. */
async function* stream(s: StateMachineSnapshot, size: number): AsyncIterable<Uint8Array> {
  const bytes = await collectImage(s.read());
  s.release();
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe("KvStateMachine", () => {
  it("applies a batch: one result per entry, undefined for entries that are not normal", () => {
    const kv = new KvStateMachine();
    expect(kv.appliedIndex()).toBe(0);
    const out = kv.apply([
      entry(2, "empty"),
      entry(3, "normal", "put a 1"),
      entry(4, "normal", "put b two words"),
      entry(5, "conf-change", "\u0008\u0001"),
      entry(6, "normal", "put a 2"),
      entry(7, "normal", "get a"),
      entry(8, "normal", "del b"),
      entry(9, "normal", "nonsense"),
    ]);
    expect(out).toEqual([undefined, undefined, undefined, undefined, "1", "2", "two words", undefined]);
    expect(kv.toJSON()).toEqual({ a: "2" });
    expect(kv.appliedIndex()).toBe(9);
  });

  it("a snapshot is the state when it was taken; restore replaces the state from a chunked stream", async () => {
    const kv = new KvStateMachine();
    kv.apply([entry(2, "normal", "put a 1"), entry(3, "normal", "put b 2")]);
    const snap = kv.snapshot();
    expect(snap.index).toBe(3);
    kv.apply([entry(4, "normal", "del a")]);
    const copy = new KvStateMachine();
    copy.apply([entry(2, "normal", "put stale x")]);
    await copy.restore(3, stream(snap, 3));
    expect(copy.toJSON()).toEqual({ a: "1", b: "2" });
    expect(copy.appliedIndex()).toBe(3);
  });

  it("refuses an image that is not its own, keeping its state", async () => {
    const kv = new KvStateMachine();
    kv.apply([entry(2, "normal", "put a 1")]);
    const bad = async function* () {
      yield utf8Encode('{"a": 1}');
    };
    await expect(async () => kv.restore(9, bad())).rejects.toThrow(/bad value of a/);
    expect(() => kv.restore(9, [utf8Encode("[]")] as unknown as AsyncIterable<Uint8Array>)).toThrow(
      /not a KvStateMachine image/,
    );
    expect(kv.toJSON()).toEqual({ a: "1" });
    expect(kv.appliedIndex()).toBe(2);
  });
});

describe("ChecksumStateMachine", () => {
  it("depends on the commands and their order, not on empty or conf-change entries", () => {
    const a = new ChecksumStateMachine();
    const b = new ChecksumStateMachine();
    expect(a.apply([entry(2, "normal", "x"), entry(3, "empty"), entry(4, "normal", "y")])).toEqual([
      1,
      undefined,
      2,
    ]);
    b.apply([entry(2, "normal", "y"), entry(3, "conf-change", "cc"), entry(4, "normal", "x")]);
    expect(a.hash).not.toBe(b.hash);
    expect([a.count, b.count, a.appliedIndex(), b.appliedIndex()]).toEqual([2, 2, 4, 4]);
  });

  it("round-trips through a snapshot read one byte at a time", async () => {
    const a = new ChecksumStateMachine();
    a.apply([entry(2, "normal", "x"), entry(3, "normal", "y")]);
    const c = new ChecksumStateMachine();
    await c.restore(3, stream(a.snapshot(), 1));
    expect([c.hash, c.count, c.appliedIndex()]).toEqual([a.hash, 2, 3]);
    await expect(async () =>
      c.restore(
        5,
        (async function* () {
          yield utf8Encode("garbage");
        })(),
      ),
    ).rejects.toThrow(/not a ChecksumStateMachine image/);
    expect(c.appliedIndex()).toBe(3);
  });
});
