import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ApplyEntry } from "@tsraft/raft";
import { describe, expect, it } from "vitest";
import {
  b,
  crashCopy,
  del,
  imageOf,
  normal,
  openSm,
  put,
  tempDir,
  text,
  useSqliteKit,
} from "../test/sqlite-kit.js";
import { type ApplyResult, DB_FILE, type SqliteStateMachine } from "./sqlite-state-machine.js";

useSqliteKit();

/**
 * Applies a=1 at index 1, then a batch (a=2 at 2, then an entry that throws half way through the
 * transaction, as a full disk would) that must fail and change nothing: applied index 1, a=1.
 */
function applyFailingBatch(sm: SqliteStateMachine): void {
  sm.apply([put(1, "a", "1")]);
  const bad = {
    index: 3,
    term: 1,
    data: new Uint8Array(0),
    get kind(): "normal" {
      throw new Error("boom");
    },
  } as ApplyEntry;
  expect(() => sm.apply([put(2, "a", "2"), bad])).toThrow("boom");
  expect(sm.appliedIndex()).toBe(1);
  expect(text(sm.get(b("a")))).toBe("1");
}

/** The image of a store that applied `a` = "1" at index 1. */
async function imageOfA1(): Promise<Awaited<ReturnType<typeof imageOf>>> {
  const src = openSm(tempDir());
  src.apply([put(1, "a", "1")]);
  return imageOf(src);
}

