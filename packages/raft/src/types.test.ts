import { describe, expect, it } from "vitest";
import { type Entry, newEntry } from "./raftpb/types.js";
import {
  type EntryID,
  fmtEntryID,
  type LogSlice,
  logSliceLastEntryID,
  logSliceLastIndex,
  logSliceValid,
  pbEntryID,
} from "./types.js";

const id = (index: number, term: number): EntryID => ({ index, term });
const e = (index: number, term: number): Entry => newEntry({ index, term });

describe("EntryID", () => {
  it("is read from an entry", () => {
    expect(pbEntryID(newEntry())).toEqual(id(0, 0));
    expect(pbEntryID(newEntry({ index: 2, term: 1, data: new Uint8Array([1]) }))).toEqual(id(2, 1));
  });
  it("prints as Go's %+v", () => {
    expect(fmtEntryID(id(10, 5))).toBe("{term:5 index:10}");
  });
});

describe("LogSlice", () => {
  it.each<{ s: LogSlice; last: EntryID; err?: string }>([
    // The empty slice at the origin of the log.
    { s: { term: 0, prev: id(0, 0), entries: [] }, last: id(0, 0) },
    // Empty with a prev: valid only if the leader term is not behind prev's.
    {
      s: { term: 0, prev: id(123, 10), entries: [] },
      last: id(123, 10),
      err: "entry {term:10 index:123} has a newer term",
    },
    {
      s: { term: 9, prev: id(123, 10), entries: [] },
      last: id(123, 10),
      err: "entry {term:10 index:123} has a newer term",
    },
    { s: { term: 10, prev: id(123, 10), entries: [] }, last: id(123, 10) },
    { s: { term: 11, prev: id(123, 10), entries: [] }, last: id(123, 10) },
    // One entry.
    {
      s: { term: 0, prev: id(0, 0), entries: [e(1, 1)] },
      last: id(1, 1),
      err: "entry {term:1 index:1} has a newer term",
    },
    { s: { term: 1, prev: id(0, 0), entries: [e(1, 1)] }, last: id(1, 1) },
    // Several entries; terms may grow but not beyond the leader's.
    { s: { term: 2, prev: id(1, 1), entries: [e(2, 1), e(3, 1), e(4, 2)] }, last: id(4, 2) },
    {
      s: { term: 1, prev: id(1, 1), entries: [e(2, 1), e(3, 1), e(4, 2)] },
      last: id(4, 2),
      err: "entry {term:2 index:4} has a newer term",
    },
    // Not contiguous with prev, or a term going back.
    {
      s: { term: 2, prev: id(0, 0), entries: [e(2, 1), e(3, 1)] },
      last: id(3, 1),
      err: "entries {term:0 index:0} and {term:1 index:2} not consistent",
    },
    {
      s: { term: 10, prev: id(123, 5), entries: [e(124, 4)] },
      last: id(124, 4),
      err: "entries {term:5 index:123} and {term:4 index:124} not consistent",
    },
    {
      s: { term: 10, prev: id(12, 2), entries: [e(13, 2), e(15, 2)] },
      last: id(15, 2),
      err: "entries {term:2 index:13} and {term:2 index:15} not consistent",
    },
    {
      s: { term: 10, prev: id(12, 2), entries: [e(13, 3), e(14, 2)] },
      last: id(14, 2),
      err: "entries {term:3 index:13} and {term:2 index:14} not consistent",
    },
  ])("%#: last $last", ({ s, last, err }) => {
    expect(logSliceLastEntryID(s)).toEqual(last);
    expect(logSliceLastIndex(s)).toBe(s.prev.index + s.entries.length);
    expect(logSliceValid(s)).toBe(err === undefined ? undefined : `leader term ${s.term}: ${err}`);
  });
});
