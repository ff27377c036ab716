/**
 * The simulated driver and faults, step by step: what a node sends before and after its writes are
 * durable, what a crash keeps, how a restart rebuilds a node, async storage writes, pauses and
 * partitions, and the liveness phase.
 */
import { describe, expect, it } from "vitest";
import { type Message, MessageType } from "../../raftpb/types.js";
import { StateType } from "../../ready.js";
import type { ChecksumStateMachine } from "./example-state-machines.js";
import { parseAction, parseCase } from "./schedule.js";
import { Simulation } from "./simulation.js";

/** A simulation of the case header `head`, and a function running `;`-separated actions. */
function sim(head: string) {
  const s = new Simulation(parseCase(head), { trace: true });
  const run = (actions: string) => {
    for (const a of actions.split(";")) if (a.trim() !== "") s.step(parseAction(a));
  };
  return { s, run };
}

const inFlight = (s: Simulation, type: MessageType, from?: number): Message[] =>
  s.network.inFlight().filter((m) => m.type === type && (from === undefined || m.from === from));

/** Elect node 1 of a fresh cluster (every message delivered, every write synced). */
const ELECT_1 = "campaign 1; sync; flush; sync; flush; sync; flush; sync; flush; sync; flush; sync";

describe("the driver (Ready/advance)", () => {
  it("the leader sends its appends before its own write; a follower acknowledges only after its write", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3");
    run(ELECT_1);
    expect(s.leader()?.id).toBe(1);
    const last = s.node(1).durable.lastIndex();
    run('propose 1 "a"');
    // Appends are on the wire although the entry is not yet durable on the leader.
    expect(inFlight(s, MessageType.MsgApp, 1).some((m) => m.entries.length > 0)).toBe(true);
    expect(s.node(1).durable.lastIndex()).toBe(last);
    // Node 2 receives its append: no acknowledgement until its write completes.
    while (inFlight(s, MessageType.MsgApp, 1).some((m) => m.to === 2)) run("deliver 0");
    expect(inFlight(s, MessageType.MsgAppResp, 2)).toEqual([]);
    run("sync 2");
    expect(inFlight(s, MessageType.MsgAppResp, 2).map((m) => m.index)).toEqual([last + 1]);
    expect(s.node(2).durable.lastIndex()).toBe(last + 1);
  });

  it("a crash loses the write in progress; a torn write keeps a prefix of its entries, without the HardState", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3");
    run(ELECT_1);
    run('propose 1 "a"; propose 1 "b"; propose 1 "c"; sync 1; sync 1; flush; sync 2; sync 3');
    // Nodes 2 and 3 wrote entry 3; their write of entries 4 and 5 (and commit 3) is in progress.
    const hs = s.node(2).durable.initialState().hardState;
    expect(s.node(2).durable.lastIndex()).toBe(3);
    expect(s.node(2).busy && s.node(3).busy).toBe(true);
    run("crash 2 torn=1; crash 3 torn=0");
    expect(s.node(2).up).toBe(false);
    expect(s.node(2).durable.lastIndex()).toBe(4);
    expect(s.node(2).durable.initialState().hardState).toEqual(hs);
    expect(s.node(3).durable.lastIndex()).toBe(3);
    expect(s.transcript!.toString()).toContain(
      "2 crashed (1 write(s) in progress, 1 record(s) of the first kept",
    );
    // Restarted, a node starts from what was durable.
    run("restart 2");
    expect(s.node(2).rn!.raft.raftLog.lastIndex()).toBe(4);
    expect(s.node(2).rn!.raft.hardState()).toEqual(hs);
  });

  it("a restart rebuilds the node from its durable state: the snapshot's state machine, then the entries after it", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3");
    run(ELECT_1);
    run('propose 1 "a"; propose 1 "b"; sync; flush; sync; flush; sync; flush; sync; flush; sync');
    expect(s.node(2).appliedIndex).toBe(4);
    run("snapshot 2 keep=0");
    expect(s.node(2).durable.firstIndex()).toBe(5);
    run('propose 1 "c"; sync; flush; sync; flush; sync; flush; sync; flush; sync');
    const applied = s.stateMachine<ChecksumStateMachine>(2).count;
    expect(applied).toBe(3);
    run("crash 2 torn=0; restart 2");
    // Restored from the snapshot at 4 (two commands applied), then handed out entry 5 again.
    expect(s.transcript!.toString()).toContain("2 started: term 2 vote 1 commit 5 log 5..5 applied 4");
    expect(s.node(2).appliedIndex).toBe(5);
    expect(s.stateMachine<ChecksumStateMachine>(2).count).toBe(3);
  });
});

