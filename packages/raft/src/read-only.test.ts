/**
 * ReadIndex (Raft thesis §6.4) in both modes: safe (a heartbeat round confirms leadership) and
 * lease-based (the leader answers from its lease). Driven through RawNodes and the real Ready loop.
 */
import { describe, expect, it } from "vitest";
import { enc, entry, Network, newTestStorage } from "../test/network.js";
import { JointConfig, MajorityConfig } from "./quorum/index.js";
import { type Message, MessageType, newMessage } from "./raftpb/types.js";
import { ReadOnly, ReadOnlyOption } from "./read-only.js";

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const states = (nw: Network, id: number) => nw.readStates(id).map((rs) => [rs.index, dec(rs.requestCtx)]);

function cluster(option: ReadOnlyOption, ids = [1, 2, 3]): Network {
  return Network.create(ids, () => ({ readOnlyOption: option, checkQuorum: true }));
}

/** A three-node cluster with leader 1, after it committed a proposal; its commit index. */
function leaderWithCommit(option: ReadOnlyOption): { nw: Network; commit: number } {
  const nw = cluster(option);
  nw.elect(1);
  nw.propose(1, "a");
  return { nw, commit: nw.raft(1).raftLog.committed };
}

for (const option of [ReadOnlyOption.ReadOnlySafe, ReadOnlyOption.ReadOnlyLeaseBased]) {
  describe(`ReadIndex (${option})`, () => {
    it("single node: answered at once with the commit index", () => {
      const nw = cluster(option, [1]);
      nw.elect(1);
      nw.propose(1, "a");
      const commit = nw.raft(1).raftLog.committed;
      expect(commit).toBe(2);
      nw.node(1).readIndex(enc("ctx1"));
      // No message is needed: the answer is in the very next Ready.
      const rd = nw.ready(1)!;
      expect(rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat)).toEqual([]);
      expect(states(nw, 1)).toEqual([[commit, "ctx1"]]);
    });

    it("three nodes: the leader answers with its commit index at the time of the request", () => {
      const { nw, commit } = leaderWithCommit(option);
      nw.node(1).readIndex(enc("r1"));
      nw.stabilize();
      expect(states(nw, 1)).toEqual([[commit, "r1"]]);
      // Several reads answered together, in order.
      nw.node(1).readIndex(enc("r2"));
      nw.node(1).readIndex(enc("r3"));
      nw.stabilize();
      expect(states(nw, 1)).toEqual([
        [commit, "r1"],
        [commit, "r2"],
        [commit, "r3"],
      ]);
    });

    it("a follower's request is forwarded to the leader and answered to the follower", () => {
      const { nw, commit } = leaderWithCommit(option);
      nw.node(2).readIndex(enc("f"));
      nw.stabilize();
      expect(states(nw, 2)).toEqual([[commit, "f"]]);
      expect(states(nw, 1)).toEqual([]);
      const fwd = nw.sent.filter((m) => m.type === MessageType.MsgReadIndex);
      expect(fwd.map((m) => [m.from, m.to, m.term])).toEqual([[2, 1, 0]]);
      expect(
        nw.sent.filter((m) => m.type === MessageType.MsgReadIndexResp).map((m) => [m.from, m.to]),
      ).toEqual([[1, 2]]);
    });

    it("a follower without a leader drops the request", () => {
      const nw = cluster(option);
      nw.node(2).readIndex(enc("lost"));
      nw.stabilize();
      expect(states(nw, 2)).toEqual([]);
      expect(nw.sent.filter((m) => m.type === MessageType.MsgReadIndex)).toEqual([]);
    });

    it("is postponed until the new leader commits an entry of its term", () => {
      const nw = cluster(option);
      nw.elect(1);
      nw.propose(1, "a");
      // Node 2 takes over (by a transfer, which leases do not block) but cannot commit its no-op
      // yet: its appends are held back.
      nw.node(1).transferLeader(2);
      const holdApps = (m: Message) => !(m.from === 2 && m.type === MessageType.MsgApp);
      nw.stabilize(holdApps);
      const r2 = nw.raft(2);
      expect(r2.lead).toBe(2);
      expect(r2.raftLog.zeroTermOnOutOfBounds(r2.raftLog.committed)).toBeLessThan(r2.term);
      const before = r2.raftLog.committed;
      nw.node(2).readIndex(enc("early"));
      nw.stabilize(holdApps);
      expect(states(nw, 2)).toEqual([]);
      expect(r2.pendingReadIndexMessages.length).toBe(1);
      // Let the no-op commit (a heartbeat's response unpauses the probes that were dropped): the
      // read is answered with the new commit index, past the no-op.
      nw.node(2).tick();
      nw.stabilize();
      expect(r2.raftLog.committed).toBe(before + 1);
      expect(states(nw, 2)).toEqual([[before + 1, "early"]]);
      expect(r2.pendingReadIndexMessages.length).toBe(0);
    });

    it("single node: a new leader waits for an entry of its term (its commit index may have gone back)", () => {
      // Before a crash the node committed 3, but the HardState on disk says 2: the commit index is
      // not synced. Answering at 2 right after the restart would go back in time. (Deviation from
      // etcd, which answers a single voter at once; found by the simulator in rafttest/sim.)
      const s = newTestStorage([1]);
      s.append([entry(1, 1), entry(1, 2), entry(1, 3)]);
      s.setHardState({ term: 1, vote: 1, commit: 2 });
      const nw = new Network();
      const rn = nw.add(1, s, { readOnlyOption: option, checkQuorum: true });
      rn.campaign();
      nw.ready(1); // persists the vote; advance steps it: leader at term 2, no-op at 4
      const r = nw.raft(1);
      expect([r.lead, r.term, r.raftLog.committed]).toEqual([1, 2, 2]);
      rn.readIndex(enc("after-restart"));
      expect(r.readStates).toEqual([]);
      expect(r.pendingReadIndexMessages.length).toBe(1);
      nw.stabilize();
      expect(states(nw, 1)).toEqual([[4, "after-restart"]]);
    });

    it("after a leader change, reads go to the new leader and carry its commit index", () => {
      const nw = cluster(option);
      nw.elect(1);
      nw.propose(1, "a");
      // Leadership moves to 3 (transfer: allowed despite the lease).
      nw.node(1).transferLeader(3);
      nw.stabilize();
      expect(nw.leader()).toBe(3);
      nw.propose(3, "b");
      const commit = nw.raft(3).raftLog.committed;
      nw.node(1).readIndex(enc("via-old-leader"));
      nw.node(3).readIndex(enc("at-new-leader"));
      nw.stabilize();
      expect(states(nw, 1)).toEqual([[commit, "via-old-leader"]]);
      expect(states(nw, 3)).toEqual([[commit, "at-new-leader"]]);
    });
  });
}

