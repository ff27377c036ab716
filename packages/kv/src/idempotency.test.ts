/**
 * Idempotency keys in the state machine (idempotency.ts, sqlite-idempotency.ts): a keyed write
 * applies once and every retry answers its first result; a key reused for another request is
 * refused; records expire by log index exactly `window` entries later, whatever the batching (two
 * state machines fed the same log in different batches have the same state hash at every common
 * index, keyed transactions included); images carry the records, so a node restored from one
 * deduplicates the same retries; a failed batch leaves no record behind. Transactions with a key:
 * idempotent-txn.test.ts.
 */
import type { ApplyEntry } from "@tsraft/raft";
import { newRandom } from "@tsraft/raft";
import { describe, expect, it } from "vitest";
import { b, del, imageOf, keyedEntry, openSm, put, tempDir, text, useSqliteKit } from "../test/sqlite-kit.js";
import { type Command, encodeCommand } from "./command.js";
import { decodeIdempotent, encodeIdempotent } from "./idempotency.js";
import { ImageDecoder } from "./image.js";
import { encodeTxnCommand } from "./txn-command.js";

useSqliteKit();

const keyed = (index: number, key: string, cmd: Command) => keyedEntry(index, key, encodeCommand(cmd));
const kput = (index: number, key: string, k: string, v: string, prev?: string) =>
  keyed(index, key, { op: "put", key: b(k), value: b(v), ...(prev === undefined ? {} : { prev: b(prev) }) });

/** A keyed transaction: if `k` exists, put it and get it, else get it (its result is recorded). */
const ktxn = (index: number, key: string, k: string, v: string) =>
  keyedEntry(
    index,
    key,
    encodeTxnCommand({
      compare: [{ key: b(k), target: "exists", op: "=", exists: true }],
      success: [
        { op: "put", key: b(k), value: b(v) },
        { op: "get", key: b(k) },
      ],
      failure: [{ op: "get", key: b(k) }],
    }),
  );

