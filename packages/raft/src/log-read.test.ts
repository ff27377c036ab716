import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ents,
  id,
  logOver,
  panicLines,
  recorder,
  runs,
  SEED,
  snap,
  termRange,
  thrown,
} from "../test/log-fixtures.js";
import { NO_LIMIT } from "./constants.js";
import { errCompacted, errUnavailable } from "./errors.js";
import { newLog } from "./log.js";
import type { Logger } from "./logger.js";
import { entriesSize, entrySize } from "./raftpb/size.js";
import { type Entry, newEntry } from "./raftpb/types.js";
import type { MemoryStorage, Storage } from "./storage.js";

// RaftLog: reading terms and entries (bounds, term, slice with size limits, scan).
describe("RaftLog reads", () => {
  describe("bounds", () => {
    // Snapshot at 100, entries 101..200 all unstable.
    const make = (logger?: Logger) => logOver(100, 0, [], termRange(101, 101, 201), logger).l;
    it.each([
      { lo: 99, hi: 102, want: errCompacted() },
      { lo: 100, hi: 102, want: errCompacted() },
      { lo: 101, hi: 101, want: undefined },
      { lo: 150, hi: 150, want: undefined },
      { lo: 200, hi: 200, want: undefined },
      { lo: 201, hi: 201, want: undefined },
      { lo: 101, hi: 201, want: undefined },
      { lo: 201, hi: 202, want: "slice[201,202) out of bound [101,200]" },
      { lo: 202, hi: 202, want: "slice[202,202) out of bound [101,200]" },
      { lo: 150, hi: 149, want: "invalid slice 150 > 149" },
    ])("mustCheckOutOfBounds($lo, $hi)", ({ lo, hi, want }) => {
      if (want === undefined) {
        make().mustCheckOutOfBounds(lo, hi);
      } else if (typeof want === "string") {
        expect(panicLines((logger) => make(logger).mustCheckOutOfBounds(lo, hi))).toEqual([want]);
      } else {
        expect(thrown(() => make().mustCheckOutOfBounds(lo, hi))).toEqual(want);
      }
    });
  });

  describe("term", () => {
    // Snapshot (100,1), then 101..199 with terms 1..99.
    it.each([
      { i: 99, want: errCompacted() },
      { i: 100, want: 1 },
      { i: 150, want: 50 },
      { i: 199, want: 99 },
      { i: 200, want: errUnavailable() },
    ])("$i", ({ i, want }) => {
      const { l } = logOver(100, 1, [], termRange(101, 1, 100));
      if (typeof want === "number") {
        expect(l.term(i)).toBe(want);
        expect(l.zeroTermOnOutOfBounds(i)).toBe(want);
      } else {
        expect(thrown(() => l.term(i))).toEqual(want);
        expect(l.zeroTermOnOutOfBounds(i)).toBe(0);
        expect(l.matchTerm(id(i, 0))).toBe(false);
      }
    });

    // Storage snapshot at 100, unstable snapshot at 105: the gap between them is unknown.
    it.each([
      { i: 100, want: errCompacted() },
      { i: 101, want: errCompacted() },
      { i: 104, want: errCompacted() },
      { i: 105, want: 1 },
      { i: 106, want: errUnavailable() },
    ])("$i with an unstable snapshot", ({ i, want }) => {
      const { l } = logOver(100, 1, [], []);
      l.restore(snap(105, 1));
      if (typeof want === "number") expect(l.term(i)).toBe(want);
      else expect(thrown(() => l.term(i))).toEqual(want);
    });

    it("passes on storage failures other than the out-of-range ones", () => {
      const { storage } = logOver(0, 0, ents(1, 1, 1), []);
      const broken = new Error("disk on fire");
      const s: Storage = Object.assign(Object.create(storage) as MemoryStorage, {
        term(): number {
          throw broken;
        },
      });
      const l = newLog(s, recorder().logger);
      expect(thrown(() => l.term(1))).toBe(broken);
      expect(thrown(() => l.matchTerm(id(1, 1)))).toBe(broken);
    });

    it.each([
      { name: "Compacted", err: errCompacted },
      { name: "Unavailable", err: errUnavailable },
    ])("takes a storage's in-range $name as out of range", ({ err }) => {
      const { storage } = logOver(0, 0, ents(1, 1, 1), []);
      const s: Storage = Object.assign(Object.create(storage) as MemoryStorage, {
        term(): number {
          throw err();
        },
      });
      const l = newLog(s, recorder().logger);
      expect(thrown(() => l.term(1))).toEqual(err());
      expect(l.matchTerm(id(1, 1))).toBe(false);
      expect(l.zeroTermOnOutOfBounds(1)).toBe(0);
      expect(l.findConflictByTerm(1, 5)).toEqual([1, 0]);
    });

    it("lastEntryID panics if storage cannot give the last term", () => {
      const lines = panicLines((logger) => {
        const { storage } = logOver(0, 0, ents(1, 1, 1), []);
        const s: Storage = Object.assign(Object.create(storage) as MemoryStorage, {
          term(): number {
            throw errCompacted();
          },
        });
        newLog(s, logger).lastEntryID();
      });
      expect(lines).toEqual([
        "unexpected error when getting the last term at 2: requested index is unavailable due to compaction",
      ]);
    });
  });

  describe("slice", () => {
    // Snapshot at 100; storage holds 101..149, the unstable log 150..199. Entries carry
    // (5 * index) % 11 bytes of data so that sizes differ: 148, 149, 150, 151 carry 3, 8, 2, 7.
    const mk = (i: number) => newEntry({ index: i, term: i, data: new Uint8Array((5 * i) % 11) });
    const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, k) => mk(lo + k));
    const size = (lo: number, hi: number) => entriesSize(range(lo, hi));
    const make = (logger?: Logger) => logOver(100, 100, range(101, 150), range(150, 200), logger).l;

    it.each([
      { lo: 99, hi: 101, max: NO_LIMIT, want: errCompacted() },
      { lo: 100, hi: 101, max: NO_LIMIT, want: errCompacted() },
      // No limit: any range, in storage, unstable or across.
      { lo: 101, hi: 101, max: NO_LIMIT, want: [101, 101] },
      { lo: 101, hi: 149, max: NO_LIMIT, want: [101, 149] },
      { lo: 101, hi: 150, max: NO_LIMIT, want: [101, 150] },
      { lo: 101, hi: 151, max: NO_LIMIT, want: [101, 151] },
      { lo: 101, hi: 200, max: NO_LIMIT, want: [101, 200] },
      { lo: 149, hi: 150, max: NO_LIMIT, want: [149, 150] },
      { lo: 149, hi: 151, max: NO_LIMIT, want: [149, 151] },
      { lo: 150, hi: 151, max: NO_LIMIT, want: [150, 151] },
      { lo: 150, hi: 200, max: NO_LIMIT, want: [150, 200] },
      { lo: 199, hi: 200, max: NO_LIMIT, want: [199, 200] },
      // At least one entry, wherever it is.
      { lo: 101, hi: 200, max: 0, want: [101, 102] },
      { lo: 149, hi: 151, max: 0, want: [149, 150] },
      { lo: 150, hi: 200, max: 0, want: [150, 151] },
      { lo: 151, hi: 200, max: 0, want: [151, 152] },
      // Limits at the exact sizes, within storage, within unstable, and across the boundary.
      { lo: 101, hi: 200, max: size(101, 103), want: [101, 103] },
      { lo: 101, hi: 200, max: size(101, 103) - 1, want: [101, 102] },
      { lo: 148, hi: 152, max: size(148, 150), want: [148, 150] }, // exactly the stored part
      // Storage stops at 148 (149 is too big): 150 would fit in what is left, but must not be
      // returned after a gap.
      { lo: 148, hi: 152, max: size(148, 150) - 1, want: [148, 149] },
      { lo: 148, hi: 152, max: size(148, 151), want: [148, 151] }, // one unstable entry fits exactly
      { lo: 148, hi: 152, max: size(148, 151) - 1, want: [148, 150] }, // ...and not one byte less
      { lo: 148, hi: 152, max: size(148, 152), want: [148, 152] },
      { lo: 148, hi: 152, max: size(148, 152) + 100, want: [148, 152] },
      { lo: 149, hi: 151, max: size(149, 151) - 1, want: [149, 150] },
      { lo: 150, hi: 200, max: size(150, 153), want: [150, 153] },
      { lo: 150, hi: 200, max: size(150, 153) - 1, want: [150, 152] },
    ])("[$lo, $hi) max $max", ({ lo, hi, max, want }) => {
      const l = make();
      if (Array.isArray(want)) {
        const got = l.slice(lo, hi, max);
        expect(got).toEqual(range(want[0]!, want[1]!));
      } else {
        expect(thrown(() => l.slice(lo, hi, max))).toEqual(want);
      }
    });

    it.each([
      { lo: 150, hi: 149, line: "invalid slice 150 > 149" },
      { lo: 199, hi: 201, line: "slice[199,201) out of bound [101,199]" },
    ])("panics on [$lo, $hi)", ({ lo, hi, line }) => {
      expect(panicLines((logger) => make(logger).slice(lo, hi, NO_LIMIT))).toEqual([line]);
    });

    it("panics if storage says entries are unavailable", () => {
      const lines = panicLines((logger) => {
        const { storage } = logOver(0, 0, ents(1, 1, 1), []);
        const s: Storage = Object.assign(Object.create(storage) as MemoryStorage, {
          entries(): Entry[] {
            throw errUnavailable();
          },
        });
        newLog(s, logger).slice(1, 3, NO_LIMIT);
      });
      expect(lines).toEqual(["entries[1:3) is unavailable from storage"]);
    });

    it("returns arrays the caller owns", () => {
      const l = make();
      for (const [lo, hi] of [
        [101, 150],
        [149, 152],
        [150, 152],
      ] as const) {
        const got = l.slice(lo, hi, NO_LIMIT);
        got.push(mk(500));
        got[0] = mk(600);
      }
      expect(l.allEntries()).toEqual(range(101, 200));
      expect(l.entries(198, 0)).toEqual(range(198, 199));
      expect(l.entries(200, NO_LIMIT)).toEqual([]);
    });

    // Against the naive definition: the longest prefix of the whole log's [lo, hi) within
    // maxSize, but at least one entry.
    it("agrees with limiting the concatenated log", () => {
      fc.assert(
        fc.property(
          fc.array(fc.constantFrom(0, 1, 5, 20), { minLength: 1, maxLength: 12 }), // data sizes
          fc.nat(12), // how many are stable
          fc.nat(12),
          fc.nat(12),
          fc.nat(80),
          (sizes, stableN, a, b, max) => {
            const all = sizes.map((n, k) => newEntry({ index: 11 + k, term: 1, data: new Uint8Array(n) }));
            const cut = Math.min(stableN, all.length);
            const { l } = logOver(10, 1, all.slice(0, cut), all.slice(cut));
            const lo = 11 + (Math.min(a, b) % (all.length + 1));
            const hi = 11 + (Math.max(a, b) % (all.length + 1));
            if (lo > hi) return;
            const want: Entry[] = [];
            let total = 0;
            for (const e of all.slice(lo - 11, hi - 11)) {
              total += entrySize(e);
              if (want.length > 0 && total > max) break;
              want.push(e);
            }
            expect(l.slice(lo, hi, max)).toEqual(want);
          },
        ),
        { seed: SEED, numRuns: runs(1000) },
      );
    });
  });

  describe("scan", () => {
    // Snapshot at 47; storage 48..56, unstable 57..66, all the same size.
    const mk = (i: number) => newEntry({ index: i, term: i });
    const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, k) => mk(lo + k));
    const one = entrySize(mk(57));
    const make = () => logOver(47, 47, range(48, 57), range(57, 67)).l;

    it("visits the same entries as slice, in pages within the limit", () => {
      const l = make();
      for (const page of [0, 1, 10, 100, one, one + 1]) {
        for (let lo = 48; lo < 67; lo++) {
          for (let hi = lo; hi <= 67; hi++) {
            const got: Entry[] = [];
            l.scan(lo, hi, page, (ents) => {
              expect(ents.length === 1 || entriesSize(ents) <= page).toBe(true);
              got.push(...ents);
              return true;
            });
            expect(got).toEqual(l.slice(lo, hi, NO_LIMIT));
          }
        }
      }
    });

    it("fills each page up to the limit", () => {
      const pages: number[] = [];
      make().scan(48, 58, one * 2, (ents) => {
        expect(entriesSize(ents)).toBe(one * 2);
        pages.push(ents.length);
        return true;
      });
      expect(pages).toEqual([2, 2, 2, 2, 2]);
    });

    it("stops when the visitor returns false, and passes its errors on", () => {
      let visits = 0;
      make().scan(48, 57, 0, () => ++visits < 2);
      expect(visits).toBe(2);
      const boom = new Error("boom");
      expect(
        thrown(() =>
          make().scan(48, 57, 0, () => {
            throw boom;
          }),
        ),
      ).toBe(boom);
    });

    it("throws a Compacted RaftError for a compacted range", () => {
      expect(thrown(() => make().scan(40, 50, NO_LIMIT, () => true))).toEqual(errCompacted());
    });
  });
});
