import type { Message, Snapshot } from "@tsraft/raft/raftpb";
import { entrySize, varintSize } from "@tsraft/raft/raftpb";

/**
 * The most bytes a Message can take in a batch frame (its field-1 tag and length prefix included),
 * computed without encoding it. The send queues account messages by this bound and batches are cut
 * by it, so a batch never encodes above its byte limit and queued memory is never under-counted.
 *
 * It is an upper bound, not the exact size: every scalar is charged as if set and at its widest (a
 * tag and an 8-byte varint, the widest a safe integer needs), every entry as if its zero fields were
 * written too. Entry data — what dominates real traffic — is counted exactly.
 */
export function messageSizeBound(m: Message): number {
  const n = messageBodyBound(m);
  return 1 + varintSize(n) + n;
}

/** Type, to, from, term, logTerm, index, commit, vote, rejectHint (tag + 8-byte varint) and reject. */
const SCALARS_BOUND = 9 * 9 + 2;
/** Slack per entry for the zero-valued term/index/type fields a codec may still write (tag + 1 byte). */
const ENTRY_ZERO_FIELDS = 6;

function messageBodyBound(m: Message): number {
  let n = SCALARS_BOUND;
  for (const e of m.entries) {
    const es = entrySize(e) + ENTRY_ZERO_FIELDS;
    n += 1 + varintSize(es) + es;
  }
  n += 1 + varintSize(m.context.length) + m.context.length;
  if (m.snapshot !== undefined) {
    const s = snapshotBound(m.snapshot);
    n += 1 + varintSize(s) + s;
  }
  for (const r of m.responses) {
    const s = messageBodyBound(r);
    n += 1 + varintSize(s) + s;
  }
  return n;
}

function snapshotBound(s: Snapshot): number {
  const c = s.metadata.confState;
  const ids = c.voters.length + c.learners.length + c.votersOutgoing.length + c.learnersNext.length;
  // metadata: index, term (2 × 9), confState (autoLeave 2, ids 9 each, nested length prefixes).
  const meta = 18 + 2 + 9 * ids + 2 * 10;
  return 1 + varintSize(s.data.length) + s.data.length + 1 + 10 + meta;
}
