import { describe, expect, it } from "vitest";
import {
  ents,
  id,
  logOver,
  logWith,
  panicLines,
  recorder,
  snap,
  termRange,
  thrown,
} from "../test/log-fixtures.js";
import { NO_LIMIT } from "./constants.js";
import { errCompacted, errSnapshotTemporarilyUnavailable } from "./errors.js";
import { newLog, newLogWithSize } from "./log.js";
import { type Entry, newEntry, type Snapshot } from "./raftpb/types.js";
import { MemoryStorage, type Storage } from "./storage.js";
import type { EntryID } from "./types.js";

// RaftLog: construction, appends and conflicts, commit, stable and snapshot bookkeeping.
// Applying is in log-apply.test.ts, reads (term, slice, scan) in log-read.test.ts.
describe("RaftLog", () => {
  it("starts just after the storage's snapshot", () => {
    const { l } = logOver(1000, 1000, [], []);
    expect(l.allEntries()).toEqual([]);
    expect([l.firstIndex(), l.lastIndex(), l.committed, l.applying, l.applied]).toEqual([
      1001, 1000, 1000, 1000, 1000,
    ]);
    expect([l.unstable.offset, l.unstable.offsetInProgress]).toEqual([1001, 1001]);
    expect(l.term(1000)).toBe(1000);
    expect(l.lastEntryID()).toEqual(id(1000, 1000));
    expect(l.maxApplyingEntsSize).toBe(NO_LIMIT);
    expect(newLogWithSize(new MemoryStorage(), recorder().logger, 77).maxApplyingEntsSize).toBe(77);
  });

  it("formats itself as etcd does", () => {
    const { l } = logOver(3, 1, ents(4, 1), ents(5, 1, 1));
    l.commitTo(5);
    l.acceptApplying(5, 0, true);
    l.appliedTo(4, 0);
    l.acceptUnstable();
    l.append(ents(7, 2));
    expect(l.toString()).toBe(
      "committed=5, applied=4, applying=5, unstable.offset=5, unstable.offsetInProgress=7, len(unstable.Entries)=3",
    );
  });

  describe("findConflict", () => {
    // Log: (1,1) (2,2) (3,3).
    it.each([
      { app: [], want: 0 },
      { app: ents(1, 1, 2, 3), want: 0 },
      { app: ents(2, 2, 3), want: 0 },
      { app: ents(3, 3), want: 0 },
      // No conflict, but new entries: the first new one.
      { app: ents(1, 1, 2, 3, 4, 4), want: 4 },
      { app: ents(2, 2, 3, 4, 5), want: 4 },
      { app: ents(3, 3, 4, 4), want: 4 },
      { app: ents(4, 4, 4), want: 4 },
      // Conflicts with existing entries: the first conflicting one, logged.
      {
        app: ents(1, 4, 4),
        want: 1,
        line: "found conflict at index 1 [existing term: 1, conflicting term: 4]",
      },
      {
        app: ents(2, 1, 4, 4),
        want: 2,
        line: "found conflict at index 2 [existing term: 2, conflicting term: 1]",
      },
      {
        app: ents(3, 1, 2, 4, 4),
        want: 3,
        line: "found conflict at index 3 [existing term: 3, conflicting term: 1]",
      },
    ])("%#: $want", ({ app, want, line }) => {
      const { logger, lines } = recorder();
      const l = logWith(ents(1, 1, 2, 3), logger);
      lines.length = 0;
      expect(l.findConflict(app)).toBe(want);
      expect(lines).toEqual(line === undefined ? [] : [`INFO ${line}`]);
    });
  });

  describe("findConflictByTerm", () => {
    // From index 1: terms 2 2 5 5 5 (empty snapshot at 0).
    const fromStart = () => logOver(0, 0, [], ents(1, 2, 2, 5, 5, 5)).l;
    // Compacted up to (10,3), then 11:3 12:3 13:4 14:4 15:4.
    const compacted = () => logOver(10, 3, [], ents(11, 3, 3, 4, 4, 4)).l;
    it.each([
      { log: fromStart, index: 100, term: 2, want: [100, 0] }, // unavailable: a possible match
      { log: fromStart, index: 5, term: 6, want: [5, 5] },
      { log: fromStart, index: 5, term: 5, want: [5, 5] },
      { log: fromStart, index: 5, term: 4, want: [2, 2] }, // skips the whole of term 5
      { log: fromStart, index: 5, term: 2, want: [2, 2] },
      { log: fromStart, index: 5, term: 1, want: [0, 0] },
      { log: fromStart, index: 1, term: 2, want: [1, 2] },
      { log: fromStart, index: 1, term: 1, want: [0, 0] },
      { log: fromStart, index: 0, term: 0, want: [0, 0] },
      { log: compacted, index: 30, term: 3, want: [30, 0] },
      { log: compacted, index: 15, term: 9, want: [15, 4] },
      { log: compacted, index: 15, term: 4, want: [15, 4] },
      { log: compacted, index: 15, term: 3, want: [12, 3] },
      { log: compacted, index: 15, term: 2, want: [9, 0] }, // reaches the compacted part: unknown
      { log: compacted, index: 12, term: 5, want: [12, 3] },
      { log: compacted, index: 10, term: 5, want: [10, 3] }, // the snapshot's term is known
      { log: compacted, index: 10, term: 3, want: [10, 3] },
      { log: compacted, index: 10, term: 2, want: [9, 0] },
      { log: compacted, index: 9, term: 2, want: [9, 0] },
      { log: compacted, index: 4, term: 2, want: [4, 0] },
      { log: compacted, index: 0, term: 0, want: [0, 0] },
    ])("%#: ($index, $term)", ({ log, index, term, want }) => {
      const l = log();
      const got = l.findConflictByTerm(index, term);
      expect(got).toEqual(want);
      expect(got[1]).toBe(l.zeroTermOnOutOfBounds(got[0]));
    });
  });

  describe("isUpToDate", () => {
    // Last entry (3,3).
    it.each([
      { their: id(2, 4), want: true }, // a later term wins whatever the index
      { their: id(3, 4), want: true },
      { their: id(4, 4), want: true },
      { their: id(2, 2), want: false }, // an earlier term loses whatever the index
      { their: id(3, 2), want: false },
      { their: id(4, 2), want: false },
      { their: id(2, 3), want: false }, // same term: the longer log wins, a tie is up to date
      { their: id(3, 3), want: true },
      { their: id(4, 3), want: true },
    ])("$their", ({ their, want }) => {
      expect(logWith(ents(1, 1, 2, 3)).isUpToDate(their)).toBe(want);
    });
  });

  describe("append", () => {
    // Storage: (1,1) (2,2); nothing unstable.
    it.each([
      { app: [], last: 2, all: [1, 2], offset: 3 },
      { app: ents(3, 2), last: 3, all: [1, 2, 2], offset: 3 },
      // Replacing stored entries moves the unstable offset back to them.
      { app: ents(1, 2), last: 1, all: [2], offset: 1 },
      { app: ents(2, 3, 3), last: 3, all: [1, 3, 3], offset: 2 },
    ])("$app.length entries: last $last", ({ app, last, all, offset }) => {
      const storage = new MemoryStorage();
      storage.append(ents(1, 1, 2));
      const l = newLog(storage, recorder().logger);
      expect(l.append(app)).toBe(last);
      expect(l.entries(1, NO_LIMIT).map((e) => e.term)).toEqual(all);
      expect(l.unstable.offset).toBe(offset);
    });

    it("panics when it would truncate committed entries", () => {
      const lines = panicLines((logger) => {
        const l = logWith(ents(1, 1, 2, 3), logger);
        l.commitTo(2);
        l.append(ents(3, 4)); // fine: after the commit index
        l.append(ents(2, 4));
      });
      expect(lines).toEqual(["after(1) is out of range [committed(2)]"]);
    });
  });

  describe("maybeAppend", () => {
    // Log (1,1) (2,2) (3,3), committed 1. Each case: prev, leader commit, entries -> the answer,
    // the commit index and the terms of the whole log after.
    type Case = {
      prev: EntryID;
      commit: number;
      app: Entry[];
      want: number | undefined;
      committed: number;
      log: number[];
    };
    it.each<Case>([
      // prev does not match: nothing happens.
      { prev: id(3, 2), commit: 3, app: ents(4, 4), want: undefined, committed: 1, log: [1, 2, 3] },
      { prev: id(4, 3), commit: 3, app: ents(5, 4), want: undefined, committed: 1, log: [1, 2, 3] },
      // prev is the last entry: commit advances to min(leader commit, last new index).
      { prev: id(3, 3), commit: 3, app: [], want: 3, committed: 3, log: [1, 2, 3] },
      { prev: id(3, 3), commit: 4, app: [], want: 3, committed: 3, log: [1, 2, 3] },
      { prev: id(3, 3), commit: 2, app: [], want: 3, committed: 2, log: [1, 2, 3] },
      { prev: id(3, 3), commit: 0, app: [], want: 3, committed: 1, log: [1, 2, 3] }, // never decreases
      { prev: id(0, 0), commit: 3, app: [], want: 0, committed: 1, log: [1, 2, 3] },
      { prev: id(3, 3), commit: 3, app: ents(4, 4), want: 4, committed: 3, log: [1, 2, 3, 4] },
      { prev: id(3, 3), commit: 4, app: ents(4, 4), want: 4, committed: 4, log: [1, 2, 3, 4] },
      { prev: id(3, 3), commit: 5, app: ents(4, 4), want: 4, committed: 4, log: [1, 2, 3, 4] },
      { prev: id(3, 3), commit: 5, app: ents(4, 4, 4), want: 5, committed: 5, log: [1, 2, 3, 4, 4] },
      // prev in the middle: a conflicting suffix is replaced.
      { prev: id(2, 2), commit: 3, app: ents(3, 4), want: 3, committed: 3, log: [1, 2, 4] },
      { prev: id(1, 1), commit: 3, app: ents(2, 4), want: 2, committed: 2, log: [1, 4] },
      { prev: id(1, 1), commit: 3, app: ents(2, 4, 4), want: 3, committed: 3, log: [1, 4, 4] },
      // Entries the log holds already: nothing is truncated, even after the last new index, but
      // the commit index stops at it.
      { prev: id(1, 1), commit: 3, app: ents(2, 2), want: 2, committed: 2, log: [1, 2, 3] },
      { prev: id(0, 0), commit: 3, app: ents(1, 1, 2, 3, 3), want: 4, committed: 3, log: [1, 2, 3, 3] },
    ])("prev $prev commit $commit: %#", ({ prev, commit, app, want, committed, log }) => {
      const l = logWith(ents(1, 1, 2, 3));
      l.commitTo(1);
      expect(l.maybeAppend({ term: 100, prev, entries: app }, commit)).toBe(want);
      expect(l.committed).toBe(committed);
      expect(l.allEntries()).toEqual(ents(1, ...log));
    });

    it("panics on a conflict with a committed entry", () => {
      const lines = panicLines((logger) => {
        const l = logWith(ents(1, 1, 2, 3), logger);
        l.commitTo(1);
        l.maybeAppend({ term: 100, prev: id(0, 0), entries: ents(1, 4) }, 3);
      });
      expect(lines).toEqual(["entry 1 conflict with committed entry [committed(1)]"]);
    });
  });

  it("keeps working across a storage compaction", () => {
    // 750 entries in storage, 250 unstable, term = index.
    const storage = new MemoryStorage();
    storage.append(termRange(1, 1, 751));
    const l = newLog(storage, recorder().logger);
    l.append(termRange(751, 751, 1001));
    expect(l.maybeCommit(l.lastEntryID())).toBe(true);
    l.appliedTo(l.committed, 0);

    storage.compact(500);
    expect([l.firstIndex(), l.lastIndex()]).toEqual([501, 1000]);
    for (let j = 500; j <= 1000; j++) {
      expect(l.term(j)).toBe(j);
      expect(l.matchTerm(id(j, j))).toBe(true);
    }
    expect(thrown(() => l.term(499))).toEqual(errCompacted());
    const unstable = l.nextUnstableEnts();
    expect(unstable.map((e) => e.index)).toEqual(termRange(751, 751, 1001).map((e) => e.index));
    expect(l.append([newEntry({ index: 1001, term: 1001 })])).toBe(1001);
    expect(l.entries(1001, NO_LIMIT)).toEqual([newEntry({ index: 1001, term: 1001 })]);
    expect(thrown(() => l.entries(500, NO_LIMIT))).toEqual(errCompacted());
  });

  describe("unstable entries", () => {
    it.each([
      { name: "all stable", stable: 2, want: [] },
      { name: "all unstable", stable: 0, want: [1, 2] },
      { name: "half", stable: 1, want: [2] },
    ])("nextUnstableEnts: $name", ({ stable, want }) => {
      const all = ents(1, 1, 2);
      const storage = new MemoryStorage();
      storage.append(all.slice(0, stable));
      const l = newLog(storage, recorder().logger);
      l.append(all.slice(stable));
      const got = l.nextUnstableEnts();
      expect(got.map((e) => e.index)).toEqual(want);
      expect(l.hasNextUnstableEnts()).toBe(want.length > 0);
      expect(l.hasNextOrInProgressUnstableEnts()).toBe(want.length > 0);
      if (got.length > 0) l.stableTo(id(got.at(-1)!.index, got.at(-1)!.term));
      expect(l.unstable.offset).toBe(3);
      expect(l.hasNextOrInProgressUnstableEnts()).toBe(false);
    });

    it("acceptUnstable marks them in progress until new ones come", () => {
      const l = logWith(ents(1, 1, 2));
      l.acceptUnstable();
      expect([l.nextUnstableEnts(), l.hasNextUnstableEnts(), l.hasNextOrInProgressUnstableEnts()]).toEqual([
        [],
        false,
        true,
      ]);
      l.append(ents(3, 2));
      expect(l.nextUnstableEnts()).toEqual(ents(3, 2));
    });
  });

  describe("commitTo", () => {
    it.each([
      { to: 3, want: 3 },
      { to: 1, want: 2 }, // never decreases
    ])("to $to", ({ to, want }) => {
      const l = logWith(ents(1, 1, 2, 3));
      l.committed = 2;
      l.commitTo(to);
      expect(l.committed).toBe(want);
    });

    it("panics past the last index", () => {
      const lines = panicLines((logger) => logWith(ents(1, 1, 2, 3), logger).commitTo(4));
      expect(lines).toEqual([
        "tocommit(4) is out of range [lastIndex(3)]. Was the raft log corrupted, truncated, or lost?",
      ]);
    });
  });

  describe("maybeCommit", () => {
    it.each([
      { at: id(2, 2), want: true, committed: 2 },
      { at: id(3, 3), want: true, committed: 3 },
      { at: id(1, 1), want: false, committed: 1 }, // not after the commit index
      { at: id(3, 2), want: false, committed: 1 }, // term mismatch
      { at: id(4, 3), want: false, committed: 1 }, // not in the log
      { at: id(0, 0), want: false, committed: 1 },
    ])("$at", ({ at, want, committed }) => {
      const l = logWith(ents(1, 1, 2, 3));
      l.commitTo(1);
      expect(l.maybeCommit(at)).toBe(want);
      expect(l.committed).toBe(committed);
    });

    it("never commits at term 0", () => {
      const storage = new MemoryStorage();
      storage.append(ents(1, 0, 0));
      const l = newLog(storage, recorder().logger);
      expect(l.matchTerm(id(2, 0))).toBe(true);
      expect(l.maybeCommit(id(2, 0))).toBe(false);
      expect(l.committed).toBe(0);
    });
  });

  describe("stableTo", () => {
    it.each([
      { to: id(1, 1), offset: 2 },
      { to: id(2, 2), offset: 3 },
      { to: id(2, 1), offset: 1 }, // bad term
      { to: id(3, 1), offset: 1 }, // bad index
    ])("$to", ({ to, offset }) => {
      const l = logWith(ents(1, 1, 2));
      l.stableTo(to);
      expect(l.unstable.offset).toBe(offset);
    });

    // Storage snapshot at (5,2); optionally (6,2) appended unstable.
    it.each([
      { to: id(6, 2), app: [], offset: 6 },
      { to: id(5, 2), app: [], offset: 6 },
      { to: id(4, 2), app: [], offset: 6 },
      { to: id(6, 3), app: [], offset: 6 },
      { to: id(5, 3), app: [], offset: 6 },
      { to: id(4, 3), app: [], offset: 6 },
      { to: id(6, 2), app: ents(6, 2), offset: 7 },
      { to: id(5, 2), app: ents(6, 2), offset: 6 },
      { to: id(4, 2), app: ents(6, 2), offset: 6 },
      { to: id(6, 3), app: ents(6, 2), offset: 6 },
      { to: id(5, 3), app: ents(6, 2), offset: 6 },
      { to: id(4, 3), app: ents(6, 2), offset: 6 },
    ])("$to after a snapshot, $app.length appended", ({ to, app, offset }) => {
      const { l } = logOver(5, 2, [], app);
      l.stableTo(to);
      expect(l.unstable.offset).toBe(offset);
    });
  });

  it.each([
    { compact: [300, 500, 800, 900], left: [700, 500, 200, 100] },
    { compact: [300, 299], left: [700, errCompacted()] },
    { compact: [1000], left: [0] },
  ])("allEntries after storage compactions $compact", ({ compact, left }) => {
    const storage = new MemoryStorage();
    storage.append(termRange(1, 1, 1001));
    const l = newLog(storage, recorder().logger);
    compact.forEach((c, k) => {
      const want = left[k];
      if (typeof want === "number") {
        storage.compact(c);
        expect(l.allEntries()).toHaveLength(want);
      } else {
        expect(thrown(() => storage.compact(c))).toEqual(want);
      }
    });
  });

  it("restore makes the snapshot the unstable part and logs etcd's line", () => {
    const { logger, lines } = recorder();
    const { l } = logOver(100, 1, ents(101, 1, 1), ents(103, 2), logger);
    lines.length = 0;
    l.restore(snap(200, 5));
    expect(lines).toEqual([
      "INFO log [committed=100, applied=100, applying=100, unstable.offset=103, unstable.offsetInProgress=103, " +
        "len(unstable.Entries)=1] starts to restore snapshot [index: 200, term: 5]",
    ]);
    expect([l.committed, l.firstIndex(), l.lastIndex(), l.lastEntryID()]).toEqual([
      200,
      201,
      200,
      id(200, 5),
    ]);
    expect(l.hasNextUnstableSnapshot()).toBe(true);
    expect(l.hasNextOrInProgressSnapshot()).toBe(true);
    expect(l.nextUnstableSnapshot()).toEqual(snap(200, 5));
    expect(l.snapshot()).toEqual(snap(200, 5));
    l.acceptUnstable();
    expect([l.hasNextUnstableSnapshot(), l.nextUnstableSnapshot(), l.hasNextOrInProgressSnapshot()]).toEqual([
      false,
      undefined,
      true,
    ]);
    l.stableSnapTo(200);
    expect(l.hasNextOrInProgressSnapshot()).toBe(false);
  });

  it("snapshot() falls back to storage, and passes its errors on", () => {
    const { storage, l } = logOver(7, 2, [], []);
    expect(l.snapshot()).toEqual(snap(7, 2));
    expect(l.nextUnstableSnapshot()).toBeUndefined();
    const busy: Storage = Object.assign(Object.create(storage) as MemoryStorage, {
      snapshot(): Snapshot {
        throw errSnapshotTemporarilyUnavailable();
      },
    });
    expect(thrown(() => newLog(busy, recorder().logger).snapshot())).toEqual(
      errSnapshotTemporarilyUnavailable(),
    );
  });
});
