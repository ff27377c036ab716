import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { isRaftError } from "../errors.js";
import { confChangesFromString, confChangesToString } from "../raftpb/confchange.js";
import { type ConfChangeSingle, ConfChangeType } from "../raftpb/types.js";
import { ProgressTracker } from "../tracker/tracker.js";
import { Changer, type ConfChangeResult } from "./confchange.js";

const SEED = 0x5eed_0003;

/** Everything a result holds, as text (configs and progress maps are classes with private caches). */
function dump(r: { config: ConfChangeResult["config"]; progress: ConfChangeResult["progress"] }): string {
  let s = `${r.config.toString()}\n`;
  for (const id of r.progress.sortedIds()) {
    const pr = r.progress.get(id)!;
    s += `${id}: ${pr.toString()} learner=${pr.isLearner} sentCommit=${pr.sentCommitIndex}\n`;
  }
  return s;
}

/** Installs a result in the changer's tracker. */
function install(c: Changer, r: ConfChangeResult): void {
  const t = c.tracker as ProgressTracker;
  t.config = r.config;
  t.progress = r.progress;
}

/** A changer on a fresh tracker after the given simple changes, one at a time. */
function changerWith(setup: string, lastIndex = 10): Changer {
  const c = new Changer(new ProgressTracker(10, 0), lastIndex);
  for (const cc of confChangesFromString(setup)) install(c, c.simple([cc]));
  return c;
}

describe("Changer errors (etcd's texts)", () => {
  const fails = (f: () => unknown, msg: string) => {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(isRaftError(err, "ConfChangeInvalid")).toBe(true);
    expect((err as Error).message).toBe(msg);
  };

  it("refuses what etcd refuses", () => {
    const empty = changerWith("");
    fails(() => empty.enterJoint(false, confChangesFromString("v1")), "can't make a zero-voter config joint");
    fails(() => empty.simple([]), "removed all voters");
    fails(() => empty.leaveJoint(), "can't leave a non-joint config");
    const c = changerWith("v1 v2");
    fails(
      () => c.simple(confChangesFromString("v3 v4")),
      "more than one voter changed without entering joint config",
    );
    fails(() => c.simple(confChangesFromString("r1 r2")), "removed all voters");
    fails(() => c.simple([{ type: 7 as ConfChangeType, nodeId: 3 }]), "unexpected conf type 7");
    install(c, c.enterJoint(true, confChangesFromString("v3")));
    fails(() => c.enterJoint(false, []), "config is already joint");
    fails(() => c.simple(confChangesFromString("v4")), "can't apply simple config change in joint config");
  });

  it("refuses an inconsistent tracker", () => {
    const c = changerWith("v1 v2");
    (c.tracker as ProgressTracker).progress.delete(2);
    fails(() => c.simple(confChangesFromString("v3")), "no progress for 2");
    const d = changerWith("v1 l2");
    d.tracker.progress.get(2)!.isLearner = false;
    fails(() => d.simple([]), "2 is in Learners, but is not marked as learner");
    const e = changerWith("v1 v2");
    e.tracker.config.learners.add(2);
    e.tracker.progress.get(2)!.isLearner = true;
    fails(() => e.simple([]), "2 is in Learners and Voters[0]");
    const f = changerWith("v1 v2");
    f.tracker.config.learnersNext.add(2);
    fails(() => f.simple([]), "2 is in LearnersNext, but not Voters[1]");
    const g = changerWith("v1");
    g.tracker.config.autoLeave = true;
    fails(() => g.simple([]), "AutoLeave must be false when not joint");
  });

  it("skips changes with node id 0 and ignores updates", () => {
    const c = changerWith("v1");
    const r = c.simple([
      { type: ConfChangeType.ConfChangeAddNode, nodeId: 0 },
      { type: ConfChangeType.ConfChangeUpdateNode, nodeId: 1 },
    ]);
    expect(dump(r)).toBe(dump({ config: c.tracker.config, progress: c.tracker.progress }));
  });

  it("starts new peers at the last index, active, with the tracker's inflight limits", () => {
    const t = new ProgressTracker(3, 99);
    const r = new Changer(t, 7).simple(confChangesFromString("v1"));
    const pr = r.progress.get(1)!;
    expect([pr.match, pr.next, pr.recentActive, pr.inflights.size, pr.inflights.maxBytes]).toEqual([
      0,
      7,
      true,
      3,
      99,
    ]);
    expect(new Changer(t, 0).simple(confChangesFromString("v1")).progress.get(1)!.next).toBe(1);
  });
});

// etcd's confchange/quick_test.go: reaching a configuration by simple changes, one at a time, or by
// entering and leaving a joint configuration gives the same result.
const ccArb = (ids: fc.Arbitrary<number>, types: fc.Arbitrary<ConfChangeType>) =>
  fc.record({ type: types, nodeId: ids }) as fc.Arbitrary<ConfChangeSingle>;
