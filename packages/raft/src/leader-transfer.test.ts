/**
 * Leadership transfer (Raft thesis §3.10): the leader catches the transferee up, sends it
 * MsgTimeoutNow, and stops accepting proposals meanwhile; the transfer is abandoned after an
 * election timeout or if the transferee leaves the configuration.
 */
import { describe, expect, it } from "vitest";
import { enc, Network } from "../test/network.js";
import { None } from "./constants.js";
import { isRaftError } from "./errors.js";
import { ConfChangeType, MessageType, newConfChange } from "./raftpb/types.js";
import { StateType } from "./ready.js";

function elected(): Network {
  const nw = Network.create([1, 2, 3]);
  nw.elect(1);
  nw.propose(1, "a");
  return nw;
}

describe("leadership transfer", () => {
  it("to an up-to-date follower: MsgTimeoutNow at once, and it wins at the next term", () => {
    const nw = elected();
    const term = nw.raft(1).term;
    nw.node(1).transferLeader(2);
    expect(nw.raft(1).leadTransferee).toBe(2);
    nw.stabilize();
    expect(nw.sent.filter((m) => m.type === MessageType.MsgTimeoutNow).map((m) => [m.from, m.to])).toEqual([
      [1, 2],
    ]);
    expect(nw.leader()).toBe(2);
    expect(nw.raft(2).term).toBe(term + 1);
    expect(nw.raft(1).state).toBe(StateType.StateFollower);
    expect(nw.raft(1).leadTransferee).toBe(None);
  });

  it("to a lagging follower: the leader catches it up first", () => {
    const nw = elected();
    nw.isolate(3);
    nw.propose(1, "b");
    nw.propose(1, "c");
    nw.heal();
    expect(nw.raft(3).raftLog.lastIndex()).toBeLessThan(nw.raft(1).raftLog.lastIndex());
    nw.node(1).transferLeader(3);
    // No MsgTimeoutNow yet: an append goes first.
    const rd = nw.ready(1)!;
    expect(rd.messages.map((m) => MessageType[m.type])).toEqual(["MsgApp"]);
    nw.stabilize();
    expect(nw.leader()).toBe(3);
    expect(nw.raft(3).raftLog.lastIndex()).toBe(nw.raft(1).raftLog.lastIndex());
  });

  it("is abandoned after an election timeout if the transferee does not take over", () => {
    const nw = elected();
    nw.isolate(3);
    nw.node(1).transferLeader(3);
    nw.stabilize();
    expect(nw.raft(1).leadTransferee).toBe(3);
    for (let i = 0; i < nw.raft(1).electionTimeout - 1; i++) nw.node(1).tick();
    expect(nw.raft(1).leadTransferee).toBe(3);
    nw.node(1).tick();
    expect(nw.raft(1).leadTransferee).toBe(None);
    expect(nw.raft(1).state).toBe(StateType.StateLeader);
    // Proposals are accepted again.
    nw.heal();
    nw.propose(1, "after");
    expect(nw.raft(3).raftLog.committed).toBe(nw.raft(1).raftLog.committed);
  });

  it("drops proposals while it is in progress", () => {
    const nw = elected();
    nw.isolate(3);
    nw.node(1).transferLeader(3);
    let err: unknown;
    try {
      nw.node(1).propose(enc("during"));
    } catch (e) {
      err = e;
    }
    expect(isRaftError(err, "ProposalDropped")).toBe(true);
    // A follower's forwarded proposal is dropped at the leader as well.
    nw.node(2).propose(enc("forwarded"));
    nw.stabilize();
    expect(
      nw
        .raft(1)
        .raftLog.allEntries()
        .map((e) => new TextDecoder().decode(e.data)),
    ).not.toContain("forwarded");
  });

  it("is abandoned when the transferee is removed from the configuration", () => {
    const nw = elected();
    nw.isolate(3);
    nw.node(1).transferLeader(3);
    expect(nw.raft(1).leadTransferee).toBe(3);
    // The removal must be proposed before the transfer blocks proposals; apply it directly, as a
    // committed conf change would be.
    nw.node(1).applyConfChange(newConfChange({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3 }));
    expect(nw.raft(1).leadTransferee).toBe(None);
    expect(nw.raft(1).state).toBe(StateType.StateLeader);
  });

  it("ignores a transfer to the leader itself, to a learner, and a repeated request", () => {
    const nw = elected();
    nw.node(1).transferLeader(1);
    expect(nw.raft(1).leadTransferee).toBe(None);
    nw.node(1).applyConfChange(newConfChange({ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 }));
    nw.node(1).transferLeader(4);
    expect(nw.raft(1).leadTransferee).toBe(None);
    nw.isolate(3);
    nw.node(1).transferLeader(3);
    nw.node(1).tick();
    const elapsed = nw.raft(1).electionElapsed;
    nw.node(1).transferLeader(3); // same node: ignored, the timer keeps running
    expect(nw.raft(1).electionElapsed).toBe(elapsed);
    expect(nw.raft(1).leadTransferee).toBe(3);
  });

  it("a new target replaces the previous one", () => {
    const nw = elected();
    nw.isolate(3);
    nw.node(1).transferLeader(3);
    expect(nw.raft(1).leadTransferee).toBe(3);
    nw.node(1).transferLeader(2);
    expect(nw.raft(1).leadTransferee).toBe(2);
    nw.stabilize();
    expect(nw.raft(2).state).toBe(StateType.StateLeader);
    expect(nw.raft(1).lead).toBe(2);
  });

  it("a follower forwards the request to its leader", () => {
    const nw = elected();
    nw.node(3).transferLeader(3);
    nw.stabilize();
    const fwd = nw.sent.filter((m) => m.type === MessageType.MsgTransferLeader);
    expect(fwd.map((m) => [m.from, m.to])).toEqual([[3, 1]]);
    expect(nw.raft(3).state).toBe(StateType.StateLeader);
  });
});
