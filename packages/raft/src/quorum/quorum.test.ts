import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { alternativeMajorityCommittedIndex } from "../rafttest/quorum-datadriven.js";
import { JointConfig } from "./joint.js";
import { MajorityConfig } from "./majority.js";
import { type AckedIndexer, formatIndex, INDEX_UNBOUNDED, VoteResult } from "./quorum.js";

const SEED = 0x5eed_0001;

const lookup =
  (m: Record<number, number>): AckedIndexer =>
  (id) =>
    m[id];

describe("MajorityConfig", () => {
  it("prints sorted hex ids and slices sorted, whatever the insertion order", () => {
    const c = new MajorityConfig([17, 3, 10, 1]);
    expect(c.toString()).toBe("(1 3 a 11)");
    expect(c.slice()).toEqual([1, 3, 10, 17]);
    expect([...c]).toEqual([1, 3, 10, 17]);
    expect(new MajorityConfig().toString()).toBe("()");
  });

  it("keeps its sorted view in step with add and delete", () => {
    const c = new MajorityConfig([5, 1]);
    expect(c.slice()).toEqual([1, 5]);
    c.add(3);
    expect(c.slice()).toEqual([1, 3, 5]);
    expect(c.delete(1)).toBe(true);
    expect(c.delete(1)).toBe(false);
    expect(c.slice()).toEqual([3, 5]);
    expect(c.size).toBe(2);
    c.clear();
    expect(c.slice()).toEqual([]);
  });

  it("clones into an independent config", () => {
    const c = new MajorityConfig([1, 2]);
    const d = c.clone();
    d.add(3);
    expect(c.slice()).toEqual([1, 2]);
    expect(d.slice()).toEqual([1, 2, 3]);
  });

  // etcd's TestDescribe cases.
  it.each([
    [
      "different commit index for each voter",
      { 1: 101, 2: 102, 3: 103 },
      "       idx\n>      101    (id=1)\nx>     102    (id=2)\nxx>    103    (id=3)\n",
    ],
    [
      "same commit index for all voters",
      { 1: 100, 2: 100, 3: 100 },
      "       idx\n>      100    (id=1)\n>      100    (id=2)\n>      100    (id=3)\n",
    ],
    [
      "same commit index for part of the voters",
      { 1: 100, 2: 102, 3: 102 },
      "       idx\n>      100    (id=1)\nx>     102    (id=2)\nx>     102    (id=3)\n",
    ],
    [
      "missing some commit indexes",
      { 1: 101, 3: 103 },
      "       idx\nx>     101    (id=1)\n?        0    (id=2)\nxx>    103    (id=3)\n",
    ],
  ])("describe: %s", (_name, acked, want) => {
    expect(new MajorityConfig([1, 2, 3]).describe(lookup(acked))).toBe(want);
  });

  it("describes the empty config and commits everything in it", () => {
    const c = new MajorityConfig();
    expect(c.describe(lookup({}))).toBe("<empty majority quorum>");
    expect(c.committedIndex(lookup({}))).toBe(INDEX_UNBOUNDED);
    expect(formatIndex(c.committedIndex(lookup({})))).toBe("∞");
    expect(c.voteResult(new Map())).toBe(VoteResult.VoteWon);
  });

  it("commits the index a majority has, counting unknown voters as 0", () => {
    const c = new MajorityConfig([1, 2, 3, 4, 5]);
    expect(c.committedIndex(lookup({ 1: 5, 2: 9, 3: 7, 4: 1, 5: 3 }))).toBe(5);
    expect(c.committedIndex(lookup({ 1: 5, 2: 9, 3: 7 }))).toBe(5);
    expect(c.committedIndex(lookup({ 1: 5, 2: 9 }))).toBe(0);
    // Large configs take the typed-array sort path.
    const big = new MajorityConfig(Array.from({ length: 21 }, (_, i) => i + 1));
    expect(big.committedIndex((id) => 100 - id)).toBe(100 - 11);
  });

  it("names vote results as etcd does", () => {
    expect(VoteResult[VoteResult.VotePending]).toBe("VotePending");
    expect(VoteResult[VoteResult.VoteLost]).toBe("VoteLost");
    expect(VoteResult[VoteResult.VoteWon]).toBe("VoteWon");
  });
});

describe("JointConfig", () => {
  it("prints both halves only when joint", () => {
    const j = new JointConfig(new MajorityConfig([1, 2, 3]), new MajorityConfig([1]));
    expect(j.toString()).toBe("(1 2 3)&&(1)");
    expect(j.isJoint()).toBe(true);
    expect(new JointConfig(new MajorityConfig([1, 2, 3])).toString()).toBe("(1 2 3)");
    expect([...j.ids()]).toEqual([1, 2, 3]);
    expect(j.has(3) && !j.has(4)).toBe(true);
  });

  it("describes the union of both halves", () => {
    const j = new JointConfig(new MajorityConfig([1]), new MajorityConfig([2]));
    expect(j.describe(lookup({ 1: 100 }))).toBe("      idx\nx>    100    (id=1)\n?       0    (id=2)\n");
  });
});