describe("ReadIndex, safe mode specifics", () => {
  it("needs a quorum of heartbeat acknowledgements carrying the request's position", () => {
    const nw = cluster(ReadOnlyOption.ReadOnlySafe);
    nw.elect(1);
    nw.node(1).readIndex(enc("q"));
    const rd = nw.ready(1)!;
    const hbs = rd.messages.filter((m) => m.type === MessageType.MsgHeartbeat);
    expect(hbs.map((m) => m.to)).toEqual([2, 3]);
    // The context is the read's position (1) as 8 little-endian bytes.
    expect([...hbs[0]!.context]).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(states(nw, 1)).toEqual([]);
    // One follower's ack makes a quorum with the leader's own.
    nw.deliver((m) => m.to === 2);
    nw.ready(2);
    nw.deliver((m) => m.to === 1);
    nw.ready(1);
    expect(states(nw, 1)).toEqual([[nw.raft(1).raftLog.committed, "q"]]);
  });

  it("a leader that lost its quorum never answers", () => {
    const nw = cluster(ReadOnlyOption.ReadOnlySafe);
    nw.elect(1);
    nw.isolate(1);
    nw.node(1).readIndex(enc("partitioned"));
    nw.stabilize();
    expect(states(nw, 1)).toEqual([]);
    // Heartbeat responses without the read's context do not confirm it either.
    nw.heal();
    nw.raft(1).bcastHeartbeatWithCtx(new Uint8Array(0));
    nw.stabilize();
    expect(states(nw, 1)).toEqual([]);
  });
});

