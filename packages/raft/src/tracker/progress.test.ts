import { describe, expect, it } from "vitest";
import { RaftPanic } from "../logger.js";
import { Inflights } from "./inflights.js";
import { Progress, type ProgressInit, ProgressMap } from "./progress.js";
import { ProgressState } from "./state.js";

const { StateProbe, StateReplicate, StateSnapshot } = ProgressState;
const pr = (init: Partial<ProgressInit> = {}) => new Progress({ inflights: new Inflights(256, 0), ...init });

describe("Progress", () => {
  it("names its states as etcd does", () => {
    expect([StateProbe, StateReplicate, StateSnapshot].map((s) => ProgressState[s])).toEqual([
      "StateProbe",
      "StateReplicate",
      "StateSnapshot",
    ]);
  });

  // etcd's TestProgressString.
  it("prints in etcd's format", () => {
    const ins = new Inflights(1, 0);
    ins.add(123, 1);
    const p = new Progress({
      match: 1,
      next: 2,
      state: StateSnapshot,
      pendingSnapshot: 123,
      recentActive: false,
      msgAppFlowPaused: true,
      isLearner: true,
      inflights: ins,
    });
    expect(p.toString()).toBe(
      "StateSnapshot match=1 next=2 learner paused pendingSnap=123 inactive inflight=1[full]",
    );
    expect(pr({ match: 3, next: 4, recentActive: true }).toString()).toBe("StateProbe match=3 next=4");
  });

  // etcd's TestProgressIsPaused.
  it.each([
    [StateProbe, false, false],
    [StateProbe, true, true],
    [StateReplicate, false, false],
    [StateReplicate, true, true],
    [StateSnapshot, false, true],
    [StateSnapshot, true, true],
  ])("isPaused in %s with msgAppFlowPaused=%s is %s", (state, paused, want) => {
    expect(pr({ state, msgAppFlowPaused: paused }).isPaused()).toBe(want);
  });

  // etcd's TestProgressResume.
  it("resumes the flow on maybeDecrTo and maybeUpdate", () => {
    const p = pr({ next: 2, msgAppFlowPaused: true });
    p.maybeDecrTo(1, 1);
    expect(p.msgAppFlowPaused).toBe(false);
    p.msgAppFlowPaused = true;
    p.maybeUpdate(2);
    expect(p.msgAppFlowPaused).toBe(false);
  });

  // etcd's TestProgressBecomeProbe.
  it.each([
    ["from replicate", pr({ state: StateReplicate, match: 1, next: 5 }), 2],
    ["snapshot finished", pr({ state: StateSnapshot, match: 1, next: 5, pendingSnapshot: 10 }), 11],
    ["snapshot failed", pr({ state: StateSnapshot, match: 1, next: 5, pendingSnapshot: 0 }), 2],
  ])("becomeProbe %s", (_name, p, wnext) => {
    p.becomeProbe();
    expect(p.state).toBe(StateProbe);
    expect(p.match).toBe(1);
    expect(p.next).toBe(wnext);
    expect(p.pendingSnapshot).toBe(0);
  });

  it("becomeProbe regresses sentCommit to below next", () => {
    const p = pr({ state: StateReplicate, match: 1, next: 5 });
    p.sentCommit(4);
    p.becomeProbe();
    expect(p.sentCommitIndex).toBe(1);
  });

  // etcd's TestProgressBecomeReplicate and TestProgressBecomeSnapshot.
  it("becomeReplicate restarts from match + 1 with empty inflights", () => {
    const p = pr({ state: StateProbe, match: 1, next: 5, msgAppFlowPaused: true });
    p.inflights.add(3, 10);
    p.becomeReplicate();
    expect([p.state, p.match, p.next, p.msgAppFlowPaused, p.inflights.count()]).toEqual([
      StateReplicate,
      1,
      2,
      false,
      0,
    ]);
  });

  it("becomeSnapshot waits for the snapshot", () => {
    const p = pr({ state: StateProbe, match: 1, next: 5 });
    p.becomeSnapshot(10);
    expect([p.state, p.match, p.pendingSnapshot, p.next, p.sentCommitIndex]).toEqual([
      StateSnapshot,
      1,
      10,
      11,
      10,
    ]);
    expect(p.isPaused()).toBe(true);
  });

  // etcd's TestProgressUpdate.
  it.each([
    [2, 3, 5, false], // do not decrease match, next
    [3, 3, 5, false], // do not decrease next
    [4, 4, 5, true], // increase match, do not decrease next
    [5, 5, 6, true], // increase match, next
  ])("maybeUpdate(%i) from match=3 next=5 gives match=%i next=%i (%s)", (update, wm, wn, wok) => {
    const p = pr({ match: 3, next: 5 });
    expect(p.maybeUpdate(update)).toBe(wok);
    expect(p.match).toBe(wm);
    expect(p.next).toBe(wn);
  });

  // etcd's TestProgressMaybeDecr.
  it.each([
    [StateReplicate, 5, 10, 5, 5, false, 10], // replicate, rejected not above match
    [StateReplicate, 5, 10, 4, 4, false, 10], // replicate, rejected not above match
    [StateReplicate, 5, 10, 9, 9, true, 6], // replicate, rejected above match: back to match + 1
    [StateProbe, 0, 0, 0, 0, false, 0], // next - 1 != rejected: stale
    [StateProbe, 0, 10, 5, 5, false, 10], // next - 1 != rejected: stale
    [StateProbe, 0, 10, 9, 9, true, 9], // next > 1: decremented by 1
    [StateProbe, 0, 2, 1, 1, true, 1], // next > 1: decremented by 1
    [StateProbe, 0, 1, 0, 0, true, 1], // next <= 1: reset to 1
    [StateProbe, 0, 10, 9, 2, true, 3], // down to min(rejected, hint + 1)
    [StateProbe, 0, 10, 9, 0, true, 1], // hint 0: back to 1
  ])(
    "maybeDecrTo in %s, match=%i next=%i, rejected=%i hint=%i: %s, next=%i",
    (state, m, n, rejected, last, w, wn) => {
      const p = pr({ state, match: m, next: n });
      expect(p.maybeDecrTo(rejected, last)).toBe(w);
      expect(p.match).toBe(m);
      expect(p.next).toBe(wn);
    },
  );

  it("sentEntries advances next and fills inflights in StateReplicate, pauses a probe", () => {
    const p = pr({ state: StateReplicate, match: 4, next: 5, inflights: new Inflights(2, 0) });
    p.sentEntries(3, 30);
    expect([p.next, p.inflights.count(), p.msgAppFlowPaused]).toEqual([8, 1, false]);
    p.sentEntries(1, 10);
    expect([p.next, p.inflights.count(), p.msgAppFlowPaused]).toEqual([9, 2, true]);
    expect(p.toString()).toBe("StateReplicate match=4 next=9 paused inactive inflight=2[full]");

    const probe = pr({ state: StateProbe, match: 4, next: 5 });
    probe.sentEntries(0, 0);
    expect(probe.msgAppFlowPaused).toBe(false);
    probe.sentEntries(2, 20);
    expect([probe.next, probe.msgAppFlowPaused]).toEqual([5, true]);

    expect(() => pr({ state: StateSnapshot }).sentEntries(1, 1)).toThrow(
      new RaftPanic("sending append in unhandled state StateSnapshot"),
    );
  });

  it("canBumpCommit only while the sent commit index is behind next - 1", () => {
    const p = pr({ state: StateReplicate, match: 4, next: 8 });
    expect(p.canBumpCommit(0)).toBe(false);
    expect(p.canBumpCommit(5)).toBe(true);
    p.sentCommit(5);
    expect(p.canBumpCommit(5)).toBe(false);
    expect(p.canBumpCommit(6)).toBe(true);
    p.sentCommit(7);
    expect(p.canBumpCommit(9)).toBe(false);
  });

  it("maybeDecrTo regresses sentCommit", () => {
    const p = pr({ state: StateReplicate, match: 2, next: 8 });
    p.sentCommit(7);
    expect(p.maybeDecrTo(6, 6)).toBe(true);
    expect(p.sentCommitIndex).toBe(2);
  });

  it("clones deeply", () => {
    const p = pr({ match: 1, next: 2, state: StateReplicate });
    const q = p.clone();
    q.inflights.add(2, 5);
    q.match = 9;
    expect(p.inflights.count()).toBe(0);
    expect(p.match).toBe(1);
    expect(q.toString()).toBe("StateReplicate match=9 next=2 inactive inflight=1");
  });
});

describe("ProgressMap", () => {
  it("prints and iterates in id order whatever the insertion order", () => {
    const m = new ProgressMap();
    m.set(10, pr({ match: 1, next: 2, recentActive: true }));
    m.set(2, pr({ match: 0, next: 1, recentActive: true, isLearner: true }));
    expect(m.sortedIds()).toEqual([2, 10]);
    expect(m.toString()).toBe("2: StateProbe match=0 next=1 learner\n10: StateProbe match=1 next=2\n");
    m.set(5, pr({ next: 1, recentActive: true }));
    expect(m.sortedIds()).toEqual([2, 5, 10]);
    m.delete(2);
    expect(m.sortedIds()).toEqual([5, 10]);
    m.clear();
    expect(m.sortedIds()).toEqual([]);
    expect(m.toString()).toBe("");
  });
});