/** The initial config: voter 1 (never touched afterwards), then 1 to 5 voters among 1..5. */
const setupArb = fc
  .array(ccArb(fc.integer({ min: 1, max: 5 }), fc.constant(ConfChangeType.ConfChangeAddNode)), {
    minLength: 1,
    maxLength: 5,
  })
  .map((ccs) => [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 1 }, ...ccs]);
/** 1 to 9 changes of any type to nodes 2..10. */
const changesArb = fc.array(
  ccArb(
    fc.integer({ min: 2, max: 10 }),
    fc.constantFrom(
      ConfChangeType.ConfChangeAddNode,
      ConfChangeType.ConfChangeAddLearnerNode,
      ConfChangeType.ConfChangeRemoveNode,
      ConfChangeType.ConfChangeUpdateNode,
    ),
  ),
  { minLength: 1, maxLength: 9 },
);

function runSimple(c: Changer, ccs: readonly ConfChangeSingle[]): void {
  for (const cc of ccs) install(c, c.simple([cc]));
}

function runJoint(c: Changer, ccs: readonly ConfChangeSingle[]): void {
  const joint = c.enterJoint(false, ccs);
  // With autoLeave the result is the same but for the flag.
  const jointAuto = c.enterJoint(true, ccs);
  expect(jointAuto.config.autoLeave).toBe(true);
  jointAuto.config.autoLeave = false;
  expect(dump(jointAuto)).toBe(dump(joint));
  install(c, jointAuto);
  const leftAuto = c.leaveJoint();
  install(c, joint);
  const left = c.leaveJoint();
  expect(dump(leftAuto)).toBe(dump(left));
  install(c, left);
}

describe("simple and joint changes agree (fixed seed)", () => {
  it("gives the same config and progress either way", () => {
    fc.assert(
      fc.property(setupArb, changesArb, (setup, ccs) => {
        const a = changerWith(confChangesToString(setup));
        runSimple(a, ccs);
        const b = changerWith(confChangesToString(setup));
        runJoint(b, ccs);
        expect(
          dump(b.tracker),
          `setup: ${confChangesToString(setup)}\nccs: ${confChangesToString(ccs)}`,
        ).toBe(dump(a.tracker));
      }),
      { seed: SEED, numRuns: runs(1000) },
    );
  });

  it("never modifies the tracker it was given, whether the change succeeds or fails", () => {
    fc.assert(
      fc.property(setupArb, changesArb, fc.boolean(), (setup, ccs, joint) => {
        const c = changerWith(confChangesToString(setup));
        if (joint) install(c, c.enterJoint(false, ccs.slice(0, 1)));
        const before = dump(c.tracker);
        const attempts: (() => ConfChangeResult)[] = [
          () => c.simple(ccs),
          () => c.enterJoint(true, ccs),
          () => c.leaveJoint(),
          () => c.simple(ccs.slice(0, 1)),
        ];
        for (const attempt of attempts) {
          try {
            const r = attempt();
            // Changing the result must not reach back either.
            r.config.voters.incoming.add(99);
            r.progress.forEach((pr) => {
              pr.match += 1;
              pr.inflights.reset();
            });
          } catch (e) {
            if (!isRaftError(e, "ConfChangeInvalid")) throw e;
          }
          expect(dump(c.tracker)).toBe(before);
        }
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });
});

describe("Changer examples", () => {
  it("demotes an outgoing voter through learnersNext", () => {
    const c = changerWith("v1 v2 v3");
    install(c, c.enterJoint(false, confChangesFromString("l3")));
    expect(c.tracker.config.toString()).toBe("voters=(1 2)&&(1 2 3) learners_next=(3)");
    expect(c.tracker.progress.get(3)!.isLearner).toBe(false);
    install(c, c.leaveJoint());
    expect(c.tracker.config.toString()).toBe("voters=(1 2) learners=(3)");
    expect(c.tracker.progress.get(3)!.isLearner).toBe(true);
  });

  it("drops the progress of voters removed by the joint change when leaving", () => {
    const c = changerWith("v1 v2 v3");
    install(c, c.enterJoint(true, confChangesFromString("r3 v4")));
    expect(c.tracker.config.toString()).toBe("voters=(1 2 4)&&(1 2 3) autoleave");
    expect(c.tracker.progress.sortedIds()).toEqual([1, 2, 3, 4]);
    install(c, c.leaveJoint());
    expect(c.tracker.config.voters.outgoing.size).toBe(0);
    expect(c.tracker.config.toString()).toBe("voters=(1 2 4)");
    expect(c.tracker.progress.sortedIds()).toEqual([1, 2, 4]);
  });
});