describe("the driver (asyncStorageWrites)", () => {
  it("acknowledgements and votes leave only when their append completes; applies run separately", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3 async");
    run("campaign 1; sync 1; flush");
    // Nodes 2 and 3 granted their votes, but only once the vote is on disk.
    expect(inFlight(s, MessageType.MsgVoteResp)).toEqual([]);
    run("sync 2");
    expect(inFlight(s, MessageType.MsgVoteResp).map((m) => m.from)).toEqual([2]);
    run("flush; sync 1; flush; sync 2; flush");
    // Node 1 leads and committed its first entry (2); applying it is the apply thread's job.
    expect(s.leader()?.id).toBe(1);
    expect(s.node(1).rn!.raft.raftLog.committed).toBe(2);
    expect(s.node(1).appliedIndex).toBe(1);
    run("apply 1");
    expect(s.node(1).appliedIndex).toBe(2);
  });
});

describe("faults", () => {
  it("a paused node neither ticks nor receives; its messages wait in flight", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3");
    run(ELECT_1);
    run("pause 2");
    const elapsed = s.node(2).rn!.raft.electionElapsed;
    run("tick; tick; tick; flush");
    expect(s.node(2).rn!.raft.electionElapsed).toBe(elapsed);
    expect(s.network.inFlight().filter((m) => m.to === 2).length).toBeGreaterThan(0);
    run("resume 2; flush");
    expect(s.network.inFlight().filter((m) => m.to === 2)).toEqual([]);
  });

  it("partitions and one-way cuts lose messages on cut links until healed; skew changes a node's tick rate", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3");
    run(ELECT_1);
    run("partition 1|2,3; tick; flush");
    expect(s.transcript!.toString()).toMatch(/lost MsgHeartbeat 1→2 .* \(link cut\)/);
    run("heal; cut 1>3; tick; flush");
    const t = s.transcript!.toString();
    expect(t).toMatch(/lost MsgHeartbeat 1→3 .* \(link cut\)/);
    expect(t.split("0015 flush")[1]).toMatch(/MsgHeartbeat 1→2/);
    run("skew 2 200");
    const e = s.node(2).rn!.raft.electionElapsed;
    run("tick");
    expect(s.node(2).rn!.raft.electionElapsed).toBe(e + 2);
  });

  it("crash leader and isolate leader find the current leader", () => {
    const { s, run } = sim("sim seed=1 nodes=3 voters=1,2,3");
    run(ELECT_1);
    run("isolate leader");
    expect(s.network.isCut(1, 2) && s.network.isCut(3, 1)).toBe(true);
    run("heal; crash leader torn=0");
    expect(s.node(1).up).toBe(false);
    expect(s.leader()).toBeUndefined();
    run("crash leader torn=0; restart all");
    expect(s.transcript!.toString()).toContain("(skipped: no leader)");
    expect(s.node(1).up).toBe(true);
  });
});

describe("the liveness phase", () => {
  it("heals every fault, elects a leader and commits a new entry on every member", () => {
    const { s, run } = sim("sim seed=1 nodes=5 voters=1,2,3 learners=4");
    run(`${ELECT_1}; partition 1,2|3,4,5; pause 3; crash 1 torn=0; skew 4 50`);
    const ticks = s.awaitLiveness();
    expect(ticks).toBeLessThan(s.livenessTicks);
    const l = s.leader()!;
    expect(l.rn!.raft.state).toBe(StateType.StateLeader);
    const commit = l.rn!.raft.raftLog.committed;
    for (const id of [1, 2, 3, 4]) expect(s.node(id).appliedIndex, `node ${id}`).toBe(commit);
    // Node 5 is a spare: it was never a member.
    expect(s.node(5).up).toBe(false);
  });
});