describe("SqliteStateMachine", () => {
  it("applies puts, deletes and compare-and-swaps, with one result per entry", () => {
    const sm = openSm(tempDir());
    expect(sm.appliedIndex()).toBe(0);
    const results = sm.apply([
      { index: 1, term: 1, kind: "empty", data: new Uint8Array(0) },
      put(2, "a", "1"),
      put(3, "a", "2", "1"), // CAS that matches
      put(4, "a", "3", "1"), // CAS that does not
      put(5, "b", "x", ""), // CAS on an absent key fails
      del(6, "a", "nope"), // compare-and-delete that does not match
      del(7, "zz"), // delete of an absent key: ok, no revision
      { index: 8, term: 1, kind: "conf-change", data: new Uint8Array(0) },
    ]) as (ApplyResult | undefined)[];
    expect(results).toEqual([
      undefined,
      { kind: "ok", revision: 1 },
      { kind: "ok", revision: 2 },
      { kind: "compare-failed", current: Buffer.from("2") },
      { kind: "compare-failed", current: undefined },
      { kind: "compare-failed", current: Buffer.from("2") },
      { kind: "ok", revision: 2 },
      undefined,
    ]);
    expect(text(sm.get(b("a")))).toBe("2");
    expect(sm.get(b("b"))).toBeUndefined();
    expect(sm.appliedIndex()).toBe(8);
    expect(sm.revision()).toBe(2);
    sm.apply([del(9, "a", "2")]);
    expect(sm.get(b("a"))).toBeUndefined();
    expect(sm.revision()).toBe(3);
    expect(sm.count()).toBe(0);
  });

  it("stores values as opaque bytes and keys byte for byte", () => {
    const sm = openSm(tempDir());
    const value = Uint8Array.from({ length: 256 }, (_, i) => i);
    sm.apply([normal(1, { op: "put", key: Uint8Array.of(0, 0xff), value })]);
    expect(Buffer.from(sm.get(Uint8Array.of(0, 0xff))!)).toEqual(Buffer.from(value));
    expect(sm.get(Uint8Array.of(0))).toBeUndefined();
  });

  it("keeps data and applied index across a reopen, and skips entries it already has", () => {
    const dir = tempDir();
    const sm = openSm(dir);
    sm.apply([put(1, "a", "1"), put(2, "b", "2")]);
    sm.close();
    const again = openSm(dir);
    expect(again.appliedIndex()).toBe(2);
    expect(again.revision()).toBe(2);
    // A replay overlapping what is applied: only index 3 takes effect.
    const results = again.apply([put(1, "a", "X"), put(2, "b", "Y"), put(3, "c", "3")]);
    expect(results).toEqual([undefined, undefined, { kind: "ok", revision: 3 }]);
    expect(text(again.get(b("a")))).toBe("1");
    expect(text(again.get(b("c")))).toBe("3");
    expect(again.appliedIndex()).toBe(3);
    expect(again.revision()).toBe(3);
  });

  it("answers a non-command entry with `invalid` and still advances the applied index", async () => {
    const sm = openSm(tempDir());
    const results = await sm.apply([{ index: 1, term: 1, kind: "normal", data: Uint8Array.of(7, 7, 7) }]);
    expect(results[0]).toMatchObject({ kind: "invalid" });
    expect(sm.appliedIndex()).toBe(1);
    expect(sm.revision()).toBe(0);
  });

  it("a failing batch changes nothing (data and applied index move together)", () => {
    const sm = openSm(tempDir());
    applyFailingBatch(sm);
  });

  it("snapshots and restores into another state machine, replacing its data", async () => {
    const src = openSm(tempDir());
    src.apply([put(1, "a", "1"), put(2, "b", "2"), del(3, "a")]);
    const image = await imageOf(src);
    expect(image.index).toBe(3);
    const dir = tempDir();
    const dst = openSm(dir);
    dst.apply([put(1, "stale", "x"), put(2, "stale2", "y"), put(3, "stale3", "z"), put(4, "stale4", "w")]);
    await dst.restore(3, image.chunks);
    expect(dst.appliedIndex()).toBe(3);
    expect(dst.revision()).toBe(3);
    expect(dst.count()).toBe(1);
    expect(text(dst.get(b("b")))).toBe("2");
    expect(dst.get(b("stale"))).toBeUndefined();
    // It keeps working after the swap, and the restored state survives a reopen.
    dst.apply([put(4, "c", "3")]);
    dst.close();
    expect(existsSync(join(dir, `${DB_FILE}.restore`))).toBe(false);
    const reopened = openSm(dir);
    expect(reopened.appliedIndex()).toBe(4);
    expect(text(reopened.get(b("c")))).toBe("3");
    expect(reopened.get(b("stale4"))).toBeUndefined();
  });

  it("stateHash: equal for the same log however it was reached, different for a different state", async () => {
    const log = [put(1, "a", "1"), put(2, "b", "2"), del(3, "a"), put(4, "c", "3", "x")];
    const one = openSm(tempDir());
    one.apply(log);
    const two = openSm(tempDir());
    two.apply(log.slice(0, 2));
    two.apply(log.slice(2));
    const three = openSm(tempDir());
    await three.restore(4, (await imageOf(one)).chunks);
    expect(one.stateHash()).toEqual({
      appliedIndex: 4,
      revision: 3,
      compactRevision: 0,
      keys: 1,
      changes: 3,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(two.stateHash()).toEqual(one.stateHash());
    expect(three.stateHash()).toEqual(one.stateHash());
    // Same keys and values with another revision, or one value changed: another digest.
    const other = openSm(tempDir());
    other.apply([put(1, "b", "2"), put(2, "c", "3")]);
    expect(other.stateHash().hash).not.toBe(one.stateHash().hash);
    other.apply([put(3, "b", "3")]);
    // The same keys, values and revision reached in another order: other revisions per key and
    // another history, so another digest.
    const four = openSm(tempDir());
    four.apply([put(1, "b", "2"), put(2, "b", "3"), put(3, "c", "3")]);
    expect(four.stateHash().revision).toBe(other.stateHash().revision);
    expect(four.stateHash().keys).toBe(other.stateHash().keys);
    expect(four.stateHash().hash).not.toBe(other.stateHash().hash);
  });

  it("refuses to restore bytes that are not an image, keeping its data", async () => {
    const dir = tempDir();
    const sm = openSm(dir);
    sm.apply([put(1, "a", "1")]);
    await expect(sm.restore(5, [b("not an image, and long enough for a header")])).rejects.toThrow(
      /not a tsraft-kv image/,
    );
    expect(sm.appliedIndex()).toBe(1);
    expect(text(sm.get(b("a")))).toBe("1");
    expect(existsSync(join(dir, `${DB_FILE}.restore`))).toBe(false);
    // Still works.
    sm.apply([put(2, "a", "2")]);
    expect(text(sm.get(b("a")))).toBe("2");
  });

  it("refuses an image made at another index than the one it is restored for", async () => {
    const src = openSm(tempDir());
    src.apply([put(1, "a", "1"), put(2, "b", "2")]);
    const image = await imageOf(src);
    const dst = openSm(tempDir());
    dst.apply([put(1, "x", "1")]);
    await expect(dst.restore(3, image.chunks)).rejects.toThrow(/the image is at index 2, not at the index 3/);
    expect(dst.appliedIndex()).toBe(1);
    expect(text(dst.get(b("x")))).toBe("1");
  });
});

describe("SqliteStateMachine batched commits", () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("applies at once (reads see it) but commits once per interval", async () => {
    const dir = tempDir();
    const sm = openSm(dir, { commitIntervalMs: 50 });
    sm.apply([put(1, "a", "1")]);
    sm.apply([put(2, "b", "2")]);
    expect(text(sm.get(b("b")))).toBe("2");
    expect(sm.appliedIndex()).toBe(2);
    // Not committed yet: a crash now leaves the database as it was before them.
    const early = openSm(crashCopy(dir));
    expect(early.appliedIndex()).toBe(0);
    expect(early.get(b("a"))).toBeUndefined();
    // The interval commits both batches together.
    let later = openSm(crashCopy(dir));
    for (let waited = 0; later.appliedIndex() === 0 && waited < 5000; waited += 20) {
      await sleep(20);
      later = openSm(crashCopy(dir));
    }
    expect(later.appliedIndex()).toBe(2);
    expect(text(later.get(b("b")))).toBe("2");
    expect(later.revision()).toBe(2);
  });

  it("commits at once after commitEntries entries, before a snapshot, and at close", async () => {
    const dir = tempDir();
    const sm = openSm(dir, { commitIntervalMs: 60_000, commitEntries: 3 });
    sm.apply([put(1, "a", "1"), put(2, "a", "2")]);
    expect(openSm(crashCopy(dir)).appliedIndex()).toBe(0);
    sm.apply([put(3, "a", "3")]);
    expect(openSm(crashCopy(dir)).appliedIndex()).toBe(3);
    sm.apply([put(4, "a", "4")]);
    expect(openSm(crashCopy(dir)).appliedIndex()).toBe(3);
    const image = await imageOf(sm);
    expect(openSm(crashCopy(dir)).appliedIndex()).toBe(4);
    const restored = openSm(tempDir());
    await restored.restore(4, image.chunks);
    expect(text(restored.get(b("a")))).toBe("4");
    sm.apply([put(5, "a", "5")]);
    sm.close();
    const reopened = openSm(dir);
    expect(reopened.appliedIndex()).toBe(5);
    expect(text(reopened.get(b("a")))).toBe("5");
  });

  it("a crash loses only whole batches from the end, never part of one", () => {
    const dir = tempDir();
    const sm = openSm(dir, { commitIntervalMs: 60_000, commitEntries: 4 });
    sm.apply([put(1, "a", "1"), put(2, "b", "1")]);
    sm.apply([put(3, "a", "2"), put(4, "b", "2")]); // 4 entries: committed
    sm.apply([put(5, "a", "3"), put(6, "b", "3")]); // pending
    const crashed = openSm(crashCopy(dir));
    expect(crashed.appliedIndex()).toBe(4);
    expect([text(crashed.get(b("a"))), text(crashed.get(b("b")))]).toEqual(["2", "2"]);
    expect(crashed.revision()).toBe(4);
    // The node replays from there: 5 and 6 again, once.
    crashed.apply([put(4, "b", "X"), put(5, "a", "3"), put(6, "b", "3")]);
    expect([text(crashed.get(b("a"))), text(crashed.get(b("b")))]).toEqual(["3", "3"]);
    expect(crashed.revision()).toBe(6);
  });

  it("a failing batch in the open transaction leaves the batches before it", () => {
    const dir = tempDir();
    const sm = openSm(dir, { commitIntervalMs: 60_000 });
    applyFailingBatch(sm);
    sm.commit();
    const after = openSm(crashCopy(dir));
    expect(after.appliedIndex()).toBe(1);
    expect(text(after.get(b("a")))).toBe("1");
  });

  it("restore replaces what was applied but not committed", async () => {
    const image = await imageOfA1();
    const dir = tempDir();
    const dst = openSm(dir, { commitIntervalMs: 60_000 });
    dst.apply([put(1, "x", "1"), put(2, "y", "2")]);
    await dst.restore(1, image.chunks);
    expect(dst.appliedIndex()).toBe(1);
    expect(dst.get(b("x"))).toBeUndefined();
    dst.close();
    expect(openSm(dir).appliedIndex()).toBe(1);
  });
});

describe("SqliteStateMachine.sync", () => {
  it("resolves with the applied index at the call, and what it covered survives a crash and a reopen", async () => {
    const dir = tempDir();
    const sm = openSm(dir, { commitIntervalMs: 60_000 });
    sm.apply([put(1, "a", "1"), put(2, "b", "2")]);
    const synced = sm.sync();
    // Applying goes on while the fsyncs run in the thread pool; it is not covered.
    sm.apply([put(3, "c", "3")]);
    expect(await synced).toBe(2);
    // A crash now (the files as they are): index 2 is there, 3 was never committed.
    const crashed = openSm(crashCopy(dir));
    expect(crashed.appliedIndex()).toBe(2);
    expect(text(crashed.get(b("b")))).toBe("2");
    expect(crashed.get(b("c"))).toBeUndefined();
    expect(await sm.sync()).toBe(3);
    sm.close();
    const reopened = openSm(dir);
    expect(reopened.appliedIndex()).toBe(3);
    expect(text(reopened.get(b("c")))).toBe("3");
  });

  it("is refused while a restore replaces the state, like apply and snapshot", async () => {
    const image = await imageOfA1();
    const dst = openSm(tempDir());
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    async function* slow() {
      await gate;
      yield* image.chunks;
    }
    const restoring = dst.restore(1, slow());
    await expect(dst.sync()).rejects.toThrow(/being restored/);
    expect(() => dst.apply([put(1, "x", "1")])).toThrow(/being restored/);
    expect(() => dst.snapshot()).toThrow(/being restored/);
    expect(dst.get(b("a"))).toBeUndefined(); // reads go on, from the old state
    release();
    await restoring;
    expect(text(dst.get(b("a")))).toBe("1");
    expect(await dst.sync()).toBe(1);
  });
});
