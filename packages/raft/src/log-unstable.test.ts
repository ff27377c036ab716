import { describe, expect, it } from "vitest";
import { ents, recorder, snap } from "../test/log-fixtures.js";
import { Unstable } from "./log-unstable.js";
import { type Logger, RaftPanic } from "./logger.js";
import { entrySize } from "./raftpb/size.js";
import { type Entry, newEntry, type Snapshot } from "./raftpb/types.js";

interface State {
  entries?: Entry[];
  offset?: number;
  offsetInProgress?: number;
  snapshot?: Snapshot | undefined;
  snapshotInProgress?: boolean;
}

/** An Unstable in the given state (fields not given: empty, offset 0, nothing in progress). */
function unstable(st: State, logger: Logger = recorder().logger): Unstable {
  const u = new Unstable(st.offset ?? 0, logger);
  u.entries = st.entries ?? [];
  u.offsetInProgress = st.offsetInProgress ?? u.offset;
  u.snapshot = st.snapshot;
  u.snapshotInProgress = st.snapshotInProgress ?? false;
  return u;
}

describe("Unstable", () => {
  it("starts empty at the offset given", () => {
    const u = new Unstable(7, recorder().logger);
    expect([u.offset, u.offsetInProgress, u.entries, u.snapshot, u.snapshotInProgress]).toEqual([
      7,
      7,
      [],
      undefined,
      false,
    ]);
  });

  it.each([
    { name: "entries, no snapshot", st: { entries: ents(5, 1), offset: 5 }, want: undefined },
    { name: "nothing", st: {}, want: undefined },
    { name: "entries and snapshot", st: { entries: ents(5, 1), offset: 5, snapshot: snap(4, 1) }, want: 5 },
    { name: "snapshot only", st: { offset: 5, snapshot: snap(4, 1) }, want: 5 },
  ])("maybeFirstIndex: $name", ({ st, want }) => {
    expect(unstable(st).maybeFirstIndex()).toBe(want);
  });

  it.each([
    { name: "last entry", st: { entries: ents(5, 1, 1), offset: 5 }, want: 6 },
    {
      name: "last entry, snapshot before",
      st: { entries: ents(5, 1), offset: 5, snapshot: snap(4, 1) },
      want: 5,
    },
    { name: "snapshot only", st: { offset: 5, snapshot: snap(4, 1) }, want: 4 },
    { name: "nothing", st: {}, want: undefined },
  ])("maybeLastIndex: $name", ({ st, want }) => {
    expect(unstable(st).maybeLastIndex()).toBe(want);
  });

  describe("maybeTerm", () => {
    const withSnap = { entries: ents(5, 1, 2), offset: 5, snapshot: snap(4, 3) };
    it.each([
      { st: { entries: ents(5, 1), offset: 5 }, i: 5, want: 1 },
      { st: { entries: ents(5, 1), offset: 5 }, i: 6, want: undefined },
      { st: { entries: ents(5, 1), offset: 5 }, i: 4, want: undefined },
      { st: withSnap, i: 5, want: 1 },
      { st: withSnap, i: 6, want: 2 },
      { st: withSnap, i: 7, want: undefined },
      { st: withSnap, i: 4, want: 3 }, // from the snapshot
      { st: withSnap, i: 3, want: undefined },
      { st: { offset: 5, snapshot: snap(4, 3) }, i: 5, want: undefined },
      { st: { offset: 5, snapshot: snap(4, 3) }, i: 4, want: 3 },
      { st: {}, i: 5, want: undefined },
      { st: {}, i: 0, want: undefined },
    ])("$i in %#", ({ st, i, want }) => {
      expect(unstable(st).maybeTerm(i)).toBe(want);
    });
  });

  it("restore replaces everything with the snapshot", () => {
    const u = unstable({
      entries: ents(5, 1),
      offset: 5,
      offsetInProgress: 6,
      snapshot: snap(4, 1),
      snapshotInProgress: true,
    });
    const s = snap(6, 2);
    u.restore(s);
    expect([u.offset, u.offsetInProgress, u.entries, u.snapshotInProgress]).toEqual([7, 7, [], false]);
    expect(u.snapshot).toEqual(s);
    s.metadata.index = 100; // a copy was kept
    expect(u.snapshot?.metadata.index).toBe(6);
  });

  it.each([
    { name: "nothing in progress", inProgress: 5, want: ents(5, 1, 2) },
    { name: "first in progress", inProgress: 6, want: ents(6, 2) },
    { name: "all in progress", inProgress: 7, want: [] },
  ])("nextEntries: $name", ({ inProgress, want }) => {
    const u = unstable({ entries: ents(5, 1, 2), offset: 5, offsetInProgress: inProgress });
    const got = u.nextEntries();
    expect(got).toEqual(want);
    got.push(newEntry({ index: 9, term: 9 })); // the caller's own array
    expect(u.entries).toHaveLength(2);
  });

  it.each([
    { name: "no snapshot", st: {}, want: undefined },
    { name: "snapshot not in progress", st: { snapshot: snap(4, 1) }, want: snap(4, 1) },
    { name: "snapshot in progress", st: { snapshot: snap(4, 1), snapshotInProgress: true }, want: undefined },
  ])("nextSnapshot: $name", ({ st, want }) => {
    const u = unstable(st);
    expect(u.nextSnapshot()).toEqual(want);
  });

  describe("acceptInProgress", () => {
    // offsetInProgress after the call: one past the last entry, or unchanged without entries.
    const cases = [
      { entries: [], inProgress: 5, want: 5 },
      { entries: ents(5, 1), inProgress: 5, want: 6 },
      { entries: ents(5, 1, 1), inProgress: 5, want: 7 },
      { entries: ents(5, 1, 1), inProgress: 6, want: 7 },
      { entries: ents(5, 1, 1), inProgress: 7, want: 7 },
    ];
    it.each(
      cases.flatMap((c) => [
        { ...c, snapshot: undefined, snapIn: false, wantSnapIn: false },
        { ...c, snapshot: snap(4, 1), snapIn: false, wantSnapIn: true },
        { ...c, snapshot: snap(4, 1), snapIn: true, wantSnapIn: true },
      ]),
    )(
      "$entries.length entries from $inProgress, snapshot $snapshot.metadata.index in progress $snapIn",
      (c) => {
        const u = unstable({
          entries: c.entries,
          offset: 5,
          offsetInProgress: c.inProgress,
          snapshot: c.snapshot,
          snapshotInProgress: c.snapIn,
        });
        u.acceptInProgress();
        expect([u.offsetInProgress, u.snapshotInProgress]).toEqual([c.want, c.wantSnapIn]);
        expect(u.nextEntries()).toEqual([]);
        expect(u.nextSnapshot()).toBeUndefined();
      },
    );
  });

  describe("stableTo", () => {
    const missing = (i: number) => `INFO entry at index ${i} missing from unstable log; ignoring`;
    it.each([
      { st: {}, id: [5, 1], want: [0, 0, 0], line: missing(5) },
      { st: { entries: ents(5, 1), offset: 5, offsetInProgress: 6 }, id: [5, 1], want: [6, 6, 0] },
      { st: { entries: ents(5, 1, 1), offset: 5, offsetInProgress: 6 }, id: [5, 1], want: [6, 6, 1] },
      // Stable before being marked in progress: offsetInProgress moves up with offset.
      { st: { entries: ents(5, 1, 1), offset: 5, offsetInProgress: 5 }, id: [5, 1], want: [6, 6, 1] },
      // In progress beyond the stable point: offsetInProgress stays.
      { st: { entries: ents(5, 1, 1), offset: 5, offsetInProgress: 7 }, id: [5, 1], want: [6, 7, 1] },
      { st: { entries: ents(5, 1, 1), offset: 5, offsetInProgress: 7 }, id: [6, 1], want: [7, 7, 0] },
      {
        st: { entries: ents(6, 2), offset: 6, offsetInProgress: 7 },
        id: [6, 1],
        want: [6, 7, 1],
        line: "INFO entry at (index,term)=(6,1) mismatched with entry at (6,2) in unstable log; ignoring",
      },
      {
        st: { entries: ents(5, 1), offset: 5, offsetInProgress: 6 },
        id: [4, 1],
        want: [5, 6, 1],
        line: missing(4),
      },
      {
        st: { entries: ents(5, 1), offset: 5, offsetInProgress: 6 },
        id: [6, 1],
        want: [5, 6, 1],
        line: missing(6),
      },
      // With a snapshot before the entries.
      {
        st: { entries: ents(5, 1), offset: 5, offsetInProgress: 6, snapshot: snap(4, 1) },
        id: [5, 1],
        want: [6, 6, 0],
      },
      {
        st: { entries: ents(5, 1, 1), offset: 5, offsetInProgress: 7, snapshot: snap(4, 1) },
        id: [5, 1],
        want: [6, 7, 1],
      },
      {
        st: { entries: ents(5, 1), offset: 5, offsetInProgress: 6, snapshot: snap(4, 1) },
        id: [4, 1],
        want: [5, 6, 1],
        line: "INFO entry at index 4 matched unstable snapshot; ignoring",
      },
      {
        st: { entries: ents(5, 2), offset: 5, offsetInProgress: 6, snapshot: snap(4, 2) },
        id: [4, 1],
        want: [5, 6, 1],
        line: "INFO entry at index 4 matched unstable snapshot; ignoring",
      },
    ])("to $id from %#", ({ st, id, want, line }) => {
      const { logger, lines } = recorder();
      const u = unstable(st, logger);
      u.stableTo({ index: id[0]!, term: id[1]! });
      expect([u.offset, u.offsetInProgress, u.entries.length]).toEqual(want);
      expect(lines).toEqual(line === undefined ? [] : [line]);
    });

    it("keeps the entries after the stable point, in order", () => {
      const u = unstable({ entries: ents(5, 1, 1, 2, 2), offset: 5, offsetInProgress: 10 });
      u.stableTo({ index: 6, term: 1 });
      expect(u.entries).toEqual(ents(7, 2, 2));
      expect(u.maybeTerm(7)).toBe(2);
      expect(u.maybeTerm(6)).toBeUndefined();
    });
  });

  it("stableSnapTo drops the snapshot only at its index", () => {
    const u = unstable({ offset: 5, snapshot: snap(4, 1), snapshotInProgress: true });
    u.stableSnapTo(3);
    expect([u.snapshot?.metadata.index, u.snapshotInProgress]).toEqual([4, true]);
    u.stableSnapTo(4);
    expect([u.snapshot, u.snapshotInProgress]).toEqual([undefined, false]);
    u.stableSnapTo(4); // no snapshot: nothing happens
    expect(u.snapshot).toBeUndefined();
  });

  describe("truncateAndAppend", () => {
    type Case = {
      st: [Entry[], number, number]; // entries, offset, offsetInProgress
      app: Entry[];
      want: [number, number, Entry[]]; // offset, offsetInProgress, entries
      line?: string;
    };
    it.each<Case>([
      // Append at the end: offsets unchanged.
      { st: [ents(5, 1), 5, 5], app: ents(6, 1, 1), want: [5, 5, ents(5, 1, 1, 1)] },
      { st: [ents(5, 1), 5, 6], app: ents(6, 1, 1), want: [5, 6, ents(5, 1, 1, 1)] },
      { st: [[], 5, 5], app: ents(5, 1), want: [5, 5, ents(5, 1)] },
      // Replace all unstable entries (from the offset or before it).
      {
        st: [ents(5, 1), 5, 5],
        app: ents(5, 2, 2),
        want: [5, 5, ents(5, 2, 2)],
        line: "replace the unstable entries from index 5",
      },
      {
        st: [ents(5, 1), 5, 5],
        app: ents(4, 2, 2, 2),
        want: [4, 4, ents(4, 2, 2, 2)],
        line: "replace the unstable entries from index 4",
      },
      {
        st: [ents(5, 1), 5, 6],
        app: ents(5, 2, 2),
        want: [5, 5, ents(5, 2, 2)],
        line: "replace the unstable entries from index 5",
      },
      // Truncate a suffix, then append; in-progress is cut back to the truncation point.
      {
        st: [ents(5, 1, 1, 1), 5, 5],
        app: ents(6, 2),
        want: [5, 5, ents(5, 1, 2)],
        line: "truncate the unstable entries before index 6",
      },
      {
        st: [ents(5, 1, 1, 1), 5, 5],
        app: ents(7, 2, 2),
        want: [5, 5, ents(5, 1, 1, 2, 2)],
        line: "truncate the unstable entries before index 7",
      },
      {
        st: [ents(5, 1, 1, 1), 5, 6],
        app: ents(6, 2),
        want: [5, 6, ents(5, 1, 2)],
        line: "truncate the unstable entries before index 6",
      },
      {
        st: [ents(5, 1, 1, 1), 5, 7],
        app: ents(6, 2),
        want: [5, 6, ents(5, 1, 2)],
        line: "truncate the unstable entries before index 6",
      },
      {
        st: [ents(5, 1, 1, 1), 5, 8],
        app: ents(7, 2),
        want: [5, 7, ents(5, 1, 1, 2)],
        line: "truncate the unstable entries before index 7",
      },
    ])("$app.0.index..: %#", ({ st, app, want, line }) => {
      const { logger, lines } = recorder();
      const u = unstable({ entries: st[0].slice(), offset: st[1], offsetInProgress: st[2] }, logger);
      u.truncateAndAppend(app);
      expect([u.offset, u.offsetInProgress, u.entries]).toEqual(want);
      expect(lines).toEqual(line === undefined ? [] : [`INFO ${line}`]);
    });

    it("does not share its array with the caller", () => {
      const app = ents(5, 2, 2);
      const u = unstable({ entries: ents(5, 1), offset: 5 });
      u.truncateAndAppend(app); // replaces everything
      u.truncateAndAppend(ents(7, 3)); // then appends
      expect(app).toEqual(ents(5, 2, 2));
      expect(u.entries).toEqual([...ents(5, 2, 2), ...ents(7, 3)]);
    });

    it("panics when the new entries would leave a gap", () => {
      const { logger, lines } = recorder();
      const u = unstable({ entries: ents(5, 1), offset: 5 }, logger);
      expect(() => u.truncateAndAppend(ents(8, 1))).toThrow(RaftPanic);
      expect(lines).toEqual([
        "INFO truncate the unstable entries before index 8",
        "PANIC unstable.slice[5,8) out of bound [5,6]",
      ]);
    });
  });

  describe("slice", () => {
    const big = (index: number, n: number) => newEntry({ index, term: 1, data: new Uint8Array(n) });
    const es = [big(5, 10), big(6, 20), big(7, 30)];
    const [a, b] = es.map(entrySize) as [number, number, number];

    it.each([
      { lo: 5, hi: 5, max: undefined, want: [] },
      { lo: 5, hi: 8, max: undefined, want: [5, 6, 7] },
      { lo: 6, hi: 8, max: undefined, want: [6, 7] },
      { lo: 8, hi: 8, max: undefined, want: [] },
      { lo: 5, hi: 8, max: 0, want: [5] },
      { lo: 5, hi: 8, max: a + b - 1, want: [5] },
      { lo: 5, hi: 8, max: a + b, want: [5, 6] },
    ])("[$lo, $hi) max $max", ({ lo, hi, max, want }) => {
      const u = unstable({ entries: es.slice(), offset: 5 });
      const got = u.slice(lo, hi, max);
      expect(got.map((e) => e.index)).toEqual(want);
      got.push(big(9, 1));
      expect(u.entries).toHaveLength(3);
    });

    it.each([
      { lo: 6, hi: 5, line: "invalid unstable.slice 6 > 5" },
      { lo: 4, hi: 6, line: "unstable.slice[4,6) out of bound [5,8]" },
      { lo: 5, hi: 9, line: "unstable.slice[5,9) out of bound [5,8]" },
    ])("panics on [$lo, $hi)", ({ lo, hi, line }) => {
      const { logger, lines } = recorder();
      const u = unstable({ entries: es.slice(), offset: 5 }, logger);
      expect(() => u.slice(lo, hi)).toThrow(RaftPanic);
      expect(lines).toEqual([`PANIC ${line}`]);
    });
  });

  it("shrinkEntriesArray replaces only an empty array", () => {
    const u = unstable({ entries: ents(5, 1), offset: 5 });
    const before = u.entries;
    u.shrinkEntriesArray();
    expect(u.entries).toBe(before);
    before.length = 0;
    u.shrinkEntriesArray();
    expect(u.entries).not.toBe(before);
    expect(u.entries).toEqual([]);
  });
});
