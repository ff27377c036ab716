/**
 * Each check of the Checker, fed the events of made-up nodes: a correct history passes, and the
 * one wrong event is reported with the right property name.
 */
import { describe, expect, it } from "vitest";
import {
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  newMessage,
} from "../../raftpb/types.js";
import type { Ready } from "../../ready.js";
import { StateType } from "../../ready.js";
import { MemoryStorage } from "../../storage.js";
import { utf8Encode } from "./bytes.js";
import { type CheckedNode, Checker, type InvariantName, InvariantViolation } from "./invariants.js";

/** A made-up node: `terms[i - 1]` is the term of its entry i. */
function node(id: number, term: number, state: StateType, terms: number[], committed: number): CheckedNode {
  const log = {
    committed,
    lastIndex: () => terms.length,
    firstIndex: () => 1,
    zeroTermOnOutOfBounds: (i: number) => (i >= 1 && i <= terms.length ? terms[i - 1]! : 0),
    lastEntryID: () => ({ index: terms.length, term: terms[terms.length - 1] ?? 0 }),
  };
  const raft = { id, term, state, vote: 0, lead: 0, raftLog: log };
  return { id, rn: { raft } as never, durable: new MemoryStorage(), appliedIndex: 0, removed: false };
}

const ent = (index: number, term: number, data = ""): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: utf8Encode(data),
});

function ready(f: Partial<Ready>): Ready {
  return {
    softState: undefined,
    hardState: undefined,
    readStates: [],
    entries: [],
    snapshot: undefined,
    committedEntries: [],
    messages: [],
    mustSync: false,
    ...f,
  };
}

function violation(f: () => void): InvariantName | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantViolation) return e.invariant;
    throw e;
  }
  return undefined;
}

const fresh = (): Checker => new Checker([undefined, undefined, undefined, undefined]);
const { StateFollower: F, StateLeader: L } = StateType;

describe("Checker", () => {
  it("election safety: one leader per term", () => {
    const c = fresh();
    c.observe(node(1, 2, L, [], 0));
    c.observe(node(2, 3, L, [], 0));
    expect(violation(() => c.observe(node(3, 2, L, [], 0)))).toBe("election-safety");
  });

  it("leader completeness: a new leader holds every entry committed in an earlier term", () => {
    const c = fresh();
    c.observe(node(1, 1, L, [1, 1, 1], 0));
    c.observe(node(1, 1, L, [1, 1, 1], 3));
    // A leader of term 2 with the committed entries is fine; one lacking entry 3 is not.
    expect(violation(() => c.observe(node(2, 2, L, [1, 1, 1, 2], 0)))).toBeUndefined();
    expect(violation(() => c.observe(node(3, 3, L, [1, 1], 0)))).toBe("leader-completeness");
  });

  it("commit safety: commit indexes never go back, and one entry is committed per index", () => {
    const c = fresh();
    c.observe(node(1, 2, F, [1, 1, 2], 3));
    expect(violation(() => c.observe(node(1, 2, F, [1, 1, 2], 2)))).toBe("commit-safety");
    const d = fresh();
    d.observe(node(1, 2, F, [1, 1, 2], 3));
    expect(violation(() => d.observe(node(2, 3, F, [1, 1, 3], 3)))).toBe("commit-safety");
  });

  it("log matching: every copy of an entry (index, term) has the same data and the same predecessor", () => {
    const c = fresh();
    c.onReady(node(1, 2, F, [1, 2], 0), ready({ entries: [ent(2, 2, "a")] }));
    c.onReady(node(2, 2, F, [1, 2], 0), ready({ entries: [ent(2, 2, "a")] }));
    expect(violation(() => c.onReady(node(3, 2, F, [1, 2], 0), ready({ entries: [ent(2, 2, "b")] })))).toBe(
      "log-matching",
    );
    expect(violation(() => c.onReady(node(3, 2, F, [2, 2], 0), ready({ entries: [ent(2, 2, "a")] })))).toBe(
      "log-matching",
    );
  });

  it("state machine safety: entries are applied in order, once committed, and the committed one", () => {
    const c = fresh();
    c.observe(node(1, 1, F, [1, 1], 2));
    const n = node(1, 1, F, [1, 1], 2);
    c.onApply(n, ent(1, 1));
    expect(violation(() => c.onApply(n, ent(3, 1)))).toBe("state-machine-safety");
    expect(violation(() => c.onApply(node(2, 1, F, [1, 1, 1], 2), ent(1, 2)))).toBe("state-machine-safety");
    const early = node(3, 1, F, [1, 1, 1], 1);
    c.onApply(early, ent(1, 1));
    expect(violation(() => c.onApply(early, ent(2, 1)))).toBe("state-machine-safety");
  });

  it("votes: one per term, never forgotten across a restart; the term never goes back", () => {
    const vote = (from: number, to: number, term: number): Message =>
      newMessage({ type: MessageType.MsgVoteResp, from, to, term });
    const c = fresh();
    c.onSend(1, vote(1, 2, 3));
    c.onSend(1, vote(1, 2, 3));
    expect(violation(() => c.onSend(1, vote(1, 3, 3)))).toBe("vote-durability");
    // Restarting at term 3 without the vote for 2 means it was not persisted.
    const d = fresh();
    d.onSend(1, vote(1, 2, 3));
    const restarted = node(1, 3, F, [], 0);
    expect(violation(() => d.onRestart(restarted))).toBe("vote-durability");
    (restarted.rn!.raft as { vote: number }).vote = 2;
    expect(violation(() => d.onRestart(restarted))).toBeUndefined();
    expect(violation(() => d.onRestart(node(1, 2, F, [], 0)))).toBe("vote-durability");
  });

  it("durable state: term, vote within a term, and commit never go back on disk", () => {
    const c = fresh();
    const hs = (term: number, vote: number, commit: number): HardState => ({ term, vote, commit });
    c.onDurableWrite(1, hs(2, 1, 3));
    c.onDurableWrite(1, hs(2, 1, 4));
    expect(violation(() => c.onDurableWrite(1, hs(1, 1, 4)))).toBe("durable-state");
    expect(violation(() => c.onDurableWrite(1, hs(2, 3, 4)))).toBe("durable-state");
    expect(violation(() => c.onDurableWrite(1, hs(2, 1, 2)))).toBe("durable-state");
  });

  it("read index: at least the commit index when the read was issued (the node's own, for lease reads)", () => {
    const c = fresh();
    c.observe(node(1, 2, L, [1, 2, 2], 3));
    c.registerRead("safe", 1, false);
    c.registerRead("lease", 1, true);
    const rs = (ctx: string, index: number) =>
      ready({ readStates: [{ index, requestCtx: utf8Encode(ctx) }] });
    expect(violation(() => c.onReady(node(2, 2, F, [1, 2, 2], 1), rs("lease", 2)))).toBeUndefined();
    expect(violation(() => c.onReady(node(2, 2, F, [1, 2, 2], 1), rs("safe", 2)))).toBe("read-index");
    expect(violation(() => c.onReady(node(2, 2, F, [1, 2, 2], 1), rs("safe", 4)))).toBe("read-index");
    expect(c.stats.readsAnswered).toBe(3);
  });
});
