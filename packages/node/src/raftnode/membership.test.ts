/**
 * Membership through the API, over real WebSockets: a fourth node is added as a learner, joins
 * (`join: true`, empty log) and catches up, learning the other members' URLs from the log's
 * conf-change contexts; it is promoted; a follower is removed and stops itself; and the errors a
 * conf change can meet (exists, not found, not a learner, removed, learner transferee).
 */
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MapStateMachine, tempDir, waitFor, waitForLeader } from "../../test/raftnode/harness.js";
import { isRaftNodeError } from "./errors.js";
import { Membership } from "./membership.js";
import { RaftNode } from "./raft-node.js";

const enc = new TextEncoder();

describe("membership changes (real transport)", () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let urls: Map<number, string>;
  const nodes = new Map<number, RaftNode>();
  const sms = new Map<number, MapStateMachine>();

  const start = async (id: number, peers: Map<number, string>, join = false): Promise<RaftNode> => {
    const sm = new MapStateMachine();
    sms.set(id, sm);
    const n = await RaftNode.start({
      id,
      clusterId: 0x33,
      peers,
      join,
      dataDir: joinPath(id),
      stateMachine: sm,
      tickMs: 20,
      electionTick: 20,
      transport: { backoffInitialMs: 20, backoffMaxMs: 200 },
      logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
    });
    nodes.set(id, n);
    return n;
  };
  const joinPath = (id: number) => join(root.path, `n${id}`);
  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return "resolved";
    } catch (e) {
      return isRaftNodeError(e) ? e.code : String(e);
    }
  };

  beforeAll(async () => {
    root = await tempDir("tsraft-members-");
    const ports = await freePorts(4);
    urls = new Map([1, 2, 3, 4].map((id, i) => [id, `ws://127.0.0.1:${ports[i]}`]));
  });
  afterAll(async () => {
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    await root.cleanup();
  });

  it("adds a learner that joins, promotes it, removes a follower", async () => {
    const initial = new Map([1, 2, 3].map((id) => [id, urls.get(id)!]));
    await Promise.all([1, 2, 3].map((id) => start(id, initial)));
    let leader = await waitForLeader([...nodes.values()]);
    for (let i = 0; i < 20; i++) await leader.propose(enc.encode(`before-${i}=x`));

    // Add 4 as a learner; it starts with `join` and an empty log.
    await leader.addMember(4, urls.get(4)!, { learner: true });
    const n4 = await start(4, urls, true);
    await leader.propose(enc.encode("after-add=x"));
    await waitFor(() => sms.get(4)!.data.get("after-add") === "x", "node 4 caught up");
    expect(sms.get(4)!.dump()).toBe(sms.get(leader.id)!.dump());
    const expected = [1, 2, 3, 4].map((id) => ({ id, url: urls.get(id)!, learner: id === 4 }));
    await waitFor(() => [...nodes.values()].every((n) => n.members().length === 4), "everyone knows 4");
    for (const n of nodes.values()) expect(n.members()).toEqual(expected);
    expect(leader.status().progress?.["4"]?.learner).toBe(true);
    expect(n4.isLeader()).toBe(false);

    // Refused before proposing.
    expect(await codeOf(leader.addMember(4, "ws://127.0.0.1:1"))).toBe("MemberExists");
    expect(await codeOf(leader.addMember(5, urls.get(1)!))).toBe("UrlExists");
    expect(await codeOf(leader.promoteMember(1))).toBe("MemberNotLearner");
    expect(await codeOf(leader.removeMember(9))).toBe("MemberNotFound");
    expect(await codeOf(leader.transferLeadership(4))).toBe("MemberIsLearner");
    expect(await codeOf(leader.addMember(0, "ws://x:1"))).toBe("InvalidArgument");

    // Promote 4 (through a follower: the conf change is forwarded to the leader).
    const follower = [...nodes.values()].find((n) => !n.isLeader() && n.id !== 4)!;
    await follower.promoteMember(4);
    await waitFor(
      () => [...nodes.values()].every((n) => n.members().every((m) => !m.learner)),
      "everyone sees 4 as a voter",
    );
    expect(leader.status().progress?.["4"]?.learner).toBe(false);

    // Remove a follower (not 4): it applies its own removal and stops itself.
    const victim = [...nodes.values()].find((n) => !n.isLeader() && n.id !== 4)!;
    let removed = false;
    victim.on("removed", () => {
      removed = true;
    });
    await leader.removeMember(victim.id);
    await waitFor(() => removed, "the removed node learns of its removal");
    await waitFor(() => victim.stopped, "the removed node stopped");
    expect(await codeOf(victim.propose(enc.encode("z=1")))).toBe("Stopped");
    expect(await codeOf(leader.addMember(victim.id, urls.get(victim.id)!))).toBe("MemberRemoved");

    // The remaining three (4 a voter now) keep committing.
    const rest = [...nodes.values()].filter((n) => n !== victim);
    leader = await waitForLeader(rest);
    for (let i = 0; i < 20; i++) await leader.propose(enc.encode(`after-${i}=y`));
    await waitFor(() => rest.every((n) => n.status().applied === leader.status().applied), "all applied");
    expect(new Set(rest.map((n) => sms.get(n.id)!.dump())).size).toBe(1);
    expect(
      rest.every(
        (n) =>
          n
            .members()
            .map((m) => m.id)
            .includes(victim.id) === false,
      ),
    ).toBe(true);
  }, 60_000);
});

describe("Membership (the rules conf changes are validated by)", () => {
  it("validates changes as etcd does and never reuses a removed id", () => {
    const m = new Membership();
    expect(m.check({ kind: "add", id: 1, url: "ws://a:1", learner: false })).toBeUndefined();
    m.apply({ kind: "add", id: 1, url: "ws://a:1", learner: false });
    m.apply({ kind: "add", id: 2, url: "ws://b:1", learner: true });
    expect(m.check({ kind: "add", id: 1, url: "ws://z:1", learner: false })?.code).toBe("MemberExists");
    expect(m.check({ kind: "add", id: 3, url: "ws://a:1", learner: false })?.code).toBe("UrlExists");
    expect(m.check({ kind: "promote", id: 1 })?.code).toBe("MemberNotLearner");
    expect(m.check({ kind: "promote", id: 3 })?.code).toBe("MemberNotFound");
    expect(m.check({ kind: "remove", id: 3 })?.code).toBe("MemberNotFound");
    expect(m.check({ kind: "promote", id: 2 })).toBeUndefined();
    m.apply({ kind: "promote", id: 2 });
    m.apply({ kind: "remove", id: 1 });
    expect(m.list()).toEqual([{ id: 2, url: "ws://b:1", learner: false }]);
    expect(m.check({ kind: "add", id: 1, url: "ws://a:1", learner: false })?.code).toBe("MemberRemoved");
    const copy = new Membership();
    copy.restore(m.list(), m.removed());
    expect(copy.list()).toEqual(m.list());
    expect(copy.isRemoved(1)).toBe(true);
  });
});
