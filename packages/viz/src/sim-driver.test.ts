import { formatAction, parseCase, runCase } from "@tsraft/raft/rafttest";
import { describe, expect, it } from "vitest";
import { cutLink, DEFAULT_PLAY, InteractiveSim, isolate, restoreLinks } from "./sim-driver.js";
import { MessageKeys, viewOf } from "./sim-view.js";

/** Runs background steps until `cond` holds; returns the ticks it took (fails after `maxTicks`). */
function runUntil(d: InteractiveSim, cond: () => boolean, maxTicks: number): number {
  const start = d.ticks;
  while (!cond()) {
    if (d.ticks - start > maxTicks) throw new Error(`not within ${maxTicks} ticks`);
    d.step();
    if (d.failure !== undefined) throw d.failure;
  }
  return d.ticks - start;
}

describe("InteractiveSim", () => {
  it("a five-node cluster elects a leader within two election timeouts and replicates client writes", () => {
    const d = new InteractiveSim(DEFAULT_PLAY);
    const ticks = runUntil(d, () => d.sim.leader() !== undefined, 2 * DEFAULT_PLAY.electionTick);
    expect(ticks).toBeGreaterThanOrEqual(DEFAULT_PLAY.electionTick);
    runUntil(d, () => d.sim.checker.maxCommit >= 5, 200);
    const v = viewOf(d.sim, new MessageKeys(), d.ticks);
    expect(v.nodes.filter((n) => n.role === "leader")).toHaveLength(1);
    expect(v.nodes.filter((n) => n.member)).toHaveLength(5);
    // The spare is not a member until added.
    expect(v.nodes[5]).toMatchObject({ id: 6, member: false });
  });

  it("the session's schedule replays in runCase to the same transcript", () => {
    const d = new InteractiveSim({ ...DEFAULT_PLAY, seed: 9, checkQuorum: true, preVote: true });
    d.workload.lossy = true;
    runUntil(d, () => d.sim.leader() !== undefined, 40);
    d.run({ kind: "crashLeader", torn: 0 });
    d.runAll(cutLink(1, 2));
    runUntil(d, () => d.sim.leader() !== undefined, 60);
    d.run({ kind: "confChange", change: { mode: "simple", ops: [{ op: "v", node: 6 }] } });
    for (let i = 0; i < 300; i++) d.step();
    expect(d.failure).toBeUndefined();
    const replay = runCase(parseCase(d.caseText()), { trace: true, liveness: false });
    expect(replay.violation).toBeUndefined();
    expect(replay.transcript).toBe(d.transcript());
    expect(d.transcript()).toContain("0001 tick");
  });

  it("the same seed gives the same session; another seed another", () => {
    const run = (seed: number) => {
      const d = new InteractiveSim({ ...DEFAULT_PLAY, seed });
      for (let i = 0; i < 400; i++) d.step();
      return d.caseText();
    };
    expect(run(3)).toBe(run(3));
    expect(run(3)).not.toBe(run(4));
  });

  it("crashing the leader leads to a new leader of a higher term", () => {
    const d = new InteractiveSim(DEFAULT_PLAY);
    runUntil(d, () => d.sim.leader() !== undefined, 40);
    const old = d.sim.leader()!;
    const term = old.rn!.raft.term;
    d.run({ kind: "crash", node: old.id, torn: 0 });
    runUntil(d, () => d.sim.leader() !== undefined, 4 * DEFAULT_PLAY.electionTick);
    expect(d.sim.leader()!.id).not.toBe(old.id);
    expect(d.sim.leader()!.rn!.raft.term).toBeGreaterThan(term);
  });
});

describe("InteractiveSim.act", () => {
  it("tells a configuration change the leader did not take, and a skipped action", () => {
    const d = new InteractiveSim(DEFAULT_PLAY);
    runUntil(d, () => d.sim.leader() !== undefined, 40);
    runUntil(d, () => d.sim.leader()!.appliedIndex >= d.sim.leader()!.rn!.raft.raftLog.lastIndex(), 20);
    const cc = (op: "v" | "l", node: number) =>
      ({ kind: "confChange", change: { mode: "simple", ops: [{ op, node }] } }) as const;
    expect(d.act([cc("v", 6)])).toEqual([]);
    // etcd's leader takes one change at a time: the next waits until the first is applied.
    const [refused] = d.act([cc("l", 5)]);
    expect(refused).toMatch(
      /^confchange l5: the leader did not take it: the entry at index \d+ .* not applied yet/,
    );
    // The workload snapshots at the leader so that the new node can catch up, and it joins.
    runUntil(d, () => viewOf(d.sim, new MessageKeys(), 0).nodes[5]!.member, 60);
    expect(d.caseText()).toMatch(/snapshot \d keep=0/);
    expect(d.act([{ kind: "restart", node: 2 }])).toEqual(["restart 2: skipped: node 2 is up"]);
  });
});

describe("link actions", () => {
  it("restoring one link heals all and cuts the others again", () => {
    expect(
      restoreLinks(
        [
          [1, 2],
          [2, 1],
          [3, 4],
        ],
        (a, b) => a + b === 3,
      ).map(formatAction),
    ).toEqual(["heal", "cut 3>4"]);
    expect(cutLink(1, 3).map(formatAction)).toEqual(["cut 1>3", "cut 3>1"]);
    expect(formatAction(isolate(2, 4))).toBe("partition 2|1,3,4");
  });

  it("the view reports the cuts the actions made", () => {
    const d = new InteractiveSim(DEFAULT_PLAY);
    d.runAll([...cutLink(1, 2), isolate(3, 6)]);
    const cuts = viewOf(d.sim, new MessageKeys(), 0).cuts;
    expect(cuts).toContainEqual([1, 2]);
    expect(cuts).toContainEqual([3, 6]);
    expect(cuts).toContainEqual([6, 3]);
    d.runAll(restoreLinks(cuts, (a, b) => a === 3 || b === 3));
    expect(viewOf(d.sim, new MessageKeys(), 0).cuts).toEqual([
      [1, 2],
      [2, 1],
    ]);
  });
});
