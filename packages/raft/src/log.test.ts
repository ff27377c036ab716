import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NO_LIMIT } from "./constants.js";
import { ErrCompacted, ErrSnapshotTemporarilyUnavailable, ErrUnavailable } from "./errors.js";
import { newLog, newLogWithSize, type RaftLog } from "./log.js";
import { type Logger, RaftPanic } from "./logger.js";
import { entriesSize, entrySize } from "./raftpb/size.js";
import { type Entry, newEntry, newSnapshot, type Snapshot } from "./raftpb/types.js";
import { MemoryStorage, type Storage } from "./storage.js";
import type { EntryID } from "./types.js";

const SEED = 0x10c;
const runs = (n: number): number => Number(process.env.FC_NUM_RUNS ?? n);

/** Entries at consecutive indexes from `first`, with the given terms. */
function ents(first: number, ...terms: number[]): Entry[] {
  return terms.map((term, k) => newEntry({ index: first + k, term }));
}

/** Entries at consecutive indexes from `first` with terms from..to-1 (term = index when first = from). */
function termRange(first: number, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let t = from; t < to; t++) out.push(newEntry({ index: first + t - from, term: t }));
  return out;
}

function snap(index: number, term: number): Snapshot {
  return newSnapshot({ metadata: { index, term } });
}

const id = (index: number, term: number): EntryID => ({ index, term });

/** A logger recording its lines as "LEVEL text". */
function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (m: string) => {
    lines.push(`${level} ${m}`);
  };
  const logger: Logger = {
    debug: rec("DEBUG"),
    info: rec("INFO"),
    warn: rec("WARN"),
    error: rec("ERROR"),
    panic: rec("PANIC"),
  };
  return { logger, lines };
}

/** Returns what `fn` threw (or fails the test if it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an exception");
}

/** Runs `fn`, expects a RaftPanic, and returns the panic lines logged. */
function panicLines(fn: (logger: Logger) => unknown): string[] {
  const { logger, lines } = recorder();
  expect(thrown(() => fn(logger))).toBeInstanceOf(RaftPanic);
  return lines.filter((l) => l.startsWith("PANIC ")).map((l) => l.slice(6));
}

/** A log over a fresh MemoryStorage with `unstable` appended (all unstable). */
function logWith(unstable: Entry[], logger: Logger = recorder().logger): RaftLog {
  const l = newLog(new MemoryStorage(), logger);
  l.append(unstable);
  return l;
}

/**
 * A log whose storage holds a snapshot at (snapIndex, snapTerm) and `stable`, with `unstable`
 * appended to the RaftLog.
 */
