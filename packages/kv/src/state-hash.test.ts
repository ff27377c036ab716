/**
 * The state digest a backup names (state-hash.ts, computed from the rows a snapshot reads) is the
 * digest `/debug/hash` answers (SqliteStateMachine.stateHash) for the same state: with keys and
 * their revisions, deletes, the history (compacted or not), transactions, idempotency records,
 * binary keys, and for an empty store; it is the state at the snapshot's index even when entries
 * apply while the image is read; and a store restored from that image answers it too.
 */
import type { ApplyEntry } from "@tsraft/raft";
import { describe, expect, it } from "vitest";
import { b, del, openSm, put, tempDir, useSqliteKit } from "../test/sqlite-kit.js";
import { encodeCommand } from "./command.js";
import { encodeIdempotent } from "./idempotency.js";
import { SqliteSnapshot } from "./sqlite-snapshot.js";
import type { SqliteStateMachine } from "./sqlite-state-machine.js";
import { encodeCompactCommand, encodeTxnCommand } from "./txn-command.js";

useSqliteKit();

const keyedPut = (index: number, idem: string, k: string, v: string): ApplyEntry => ({
  index,
  term: 1,
  kind: "normal",
  data: encodeIdempotent(b(idem), encodeCommand({ op: "put", key: b(k), value: b(v) })),
});

const entry = (index: number, data: Uint8Array): ApplyEntry => ({ index, term: 1, kind: "normal", data });

/** Reads a snapshot of `sm` with its state digest; applies `during` after the first chunk. */
async function hashedImage(sm: SqliteStateMachine, during?: () => unknown, chunks?: Uint8Array[]) {
  const s = await sm.snapshot();
  expect(s).toBeInstanceOf(SqliteSnapshot);
  const snap = s as SqliteSnapshot;
  // Known before the worker pinned the state (a backup's headers carry them at once).
  expect([snap.revision, snap.compactRevision]).toEqual([sm.revision(), sm.compactRevision()]);
  snap.hashState();
  let first = true;
  for await (const chunk of snap.read()) {
    chunks?.push(chunk);
    if (first && during !== undefined) await during();
    first = false;
  }
  const h = snap.stateHash;
  snap.release();
  return h;
}

describe("the state digest of a snapshot", () => {
  it("is /debug/hash's for an empty store", async () => {
    const sm = openSm(tempDir());
    expect(await hashedImage(sm)).toEqual(sm.stateHash());
  });

  it("is /debug/hash's with keys, deletes and idempotency records", async () => {
    const sm = openSm(tempDir());
    const bin = new Uint8Array([0, 255, 1, 254]);
    await sm.apply([put(1, "a", "1"), put(2, "b", "2"), put(3, bin, "binary"), del(4, "a")]);
    await sm.apply([keyedPut(5, "req-1", "c", "3"), keyedPut(6, "req-2", "d", "4"), put(7, "b", "22")]);
    const h = await hashedImage(sm);
    expect(h).toEqual(sm.stateHash());
    expect(h?.keys).toBe(4);
    // A changed value changes it.
    await sm.apply([put(8, "b", "23")]);
    expect(sm.stateHash().hash).not.toBe(h?.hash);
  });

  it("is the state at the snapshot's index while later entries apply", async () => {
    const sm = openSm(tempDir(), { imageChunkBytes: 1024 });
    const filler: ApplyEntry[] = [];
    for (let i = 1; i <= 200; i++) filler.push(put(i, `k${String(i).padStart(4, "0")}`, "x".repeat(100)));
    await sm.apply(filler);
    const before = sm.stateHash();
    const h = await hashedImage(sm, () => sm.apply([put(201, "k0001", "changed"), del(202, "k0002")]));
    expect(h).toEqual(before);
    expect(sm.stateHash().hash).not.toBe(before.hash);
  });

  it("is /debug/hash's with revisions, a compacted history and a transaction, and a restored store's", async () => {
    const sm = openSm(tempDir());
    await sm.apply([put(1, "a", "1"), put(2, "a", "2"), put(3, "b", "1"), del(4, "b"), put(5, "c", "1")]);
    await sm.apply([entry(6, encodeCompactCommand(3))]);
    await sm.apply([
      entry(
        7,
        encodeTxnCommand({
          compare: [{ key: b("a"), target: "version", op: "=", number: 2 }],
          success: [
            { op: "put", key: b("a"), value: b("3") },
            { op: "delete", key: b("c") },
          ],
          failure: [],
        }),
      ),
      keyedPut(8, "req-1", "d", "1"),
    ]);
    const want = sm.stateHash();
    expect(want).toMatchObject({ appliedIndex: 8, revision: 7, compactRevision: 3, keys: 2 });
    expect(want.changes).toBeGreaterThan(0);
    const chunks: Uint8Array[] = [];
    expect(await hashedImage(sm, undefined, chunks)).toEqual(want);
    // The same keys and values with other revisions hash otherwise (the revisions are covered).
    const other = openSm(tempDir());
    await other.apply([put(1, "a", "3"), put(2, "d", "1")]);
    expect(other.stateHash().hash).not.toBe(want.hash);
    // A store restored from the image answers the same digest.
    const dst = openSm(tempDir());
    await dst.restore(want.appliedIndex, chunks);
    expect(dst.stateHash()).toEqual(want);
  });
});