// Property tests: the real implementations against definitions written as plainly as possible.

/** The largest i such that a majority of `ids` acked at least i (0 if none; unbounded if no voters). */
function naiveCommitted(ids: readonly number[], acked: ReadonlyMap<number, number>): number {
  if (ids.length === 0) return INDEX_UNBOUNDED;
  const candidates = [0, ...ids.map((id) => acked.get(id) ?? 0)];
  let best = 0;
  for (const i of candidates) {
    const have = ids.filter((id) => (acked.get(id) ?? 0) >= i).length;
    if (have * 2 > ids.length && i > best) best = i;
  }
  return best;
}

/** Won if a majority said yes, lost if a majority can no longer say yes, otherwise pending. */
function naiveVote(ids: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  if (ids.length === 0) return VoteResult.VoteWon;
  const yes = ids.filter((id) => votes.get(id) === true).length;
  const no = ids.filter((id) => votes.get(id) === false).length;
  if (yes * 2 > ids.length) return VoteResult.VoteWon;
  if (no * 2 >= ids.length) return VoteResult.VoteLost;
  return VoteResult.VotePending;
}

function naiveJointVote(
  a: readonly number[],
  b: readonly number[],
  votes: ReadonlyMap<number, boolean>,
): VoteResult {
  const r = [naiveVote(a, votes), naiveVote(b, votes)];
  if (r.includes(VoteResult.VoteLost)) return VoteResult.VoteLost;
  if (r.every((x) => x === VoteResult.VoteWon)) return VoteResult.VoteWon;
  return VoteResult.VotePending;
}

const idsArb = fc.uniqueArray(fc.integer({ min: 1, max: 20 }), { maxLength: 11 });
const ackedArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 12 })), { maxLength: 20 })
  .map((pairs) => new Map(pairs));
const votesArb = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.boolean()), { maxLength: 20 })
  .map((pairs) => new Map(pairs));

describe("quorum properties (fixed seed)", () => {
  it("majority committedIndex agrees with the definition and with the harness's alternative", () => {
    fc.assert(
      fc.property(idsArb, ackedArb, (ids, acked) => {
        const c = new MajorityConfig(ids);
        const l: AckedIndexer = (id) => acked.get(id);
        const want = naiveCommitted(ids, acked);
        expect(c.committedIndex(l)).toBe(want);
        expect(alternativeMajorityCommittedIndex(c, l)).toBe(want);
        // The scratch buffer is reused: asking twice gives the same answer.
        expect(c.committedIndex(l)).toBe(want);
      }),
      { seed: SEED, numRuns: runs(2000) },
    );
  });

  it("joint committedIndex is the smaller of the halves, and symmetric", () => {
    fc.assert(
      fc.property(idsArb, idsArb, ackedArb, (a, b, acked) => {
        const l: AckedIndexer = (id) => acked.get(id);
        const want = Math.min(naiveCommitted(a, acked), naiveCommitted(b, acked));
        const ca = new MajorityConfig(a);
        const cb = new MajorityConfig(b);
        expect(new JointConfig(ca, cb).committedIndex(l)).toBe(want);
        expect(new JointConfig(cb, ca).committedIndex(l)).toBe(want);
      }),
      { seed: SEED, numRuns: runs(2000) },
    );
  });

  it("majority and joint voteResult agree with the definition", () => {
    fc.assert(
      fc.property(idsArb, idsArb, votesArb, (a, b, votes) => {
        const ca = new MajorityConfig(a);
        const cb = new MajorityConfig(b);
        expect(ca.voteResult(votes)).toBe(naiveVote(a, votes));
        expect(new JointConfig(ca, cb).voteResult(votes)).toBe(naiveJointVote(a, b, votes));
        expect(new JointConfig(cb, ca).voteResult(votes)).toBe(naiveJointVote(a, b, votes));
      }),
      { seed: SEED, numRuns: runs(2000) },
    );
  });

  it("committedIndex does not depend on the order voters were added", () => {
    fc.assert(
      fc.property(idsArb, ackedArb, (ids, acked) => {
        const l: AckedIndexer = (id) => acked.get(id);
        const fwd = new MajorityConfig(ids);
        const rev = new MajorityConfig([...ids].reverse());
        expect(rev.committedIndex(l)).toBe(fwd.committedIndex(l));
        expect(rev.describe(l)).toBe(fwd.describe(l));
      }),
      { seed: SEED, numRuns: runs(500) },
    );
  });
});
