import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ents, runs, SEED, thrown } from "../test/log-fixtures.js";
import { errCompacted, errSnapOutOfDate, errUnavailable } from "./errors.js";
import { type Logger, RaftPanic } from "./logger.js";
import { entriesSize, entrySize } from "./raftpb/size.js";
import { type Entry, newConfState, newEntry, newSnapshot } from "./raftpb/types.js";
import { limitSize, MemoryStorage } from "./storage.js";

/** An entry carrying `n` bytes of data, so that entries differ in size. */
function sized(index: number, term: number, n: number): Entry {
  return newEntry({ index, term, data: new Uint8Array(n).fill(index) });
}

/** A logger keeping its panic lines. */
function panicRecorder(): { logger: Logger; panics: string[] } {
  const panics: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn() {}, error() {}, panic: (m) => panics.push(m) };
  return { logger, panics };
}

/**
 * Storage after a snapshot at (snapIndex, snapTerm) and the given entries after it: the dummy
 * entry sits at snapIndex, the first available entry at snapIndex+1.
 */
function storageAfter(snapIndex: number, snapTerm: number, tail: Entry[], logger?: Logger): MemoryStorage {
  const s = new MemoryStorage(logger);
  s.applySnapshot(newSnapshot({ metadata: { index: snapIndex, term: snapTerm } }));
  s.append(tail);
  return s;
}

/** The whole content as [term(first-1), ...entries]: what etcd's tests read from `ms.ents`. */
function content(s: MemoryStorage): { dummy: { index: number; term: number }; entries: Entry[] } {
  const first = s.firstIndex();
  const last = s.lastIndex();
  return {
    dummy: { index: first - 1, term: s.term(first - 1) },
    entries: last >= first ? s.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [],
  };
}