function logOver(snapIndex: number, snapTerm: number, stable: Entry[], unstable: Entry[], logger?: Logger) {
  const storage = new MemoryStorage();
  storage.applySnapshot(snap(snapIndex, snapTerm));
  storage.append(stable);
  const l = newLog(storage, logger ?? recorder().logger);
  l.append(unstable);
  return { storage, l };
}

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
    expect(thrown(() => l.term(499))).toBe(ErrCompacted);
    const unstable = l.nextUnstableEnts();
    expect(unstable.map((e) => e.index)).toEqual(termRange(751, 751, 1001).map((e) => e.index));
    expect(l.append([newEntry({ index: 1001, term: 1001 })])).toBe(1001);
    expect(l.entries(1001, NO_LIMIT)).toEqual([newEntry({ index: 1001, term: 1001 })]);
    expect(thrown(() => l.entries(500, NO_LIMIT))).toBe(ErrCompacted);
  });

  describe("committed entries", () => {
    // Storage: snapshot (3,1) + entry 4; log appends 4..6 (term 1), 4 is stable, committed = 5.
    function setup(applied: number, applying: number, allowUnstable: boolean, maxSize = NO_LIMIT) {
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(3, 1));
      storage.append(ents(4, 1));
      const l = newLogWithSize(storage, recorder().logger, maxSize);
      l.append(ents(4, 1, 1, 1));
      l.stableTo(id(4, 1));
      l.maybeCommit(id(5, 1));
      l.appliedTo(applied, 0);
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
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(3, 1));
      storage.append(ents(4, 1));
      const l = newLogWithSize(storage, recorder().logger, max);
      l.append(ents(4, 1, 1, 1));
      l.stableTo(id(4, 1));
      l.maybeCommit(id(5, 1));
      l.appliedTo(3, 0);
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
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(3, 1));
      storage.append(ents(4, 1));
      const l = newLogWithSize(storage, recorder().logger, max);
      l.append(ents(4, 1, 1, 1));
      l.stableTo(id(4, 1));
      l.maybeCommit(id(5, 1));
      l.appliedTo(3, 0);
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
    { compact: [300, 299], left: [700, ErrCompacted] },
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
        expect(thrown(() => storage.compact(c))).toBe(want);
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
        throw ErrSnapshotTemporarilyUnavailable;
      },
    });
    expect(thrown(() => newLog(busy, recorder().logger).snapshot())).toBe(ErrSnapshotTemporarilyUnavailable);
  });

  describe("bounds", () => {
    // Snapshot at 100, entries 101..200 all unstable.
    const make = (logger?: Logger) => logOver(100, 0, [], termRange(101, 101, 201), logger).l;
    it.each([
      { lo: 99, hi: 102, want: ErrCompacted },
      { lo: 100, hi: 102, want: ErrCompacted },
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
        expect(thrown(() => make().mustCheckOutOfBounds(lo, hi))).toBe(want);
      }
    });
  });

  describe("term", () => {
    // Snapshot (100,1), then 101..199 with terms 1..99.
    it.each([
      { i: 99, want: ErrCompacted },
      { i: 100, want: 1 },
      { i: 150, want: 50 },
      { i: 199, want: 99 },
      { i: 200, want: ErrUnavailable },
    ])("$i", ({ i, want }) => {
      const { l } = logOver(100, 1, [], termRange(101, 1, 100));
      if (typeof want === "number") {
        expect(l.term(i)).toBe(want);
        expect(l.zeroTermOnOutOfBounds(i)).toBe(want);
      } else {
        expect(thrown(() => l.term(i))).toBe(want);
        expect(l.zeroTermOnOutOfBounds(i)).toBe(0);
        expect(l.matchTerm(id(i, 0))).toBe(false);
      }
    });

    // Storage snapshot at 100, unstable snapshot at 105: the gap between them is unknown.
    it.each([
      { i: 100, want: ErrCompacted },
      { i: 101, want: ErrCompacted },
      { i: 104, want: ErrCompacted },
      { i: 105, want: 1 },
      { i: 106, want: ErrUnavailable },
    ])("$i with an unstable snapshot", ({ i, want }) => {
      const { l } = logOver(100, 1, [], []);
      l.restore(snap(105, 1));
      if (typeof want === "number") expect(l.term(i)).toBe(want);
      else expect(thrown(() => l.term(i))).toBe(want);
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

    it("lastEntryID panics if storage cannot give the last term", () => {
      const lines = panicLines((logger) => {
        const { storage } = logOver(0, 0, ents(1, 1, 1), []);
        const s: Storage = Object.assign(Object.create(storage) as MemoryStorage, {
          term(): number {
            throw ErrCompacted;
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
      { lo: 99, hi: 101, max: NO_LIMIT, want: ErrCompacted },
      { lo: 100, hi: 101, max: NO_LIMIT, want: ErrCompacted },
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
        expect(thrown(() => l.slice(lo, hi, max))).toBe(want);
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
            throw ErrUnavailable;
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

    it("throws ErrCompacted for a compacted range", () => {
      expect(thrown(() => make().scan(40, 50, NO_LIMIT, () => true))).toBe(ErrCompacted);
    });
  });
});
