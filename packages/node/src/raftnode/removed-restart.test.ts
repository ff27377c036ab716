/**
 * A member removed while it was down learns it at restart (etcd: a removed member's peers answer
 * 410 Gone and it exits): its former peers refuse its connections with MemberRemoved, and it stops
 * itself as when it applies its own removal ("removed", then "stopped") instead of redialing them.
 */
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MapStateMachine, tempDir, waitFor, waitForLeader } from "../../test/raftnode/harness.js";
import { RaftNode } from "./raft-node.js";

describe("a member removed while down", () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let urls: Map<number, string>;
  const nodes: RaftNode[] = [];
  const start = async (id: number): Promise<RaftNode> => {
    const n = await RaftNode.start({
      id,
      clusterId: 0x55,
      peers: urls,
      dataDir: join(root.path, `n${id}`),
      stateMachine: new MapStateMachine(),
      tickMs: 20,
      electionTick: 20,
      transport: { backoffInitialMs: 20, backoffMaxMs: 200 },
      logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
    });
    nodes.push(n);
    return n;
  };

  beforeAll(async () => {
    root = await tempDir("tsraft-removed-");
    const ports = await freePorts(3);
    urls = new Map([1, 2, 3].map((id, i) => [id, `ws://127.0.0.1:${ports[i]}`]));
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await root.cleanup();
  });

  it("stops itself at restart instead of redialing its former peers", async () => {
    // Node 1 has the lowest id: it dials the others (they never dial it).
    const [n1, n2, n3] = [await start(1), await start(2), await start(3)];
    await waitForLeader([n1, n2, n3]);
    await n1.stop();
    const leader = await waitForLeader([n2, n3]);
    // A new leader refuses conf changes until it has applied its predecessors' entries (Raft's
    // pendingConfIndex): a write of its own first.
    await leader.propose(new TextEncoder().encode("x=1"));
    await leader.removeMember(1);

    const again = await start(1);
    const events: string[] = [];
    again.on("removed", () => events.push("removed"));
    again.on("stopped", () => events.push("stopped"));
    await waitFor(() => events.includes("stopped"), "the removed member to stop itself", 15_000);
    expect(events).toEqual(["removed", "stopped"]);
    expect(n2.members().map((m) => m.id)).toEqual([2, 3]);
  });
});