describe("MemoryStorage", () => {
  it("starts with only the dummy entry at index 0, term 0", () => {
    const s = new MemoryStorage();
    expect([s.firstIndex(), s.lastIndex(), s.term(0)]).toEqual([1, 0, 0]);
    expect(thrown(() => s.term(1))).toEqual(errUnavailable());
    // Nothing but the dummy: even an empty range in bounds is unavailable.
    expect(thrown(() => s.entries(1, 1, 100))).toEqual(errUnavailable());
    expect(thrown(() => s.entries(0, 1, 100))).toEqual(errCompacted());
    const init = s.initialState();
    expect(init.hardState).toEqual({ term: 0, vote: 0, commit: 0 });
    expect(init.confState).toEqual(newConfState());
  });

  // Log: dummy (3,3), then (4,4), (5,5). Valid term range: [firstIndex-1, lastIndex] = [3, 5].
  it.each([
    { i: 2, want: errCompacted() },
    { i: 3, want: 3 }, // the compacted entry's term is kept for matching
    { i: 4, want: 4 },
    { i: 5, want: 5 },
    { i: 6, want: errUnavailable() },
  ])("term($i)", ({ i, want }) => {
    const s = storageAfter(3, 3, ents(4, 4, 5));
    if (typeof want === "number") expect(s.term(i)).toBe(want);
    else expect(thrown(() => s.term(i))).toEqual(want);
  });

  describe("entries", () => {
    // Dummy at 3, then entries 4, 5, 6 of different sizes.
    const tail = [sized(4, 4, 10), sized(5, 5, 20), sized(6, 6, 30)];
    const [s4, s5, s6] = tail.map(entrySize) as [number, number, number];
    const all = Number.MAX_SAFE_INTEGER;
    it.each([
      { lo: 2, hi: 6, max: all, want: errCompacted() },
      { lo: 3, hi: 4, max: all, want: errCompacted() }, // the dummy itself is not an entry
      { lo: 4, hi: 4, max: all, want: [] },
      { lo: 4, hi: 5, max: all, want: [4] },
      { lo: 4, hi: 6, max: all, want: [4, 5] },
      { lo: 4, hi: 7, max: all, want: [4, 5, 6] },
      { lo: 6, hi: 7, max: all, want: [6] },
      // At least one entry, whatever the limit.
      { lo: 4, hi: 7, max: 0, want: [4] },
      { lo: 4, hi: 7, max: s4 - 1, want: [4] },
      { lo: 4, hi: 7, max: s4, want: [4] },
      { lo: 4, hi: 7, max: s4 + s5 - 1, want: [4] },
      { lo: 4, hi: 7, max: s4 + s5, want: [4, 5] },
      { lo: 4, hi: 7, max: s4 + s5 + s6 - 1, want: [4, 5] },
      { lo: 4, hi: 7, max: s4 + s5 + s6, want: [4, 5, 6] },
      { lo: 5, hi: 7, max: s5 + s6, want: [5, 6] },
      { lo: 5, hi: 7, max: s5 + s6 - 1, want: [5] },
    ])("[$lo, $hi) max $max", ({ lo, hi, max, want }) => {
      const s = storageAfter(3, 3, tail);
      if (Array.isArray(want)) {
        const got = s.entries(lo, hi, max);
        expect(got.map((e) => e.index)).toEqual(want);
        expect(got).toEqual(tail.filter((e) => want.includes(e.index)));
      } else {
        expect(thrown(() => s.entries(lo, hi, max))).toEqual(want);
      }
    });

    it("panics when hi is past lastIndex+1", () => {
      const { logger, panics } = panicRecorder();
      const s = storageAfter(3, 3, tail, logger);
      expect(s.entries(4, 7, all)).toHaveLength(3); // hi = lastIndex+1 is fine
      const e = thrown(() => s.entries(4, 8, all));
      expect(e).toBeInstanceOf(RaftPanic);
      expect(panics).toEqual(["entries' hi(8) is out of bound lastindex(6)"]);
    });

    it("returns an array the caller may extend without touching the storage", () => {
      const s = storageAfter(3, 3, tail);
      const got = s.entries(4, 5, all);
      got.push(newEntry({ index: 5, term: 99 }));
      got[0] = newEntry({ index: 4, term: 99 });
      expect(s.entries(4, 7, all)).toEqual(tail);
    });
  });

  it("moves lastIndex on append and firstIndex on compact", () => {
    const s = storageAfter(3, 3, ents(4, 4, 5));
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 5]);
    s.append(ents(6, 5));
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 6]);
    s.compact(4);
    expect([s.firstIndex(), s.lastIndex()]).toEqual([5, 6]);
  });

  describe("compact", () => {
    it.each([
      { i: 2, want: errCompacted(), dummy: [3, 3], left: 2 },
      { i: 3, want: errCompacted(), dummy: [3, 3], left: 2 },
      { i: 4, want: undefined, dummy: [4, 4], left: 1 },
      { i: 5, want: undefined, dummy: [5, 5], left: 0 },
    ])("compact($i)", ({ i, want, dummy, left }) => {
      const s = storageAfter(3, 3, ents(4, 4, 5));
      if (want === undefined) s.compact(i);
      else expect(thrown(() => s.compact(i))).toEqual(want);
      const c = content(s);
      expect([c.dummy.index, c.dummy.term]).toEqual(dummy);
      expect(c.entries).toHaveLength(left);
      expect(s.lastIndex()).toBe(5);
    });

    it("panics past the last index", () => {
      const { logger, panics } = panicRecorder();
      const s = storageAfter(3, 3, ents(4, 4, 5), logger);
      expect(thrown(() => s.compact(6))).toBeInstanceOf(RaftPanic);
      expect(panics).toEqual(["compact 6 is out of bound lastindex(5)"]);
    });

    it("keeps the entries after the compaction point", () => {
      const tail = [sized(4, 4, 1), sized(5, 4, 2), sized(6, 5, 3), sized(7, 5, 4)];
      const s = storageAfter(3, 3, tail);
      s.compact(5);
      expect(s.entries(6, 8, Number.MAX_SAFE_INTEGER)).toEqual(tail.slice(2));
      expect(s.term(5)).toBe(4);
      expect(thrown(() => s.term(4))).toEqual(errCompacted());
      // Appending after a compaction still lines up.
      s.append([sized(8, 6, 5)]);
      expect(s.entries(6, 9, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([6, 7, 8]);
    });
  });

  describe("createSnapshot", () => {
    const cs = newConfState({ voters: [1, 2, 3] });
    const data = new TextEncoder().encode("data");
    it.each([
      { i: 4, term: 4 },
      { i: 5, term: 5 },
    ])("at $i", ({ i, term }) => {
      const s = storageAfter(3, 3, ents(4, 4, 5));
      const want = newSnapshot({ data, metadata: { index: i, term, confState: cs } });
      expect(s.createSnapshot(i, cs, data)).toEqual(want);
      expect(s.snapshot()).toEqual(want);
      // Creating a snapshot does not compact.
      expect(s.firstIndex()).toBe(4);
    });

    it("refuses an index at or before the current snapshot", () => {
      const s = storageAfter(3, 3, ents(4, 4, 5));
      expect(thrown(() => s.createSnapshot(3, cs, data))).toEqual(errSnapOutOfDate());
      s.createSnapshot(4, cs, data);
      expect(thrown(() => s.createSnapshot(4, cs, data))).toEqual(errSnapOutOfDate());
      expect(s.createSnapshot(5, cs, data).metadata.index).toBe(5);
    });

    it("panics past the last index", () => {
      const { logger, panics } = panicRecorder();
      const s = storageAfter(3, 3, ents(4, 4, 5), logger);
      expect(thrown(() => s.createSnapshot(6, cs, data))).toBeInstanceOf(RaftPanic);
      expect(panics).toEqual(["snapshot 6 is out of bound lastindex(5)"]);
    });

    it("keeps the previous ConfState when given none, and hands out copies", () => {
      const s = storageAfter(3, 3, ents(4, 4, 5));
      s.createSnapshot(4, cs, data);
      const snap = s.createSnapshot(5, undefined, data);
      expect(snap.metadata.confState).toEqual(cs);
      snap.metadata.confState.voters.push(9);
      snap.metadata.index = 1;
      expect(s.snapshot().metadata).toEqual({ index: 5, term: 5, confState: cs });
      expect(s.initialState().confState).toEqual(cs);
    });
  });

  describe("append", () => {
    // Start: dummy (3,3), then (4,4), (5,5).
    it.each([
      { name: "all compacted: ignored", app: ents(1, 1, 2), want: [3, 4, 5] },
      { name: "the same entries: no change", app: ents(3, 3, 4, 5), want: [3, 4, 5] },
      { name: "conflict at 4: truncate and replace", app: ents(3, 3, 6, 6), want: [3, 6, 6] },
      { name: "same prefix, one more", app: ents(3, 3, 4, 5, 5), want: [3, 4, 5, 5] },
      { name: "partly compacted: skip that part, then truncate", app: ents(2, 3, 3, 5), want: [3, 5] },
      { name: "truncate the last entries", app: ents(4, 5), want: [3, 5] },
      { name: "replace only the last entry", app: ents(5, 6), want: [3, 4, 6] },
      { name: "direct append", app: ents(6, 5), want: [3, 4, 5, 5] },
      { name: "empty", app: [], want: [3, 4, 5] },
    ])("$name", ({ app, want }) => {
      const s = storageAfter(3, 3, ents(4, 4, 5));
      s.append(app);
      const c = content(s);
      expect([c.dummy.term, ...c.entries.map((e) => e.term)]).toEqual(want);
      expect(c.entries.map((e) => e.index)).toEqual(want.slice(1).map((_, k) => 4 + k));
    });

    it("panics on a gap after the last index", () => {
      const { logger, panics } = panicRecorder();
      const s = storageAfter(3, 3, ents(4, 4, 5), logger);
      expect(thrown(() => s.append(ents(7, 5)))).toBeInstanceOf(RaftPanic);
      expect(panics).toEqual(["missing log entry [last: 5, append at: 7]"]);
    });

    it("does not disturb arrays handed out earlier when truncating", () => {
      const s = storageAfter(3, 3, ents(4, 4, 5));
      const before = s.entries(4, 6, Number.MAX_SAFE_INTEGER);
      s.append(ents(5, 7, 7));
      expect(before).toEqual(ents(4, 4, 5));
      expect(s.entries(4, 7, Number.MAX_SAFE_INTEGER)).toEqual(ents(4, 4, 7, 7));
    });

    it("appends one at a time in amortized constant time", () => {
      const s = new MemoryStorage();
      const n = 200_000;
      for (let i = 1; i <= n; i++) s.append([newEntry({ index: i, term: 1 + (i >> 16) })]);
      expect(s.lastIndex()).toBe(n);
      expect(s.term(n)).toBe(1 + (n >> 16));
      expect(s.entries(n - 2, n + 1, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([n - 2, n - 1, n]);
      s.compact(n - 10);
      expect(s.firstIndex()).toBe(n - 9);
    });
  });

  describe("applySnapshot", () => {
    const cs = newConfState({ voters: [1, 2, 3] });
    const data = new TextEncoder().encode("data");
    const snap = (index: number, term: number) =>
      newSnapshot({ data, metadata: { index, term, confState: newConfState({ voters: [1, 2, 3] }) } });

    it("replaces the whole log", () => {
      const s = storageAfter(3, 3, ents(4, 4, 5, 5, 5));
      s.applySnapshot(snap(10, 6));
      expect([s.firstIndex(), s.lastIndex(), s.term(10)]).toEqual([11, 10, 6]);
      expect(thrown(() => s.term(9))).toEqual(errCompacted());
      expect(s.snapshot()).toEqual(snap(10, 6));
      expect(s.initialState().confState).toEqual(cs);
    });

    it.each([
      { name: "older", second: 3 },
      { name: "same index", second: 4 },
    ])("refuses a snapshot not newer than the current one ($name)", ({ second }) => {
      const s = new MemoryStorage();
      s.applySnapshot(snap(4, 4));
      expect(thrown(() => s.applySnapshot(snap(second, 4)))).toEqual(errSnapOutOfDate());
      expect(s.snapshot().metadata.index).toBe(4);
    });

    it("accepts a bootstrap snapshot (index 0, ConfState only), even twice", () => {
      const s = new MemoryStorage();
      s.applySnapshot(newSnapshot({ metadata: { confState: cs } }));
      s.applySnapshot(newSnapshot({ metadata: { confState: cs } }));
      expect(s.initialState().confState).toEqual(cs);
      expect([s.firstIndex(), s.lastIndex()]).toEqual([1, 0]);
      // ...and then any real snapshot.
      s.applySnapshot(snap(1, 1));
      expect(s.lastIndex()).toBe(1);
    });

    it("keeps a copy of the snapshot given", () => {
      const s = new MemoryStorage();
      const given = snap(4, 4);
      s.applySnapshot(given);
      given.metadata.index = 100;
      given.metadata.confState.voters.push(4);
      expect(s.snapshot()).toEqual(snap(4, 4));
    });
  });

  it("stores and returns copies of the HardState", () => {
    const s = new MemoryStorage();
    const hs = { term: 2, vote: 1, commit: 5 };
    s.setHardState(hs);
    hs.term = 3;
    const got = s.initialState().hardState;
    expect(got).toEqual({ term: 2, vote: 1, commit: 5 });
    got.commit = 0;
    expect(s.initialState().hardState.commit).toBe(5);
  });

  it("counts Storage calls", () => {
    const s = storageAfter(3, 3, ents(4, 4, 5));
    s.term(4);
    s.term(5);
    s.entries(4, 5, 0);
    s.firstIndex();
    s.lastIndex();
    s.lastIndex();
    s.snapshot();
    s.initialState();
    expect(s.callStats).toEqual({
      initialState: 1,
      firstIndex: 1,
      lastIndex: 2,
      entries: 1,
      term: 2,
      snapshot: 1,
    });
  });

  // MemoryStorage against a dumb model: a Map from index to entry over [first-1, last].
  it("agrees with a naive model under random appends, compactions and reads", () => {
    type Op =
      | { kind: "append"; back: number; terms: number[] }
      | { kind: "compact"; back: number }
      | { kind: "read"; a: number; b: number; max: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("append" as const),
        back: fc.nat(8),
        terms: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 6 }),
      }),
      fc.record({ kind: fc.constant("compact" as const), back: fc.nat(8) }),
      fc.record({ kind: fc.constant("read" as const), a: fc.nat(12), b: fc.nat(12), max: fc.nat(40) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const s = new MemoryStorage();
        const model = new Map<number, Entry>([[0, newEntry()]]); // the dummy included
        let dummy = 0;
        let last = 0;
        for (const o of ops) {
          if (o.kind === "append") {
            // Start anywhere from a few entries back (possibly compacted) to right after the end.
            const start = Math.max(1, last + 1 - o.back);
            const app = o.terms.map((term, k) => sized(start + k, term, k));
            s.append(app);
            // MemoryStorage replaces everything from the first (non-compacted) entry given.
            const fresh = app.filter((e) => e.index > dummy);
            if (fresh.length > 0) {
              for (let j = fresh[0]!.index; j <= last; j++) model.delete(j);
              last = fresh[0]!.index - 1;
              for (const e of fresh) model.set(++last, e);
            }
          } else if (o.kind === "compact") {
            const i = last - o.back;
            if (i <= dummy) {
              expect(thrown(() => s.compact(i))).toEqual(errCompacted());
            } else {
              s.compact(i);
              for (let j = dummy; j < i; j++) model.delete(j);
              dummy = i;
            }
          } else {
            const lo = Math.min(dummy - 1 + Math.min(o.a, o.b), last + 1);
            const hi = Math.min(dummy - 1 + Math.max(o.a, o.b), last + 1);
            if (lo <= dummy) {
              expect(thrown(() => s.entries(lo, hi, o.max))).toEqual(errCompacted());
            } else if (last === dummy) {
              expect(thrown(() => s.entries(lo, hi, o.max))).toEqual(errUnavailable());
            } else {
              const want: Entry[] = [];
              let size = 0;
              for (let j = lo; j < hi; j++) {
                const e = model.get(j)!;
                size += entrySize(e);
                if (want.length > 0 && size > o.max) break;
                want.push(e);
              }
              const got = s.entries(lo, hi, o.max);
              expect(got).toEqual(want);
              if (got.length > 1) expect(entriesSize(got)).toBeLessThanOrEqual(o.max);
            }
          }
          expect([s.firstIndex(), s.lastIndex()]).toEqual([dummy + 1, last]);
          for (let j = dummy; j <= last; j++) expect(s.term(j)).toBe(model.get(j)!.term);
        }
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("limitSize", () => {
  const e = [sized(1, 1, 5), sized(2, 1, 6), sized(3, 1, 7)];
  const [a, b, c] = e.map(entrySize) as [number, number, number];
  it.each([
    { max: 0, n: 1 },
    { max: a, n: 1 },
    { max: a + b - 1, n: 1 },
    { max: a + b, n: 2 },
    { max: a + b + c - 1, n: 2 },
    { max: a + b + c, n: 3 },
    { max: Number.MAX_SAFE_INTEGER, n: 3 },
  ])("keeps $n entries under $max bytes", ({ max, n }) => {
    expect(limitSize(e, max)).toEqual(e.slice(0, n));
  });
  it("returns an empty array for no entries", () => {
    expect(limitSize([], 0)).toEqual([]);
  });
});
