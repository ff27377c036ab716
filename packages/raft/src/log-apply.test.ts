import { describe, expect, it } from "vitest";
import { ents, id, logWith, panicLines, recorder, snap } from "../test/log-fixtures.js";
import { NO_LIMIT } from "./constants.js";
import { newLog, newLogWithSize } from "./log.js";
import { entriesSize, entrySize } from "./raftpb/size.js";
import { newEntry } from "./raftpb/types.js";
import { MemoryStorage } from "./storage.js";

// RaftLog: handing committed entries to the application (nextCommittedEnts, acceptApplying,
// appliedTo) and the maxApplyingEntsSize budget.

/**
 * Storage: snapshot (3,1) + entry 4; the log appends 4..6 (term 1), 4 is stable, committed = 5,
 * applied = `applied`; `maxSize` is maxApplyingEntsSize.
 */
function stableAndUnstable(applied: number, maxSize: number) {
  const storage = new MemoryStorage();
  storage.applySnapshot(snap(3, 1));
  storage.append(ents(4, 1));
  const l = newLogWithSize(storage, recorder().logger, maxSize);
  l.append(ents(4, 1, 1, 1));
  l.stableTo(id(4, 1));
  l.maybeCommit(id(5, 1));
  l.appliedTo(applied, 0);
  return l;
}
describe("RaftLog applying", () => {
  describe("committed entries", () => {
    function setup(applied: number, applying: number, allowUnstable: boolean, maxSize = NO_LIMIT) {
      const l = stableAndUnstable(applied, maxSize);
      l.acceptApplying(applying, 0, allowUnstable);
      // acceptApplying pauses whenever it stops short of what could be applied; unpause to see
      // what nextCommittedEnts would do (the "paused" cases set it explicitly).
      l.applyingEntsPaused = false;
      return l;
    }
    it.each([
      { applied: 3, applying: 3, allowUnstable: true, want: [4, 5] },
      { applied: 3, applying: 4, allowUnstable: true, want: [5] },
      { applied: 3, applying: 5, allowUnstable: true, want: [] },
      { applied: 4, applying: 4, allowUnstable: true, want: [5] },
      { applied: 4, applying: 5, allowUnstable: true, want: [] },
      { applied: 5, applying: 5, allowUnstable: true, want: [] },
      // Only what is stable (index 4).
      { applied: 3, applying: 3, allowUnstable: false, want: [4] },
      { applied: 3, applying: 4, allowUnstable: false, want: [] },
      { applied: 3, applying: 5, allowUnstable: false, want: [] },
      { applied: 4, applying: 4, allowUnstable: false, want: [] },
      { applied: 4, applying: 5, allowUnstable: false, want: [] },
      { applied: 5, applying: 5, allowUnstable: false, want: [] },
      // Paused: nothing.
      { applied: 3, applying: 3, allowUnstable: true, paused: true, want: [] },
      // A pending snapshot goes first.
      { applied: 3, applying: 3, allowUnstable: true, snap: true, want: [] },
    ])("applied $applied applying $applying allowUnstable $allowUnstable %#", (c) => {
      const l = setup(c.applied, c.applying, c.allowUnstable);
      if (c.paused) l.applyingEntsPaused = true;
      if (c.snap) l.restore(snap(4, 1));
      expect(l.nextCommittedEnts(c.allowUnstable).map((e) => e.index)).toEqual(c.want);
      expect(l.hasNextCommittedEnts(c.allowUnstable)).toBe(c.want.length > 0);
    });

    it("hands out at most maxApplyingEntsSize outstanding bytes, then pauses until applied", () => {
      const storage = new MemoryStorage();
      const es = [1, 2, 3, 4].map((i) => newEntry({ index: i, term: 1, data: new Uint8Array(10) }));
      storage.append(es);
      const one = entrySize(es[0]!); // all four have the same size
      const l = newLogWithSize(storage, recorder().logger, 2 * one + 1);
      l.commitTo(4);

      const first = l.nextCommittedEnts(true);
      expect(first.map((e) => e.index)).toEqual([1, 2]);
      l.acceptApplying(2, entriesSize(first), true);
      // Cut short by the limit: paused, even though budget is left.
      expect(l.applyingEntsPaused).toBe(true);
      expect(l.nextCommittedEnts(true)).toEqual([]);
      expect(l.hasNextCommittedEnts(true)).toBe(false);

      l.appliedTo(1, one);
      expect([l.applyingEntsSize, l.applyingEntsPaused]).toEqual([one, false]);
      // Budget left: one entry (the second would exceed it).
      const second = l.nextCommittedEnts(true);
      expect(second.map((e) => e.index)).toEqual([3]);
      l.acceptApplying(3, entrySize(second[0]!), true);
      expect([l.applyingEntsSize, l.applyingEntsPaused]).toEqual([2 * one, true]);

      l.appliedTo(3, 2 * one);
      expect(l.nextCommittedEnts(true).map((e) => e.index)).toEqual([4]);
    });

    it("panics on a zero budget that is not paused", () => {
      const lines = panicLines((logger) => {
        const storage = new MemoryStorage();
        storage.append(ents(1, 1, 1));
        const l = newLogWithSize(storage, logger, 100);
        l.commitTo(2);
        l.applyingEntsSize = 100; // inconsistent with applyingEntsPaused = false
        l.nextCommittedEnts(true);
      });
      expect(lines).toEqual(["applying entry size (100-100)=0 not positive"]);
    });

    it("treats an overdrawn budget as unlimited, as etcd's unsigned subtraction does", () => {
      const storage = new MemoryStorage();
      storage.append(ents(1, 1, 1));
      const l = newLogWithSize(storage, recorder().logger, 100);
      l.commitTo(2);
      l.applyingEntsSize = 101;
      expect(l.nextCommittedEnts(true).map((e) => e.index)).toEqual([1, 2]);
    });

    it("panics if the entries to apply were compacted away", () => {
      const lines = panicLines((logger) => {
        const storage = new MemoryStorage();
        storage.append(ents(1, 1, 1, 1));
        const l = newLog(storage, logger);
        l.commitTo(3);
        storage.compact(2);
        l.nextCommittedEnts(true);
      });
      expect(lines).toEqual([
        "unexpected error when getting unapplied entries (requested index is unavailable due to compaction)",
      ]);
    });
  });

  describe("acceptApplying", () => {
    const max = 100;
    // Same log as above: stable 4, unstable 5 6, committed 5, applied 3.
    it.each([
      { i: 3, allow: true, size: max - 1, paused: true }, // stopped short of appliable index 5
      { i: 3, allow: true, size: max, paused: true },
      { i: 3, allow: true, size: max + 1, paused: true },
      { i: 4, allow: true, size: max - 1, paused: true },
      { i: 4, allow: true, size: max, paused: true },
      { i: 4, allow: true, size: max + 1, paused: true },
      { i: 5, allow: true, size: max - 1, paused: false },
      { i: 5, allow: true, size: max, paused: true }, // budget reached
      { i: 5, allow: true, size: max + 1, paused: true },
      { i: 3, allow: false, size: max - 1, paused: true }, // stopped short of appliable index 4
      { i: 3, allow: false, size: max, paused: true },
      { i: 3, allow: false, size: max + 1, paused: true },
      { i: 4, allow: false, size: max - 1, paused: false },
      { i: 4, allow: false, size: max, paused: true },
      { i: 4, allow: false, size: max + 1, paused: true },
      { i: 5, allow: false, size: max - 1, paused: false },
      { i: 5, allow: false, size: max, paused: true },
      { i: 5, allow: false, size: max + 1, paused: true },
    ])("to $i ($size bytes, allowUnstable $allow)", ({ i, allow, size, paused }) => {
      const l = stableAndUnstable(3, max);
      l.acceptApplying(i, size, allow);
      expect([l.applying, l.applyingEntsSize, l.applyingEntsPaused]).toEqual([i, size, paused]);
    });

    it("panics past the commit index", () => {
      const lines = panicLines((logger) => {
        const l = logWith(ents(1, 1, 1), logger);
        l.commitTo(1);
        l.acceptApplying(2, 0, true);
      });
      expect(lines).toEqual(["applying(2) is out of range [prevApplying(0), committed(1)]"]);
    });
  });

  describe("appliedTo", () => {
    const max = 100;
    const over = 5;
    // applying = 5 with max+over bytes outstanding.
    it.each([
      { i: 4, size: over - 1, left: max + 1, paused: true },
      { i: 4, size: over, left: max, paused: true },
      { i: 4, size: over + 1, left: max - 1, paused: false },
      { i: 5, size: over - 1, left: max + 1, paused: true },
      { i: 5, size: over, left: max, paused: true },
      { i: 5, size: over + 1, left: max - 1, paused: false },
      { i: 4, size: max + over, left: 0, paused: false },
      { i: 4, size: max + over + 1, left: 0, paused: false }, // bad accounting never goes below 0
    ])("to $i releasing $size bytes", ({ i, size, left, paused }) => {
      const l = stableAndUnstable(3, max);
      l.acceptApplying(5, max + over, false);
      l.appliedTo(i, size);
      expect([l.applied, l.applying, l.applyingEntsSize, l.applyingEntsPaused]).toEqual([i, 5, left, paused]);
    });

    it("moves applying up along with applied", () => {
      const l = logWith(ents(1, 1, 1, 1));
      l.commitTo(3);
      l.appliedTo(2, 0);
      expect([l.applied, l.applying]).toEqual([2, 2]);
    });

    it.each([
      {
        name: "past the commit index",
        i: 3,
        line: "applied(3) is out of range [prevApplied(1), committed(2)]",
      },
      {
        name: "before the applied index",
        i: 0,
        line: "applied(0) is out of range [prevApplied(1), committed(2)]",
      },
    ])("panics $name", ({ i, line }) => {
      const lines = panicLines((logger) => {
        const l = logWith(ents(1, 1, 1, 1), logger);
        l.commitTo(2);
        l.appliedTo(1, 0);
        l.appliedTo(i, 0);
      });
      expect(lines).toEqual([line]);
    });
  });
});