describe("ReadIndex, lease-based specifics", () => {
  it("answers without any message to the followers", () => {
    const nw = cluster(ReadOnlyOption.ReadOnlyLeaseBased);
    nw.elect(1);
    nw.isolate(1); // within its lease, the leader still answers
    nw.node(1).readIndex(enc("lease"));
    const rd = nw.ready(1)!;
    expect(rd.messages).toEqual([]);
    expect(states(nw, 1)).toEqual([[nw.raft(1).raftLog.committed, "lease"]]);
  });

  it("requires CheckQuorum", () => {
    expect(() =>
      Network.create([1], () => ({ readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased, checkQuorum: false })),
    ).toThrow("CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased");
  });

  it("accepts the plain strings of the option", () => {
    const nw = Network.create([1, 2, 3], () => ({ readOnlyOption: "lease-based", checkQuorum: true }));
    expect(nw.raft(1).readOnly.option).toBe(ReadOnlyOption.ReadOnlyLeaseBased);
  });
});

describe("ReadOnly bookkeeping", () => {
  const req = (ctx: string) =>
    newMessage({ type: MessageType.MsgReadIndex, entries: [{ term: 0, index: 0, type: 0, data: enc(ctx) }] });
  const voters = new JointConfig(new MajorityConfig([1, 2, 3]));

  it("confirms reads in order, up to the position a quorum acknowledged", () => {
    const ro = new ReadOnly(ReadOnlyOption.ReadOnlySafe);
    expect(ro.heartbeatCtx().length).toBe(0);
    ro.addRequest(5, req("a"));
    const ctxA = ro.heartbeatCtx();
    ro.addRequest(6, req("b"));
    const ctxB = ro.heartbeatCtx();
    ro.addRequest(7, req("c"));
    ro.recvAck(1, ro.heartbeatCtx());
    // Only the leader so far.
    expect(ro.maybeAdvance(voters)).toEqual([]);
    ro.recvAck(2, ctxA);
    expect(ro.maybeAdvance(voters).map((r) => [r.index, dec(r.req.entries[0]!.data)])).toEqual([[5, "a"]]);
    // A stale (lower) ack does not lower what 3 acknowledged later.
    ro.recvAck(3, ctxB);
    ro.recvAck(3, ctxA);
    expect(ro.maybeAdvance(voters).map((r) => r.index)).toEqual([6]);
    ro.recvAck(2, ro.heartbeatCtx());
    expect(ro.maybeAdvance(voters).map((r) => r.index)).toEqual([7]);
    expect(ro.pendingCount()).toBe(0);
    expect(ro.heartbeatCtx().length).toBe(0);
  });

  it("ignores contexts too short to hold a position", () => {
    const ro = new ReadOnly(ReadOnlyOption.ReadOnlySafe);
    ro.addRequest(1, req("a"));
    ro.recvAck(1, ro.heartbeatCtx());
    ro.recvAck(2, new Uint8Array([1]));
    expect(ro.maybeAdvance(voters)).toEqual([]);
  });

  it("encodes large positions exactly", () => {
    const ro = new ReadOnly(ReadOnlyOption.ReadOnlySafe);
    for (let i = 0; i < 300; i++) ro.addRequest(i, req(String(i)));
    expect([...ro.heartbeatCtx()]).toEqual([44, 1, 0, 0, 0, 0, 0, 0]);
  });
});