describe("idempotency keys", () => {
  it("the envelope round-trips and is never taken for a plain command", () => {
    const cmd = encodeCommand({ op: "put", key: b("k"), value: b("v") });
    const env = encodeIdempotent(b("req-1"), cmd);
    const d = decodeIdempotent(env)!;
    expect(text(d.key)).toBe("req-1");
    expect(d.command).toEqual(cmd);
    expect(decodeIdempotent(cmd)).toBeUndefined();
    expect(decodeIdempotent(env.subarray(0, 3))).toBeUndefined();
  });

  it("applies a keyed write once; retries answer its first result, marked as replays", async () => {
    const sm = openSm(tempDir());
    const r1 = await sm.apply([
      kput(1, "k1", "x", "1"),
      kput(2, "k1", "x", "1"),
      put(3, "x", "2"),
      kput(4, "k1", "x", "1"),
    ]);
    expect(r1[0]).toEqual({ kind: "ok", revision: 1 });
    expect(r1[1]).toEqual({ kind: "ok", revision: 1, replayed: true });
    // The replay answers the first attempt's revision, not the store's now.
    expect(r1[3]).toEqual({ kind: "ok", revision: 1, replayed: true });
    // The retry after another write did not overwrite it: applied once.
    expect(text(sm.get(b("x")))).toBe("2");
    expect(sm.revision()).toBe(2);
    // A failed compare-and-swap is answered as it first was, current value included.
    const r2 = await sm.apply([
      kput(5, "k2", "x", "3", "nope"),
      put(6, "x", "4"),
      kput(7, "k2", "x", "3", "nope"),
    ]);
    expect(r2[0]).toEqual({ kind: "compare-failed", current: Buffer.from("2") });
    expect(r2[2]).toEqual({ kind: "compare-failed", current: Buffer.from("2"), replayed: true });
    // A key used again for another request changes nothing.
    const r3 = await sm.apply([keyed(8, "k1", { op: "delete", key: b("x") })]);
    expect(r3[0]).toEqual({ kind: "key-reused" });
    expect(text(sm.get(b("x")))).toBe("4");
  });

  it("forgets a key exactly `window` entries after it was recorded", async () => {
    const window = 10;
    const sm = openSm(tempDir(), { idempotencyWindow: window });
    /** The answer to the write of `k` under idempotency key "n", applied at `index`. */
    const keyedAt = async (index: number) => (await sm.apply([kput(index, "k", "n", "1")]))[0];
    const replayed = (revision: number) => ({ kind: "ok", revision, replayed: true });
    await keyedAt(1);
    const filler = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => put(from + i, `f${from + i}`, "x"));
    await sm.apply(filler(2, 10));
    // Recorded at 1: a retry at 1 + window is still answered from the record...
    expect(await keyedAt(11)).toEqual(replayed(1));
    // ...one entry later it applies again (and is recorded at 12).
    expect(await keyedAt(12)).toEqual({ kind: "ok", revision: 11 });
    expect(sm.revision()).toBe(11);
    await sm.apply(filler(13, 21));
    expect(await keyedAt(22)).toEqual(replayed(11));
    expect(await keyedAt(23)).toEqual({ kind: "ok", revision: 21 });
  });

  it("two state machines fed one log in different batches agree at every batch boundary (seed printed on failure)", async () => {
    const seed = 0x1de7;
    const rand = newRandom(seed);
    const log: ApplyEntry[] = [];
    for (let i = 1; i <= 600; i++) {
      const k = `key-${Math.floor(rand() * 20)}`;
      const idem = `req-${Math.floor(rand() * 40)}`;
      const roll = rand();
      if (roll < 0.4) log.push(kput(i, idem, k, `v${i}`));
      else if (roll < 0.5) log.push(ktxn(i, idem, k, `t${i}`));
      else if (roll < 0.7) log.push(keyed(i, idem, { op: "delete", key: b(k) }));
      else if (roll < 0.9) log.push(put(i, k, `p${i}`));
      else log.push(del(i, k));
    }
    const a = openSm(tempDir(), { idempotencyWindow: 50 });
    const c = openSm(tempDir(), { idempotencyWindow: 50 });
    let ai = 0;
    let ci = 0;
    while (ai < log.length || ci < log.length) {
      const an = Math.min(log.length - ai, 1 + Math.floor(rand() * 30));
      await a.apply(log.slice(ai, ai + an));
      ai += an;
      while (ci < ai) {
        const cn = Math.min(ai - ci, 1 + Math.floor(rand() * 7));
        await c.apply(log.slice(ci, ci + cn));
        ci += cn;
      }
      expect(c.stateHash(), `seed ${seed} at index ${ai}`).toEqual(a.stateHash());
    }
  });

  it("images carry the records: a restored store deduplicates the same retries", async () => {
    const src = openSm(tempDir());
    await src.apply([put(1, "a", "1"), kput(2, "k-a", "a", "2"), kput(3, "k-b", "b", "3")]);
    const img = await imageOf(src);
    // The image holds two keys, the three rows of the history, then two idempotency records.
    const dec = new ImageDecoder();
    const seen: string[] = [];
    for (const chunk of img.chunks) {
      dec.push(chunk);
      for (let r = dec.next(); r !== undefined; r = dec.next())
        seen.push(`${r.kind === "idempotency" ? "I" : r.kind === "key-row" ? "K" : "R"}:${text(r.key)}`);
    }
    dec.finish();
    expect(seen).toEqual(["K:a", "K:b", "R:a", "R:a", "R:b", "I:k-a", "I:k-b"]);
    const dst = openSm(tempDir());
    await dst.restore(img.index, img.chunks);
    expect(dst.stateHash()).toEqual(src.stateHash());
    const retry = [kput(4, "k-a", "a", "2"), kput(5, "k-b", "b", "3")];
    expect(await dst.apply(retry)).toEqual(await src.apply(retry));
    expect(dst.revision()).toBe(3);
    expect(dst.stateHash()).toEqual(src.stateHash());
  });
});
