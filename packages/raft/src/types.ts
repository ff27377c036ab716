/**
 * Identifiers for positions in a Raft log and for slices of it (etcd's types.go): the vocabulary
 * RaftLog and the state machine use to talk about "the entry at (term, index)" and "these entries,
 * appended after that one, by the leader of this term".
 */
import type { Entry } from "./raftpb/types.js";

/**
 * Identifies one log entry. Raft's Log Matching property (paper §5.3) makes the pair unique: one
 * leader per term, and a leader never issues two entries at the same index, so two logs holding
 * the same EntryID hold the same entry and the same prefix before it.
 */
export interface EntryID {
  readonly term: number;
  readonly index: number;
}

/** The ID of `e`. */
export function pbEntryID(e: Entry): EntryID {
  return { term: e.term, index: e.index };
}

/**
 * A contiguous run of a leader's log: `entries`, appended right after the entry `prev`, as the
 * leader of `term` holds them (the payload of a MsgApp).
 *
 * A well-formed slice (see {@link logSliceValid}) satisfies:
 * 1. `entries[i].index === prev.index + 1 + i` (contiguous),
 * 2. `prev.term <= entries[0].term` and 3. `entries[i-1].term <= entries[i].term` (terms never
 *    regress along a log),
 * 4. `entries[last].term <= term` (a leader's log holds nothing from a later term).
 *
 * Code that builds a slice from untrusted input (a received message, storage, tests) should check
 * it with {@link logSliceValid}; everything downstream assumes the invariants.
 */
export interface LogSlice {
  /** The term of the leader whose log this slice is a part of. */
  readonly term: number;
  /** The entry immediately before `entries`. */
  readonly prev: EntryID;
  /** The entries themselves; shared, never mutated. */
  readonly entries: readonly Entry[];
}

/** The index of the slice's last entry, or `prev.index` if it has none. */
export function logSliceLastIndex(s: LogSlice): number {
  return s.prev.index + s.entries.length;
}

/** The ID of the slice's last entry, or `prev` if it has none. */
export function logSliceLastEntryID(s: LogSlice): EntryID {
  const n = s.entries.length;
  return n === 0 ? s.prev : pbEntryID(s.entries[n - 1]!);
}

/**
 * Checks the invariants of {@link LogSlice}. Returns undefined if `s` is well formed, otherwise the
 * reason (etcd's error text, with IDs printed as Go's `%+v` does: `{term:5 index:10}`).
 */
export function logSliceValid(s: LogSlice): string | undefined {
  let prev = s.prev;
  for (const e of s.entries) {
    const id = pbEntryID(e);
    if (id.term < prev.term || id.index !== prev.index + 1) {
      return `leader term ${s.term}: entries ${fmtEntryID(prev)} and ${fmtEntryID(id)} not consistent`;
    }
    prev = id;
  }
  if (s.term < prev.term) {
    return `leader term ${s.term}: entry ${fmtEntryID(prev)} has a newer term`;
  }
  return undefined;
}

/** Formats an ID the way Go's `%+v` prints etcd's entryID struct. */
export function fmtEntryID(id: EntryID): string {
  return `{term:${id.term} index:${id.index}}`;
}
