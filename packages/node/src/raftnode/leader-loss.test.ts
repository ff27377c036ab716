/**
 * When the leader goes (docs/architecture.md, "When the leader goes"): requests handed to a leader
 * that is gone end promptly instead of at their timeout, with an error that says what is known:
 *
 * - a proposal forwarded to a leader that died ends with LeaderChanged (it may still apply) within
 *   two election timeouts, or applies;
 * - a proposal the old leader appended itself, overtaken by a later leader's entries, ends with
 *   Superseded, and indeed no node ever applies it;
 * - a linearizable read whose leader died is asked again of the new leader (or ends with NoLeader).
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { MapStateMachine, MemNetwork, waitFor, waitForLeader } from "../../test/raftnode/harness.js";
import { MemFileSystem } from "../mem-fs.js";
import { isRaftNodeError } from "./errors.js";
import type { RaftNodeOptions } from "./options.js";
import { RaftNode } from "./raft-node.js";

const enc = new TextEncoder();
const IDS = [1, 2, 3];
const TICK_MS = 20;
const ELECTION_TICK = 10;
/** The election timeout: a follower campaigns within [1, 2) of these after the last heartbeat. */
const ELECTION_MS = TICK_MS * ELECTION_TICK;
/** Far above what the tests expect: reaching it means the request was not ended early. */
const TIMEOUT_MS = 20_000;

let nodes: RaftNode<string>[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  nodes = [];
});

async function startCluster(extra: Partial<RaftNodeOptions<string>> = {}) {
  const net = new MemNetwork();
  const sms = new Map(IDS.map((id) => [id, new MapStateMachine()]));
  const peers = new Map(IDS.map((id) => [id, `ws://node-${id}`]));
  nodes = await Promise.all(
    IDS.map((id) =>
      RaftNode.start<string>({
        id,
        clusterId: 5,
        peers,
        dataDir: `/n${id}`,
        stateMachine: sms.get(id)!,
        fs: new MemFileSystem(),
        transportFactory: net.factory,
        tickMs: TICK_MS,
        electionTick: ELECTION_TICK,
        requestTimeoutMs: TIMEOUT_MS,
        logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
        ...extra,
      }),
    ),
  );
  const leader = await waitForLeader(nodes);
  return { net, sms, leader: leader as RaftNode<string> };
}

/** Settles `p`: its value or its error code, and how long it took. */
async function outcome(p: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const t0 = performance.now();
  try {
    await p;
    return { code: "applied", ms: performance.now() - t0 };
  } catch (e) {
    return { code: isRaftNodeError(e) ? e.code : String(e), ms: performance.now() - t0 };
  }
}

describe("requests whose leader is gone", () => {
  it("a proposal forwarded to a leader that died ends within two election timeouts", async () => {
    const { leader } = await startCluster();
    const follower = nodes.find((n) => n !== leader)!;
    await follower.propose(enc.encode("warm=1"));
    await leader.stop();
    const r = await outcome(follower.propose(enc.encode("k=1")));
    console.log(`forwarded proposal after the leader stopped: ${r.code} in ${r.ms.toFixed(0)} ms`);
    expect(["LeaderChanged", "applied"]).toContain(r.code);
    // Its election timer fires within 2 election timeouts of the last heartbeat (or it hears the
    // new leader sooner); a busy machine gets one more for its timers.
    expect(r.ms).toBeLessThan(3 * ELECTION_MS);
  });

  it("a proposal the old leader appended, overtaken by a later leader's entries, is Superseded and never applies", async () => {
    // Without checkQuorum the isolated leader keeps leading (its proposal waits) until it hears of
    // the later term; then the new leader's entries replace its own.
    const { net, sms, leader } = await startCluster({ checkQuorum: false });
    net.isolate(leader.id, IDS);
    const stranded = outcome(leader.propose(enc.encode("lost=1")));
    const others = nodes.filter((n) => n !== leader);
    await waitFor(() => others.some((n) => n.isLeader()), "a new leader among the other two");
    const fresh = others.find((n) => n.isLeader())!;
    await fresh.propose(enc.encode("won=1"));
    // The old leader first hears the new one (its heartbeat names it), not a reply of a later term
    // that names no leader: that would end the proposal at once with LeaderChanged, outcome unknown
    // (docs/architecture.md, "When the leader goes").
    net.healLink(fresh.id, leader.id);
    await waitFor(() => leader.leader() === fresh.id, "the old leader to follow the new one");
    net.heal();
    const r = await stranded;
    console.log(`stranded proposal on the old leader: ${r.code} after ${r.ms.toFixed(0)} ms`);
    expect(r.code).toBe("Superseded");
    await waitFor(
      () => sms.get(leader.id)!.data.get("won") === "1",
      "the old leader to apply the new entries",
    );
    for (const id of IDS) expect(sms.get(id)!.data.has("lost"), `node ${id}`).toBe(false);
  });

  it("a linearizable read whose leader died is asked of the new leader at once", async () => {
    const { leader } = await startCluster();
    const follower = nodes.find((n) => n !== leader)!;
    await follower.linearizableRead();
    await leader.stop();
    const r = await outcome(follower.linearizableRead());
    console.log(`read after the leader stopped: ${r.code} in ${r.ms.toFixed(0)} ms`);
    expect(["applied", "NoLeader"]).toContain(r.code);
    expect(r.ms).toBeLessThan(4 * ELECTION_MS);
  });
});

describe("a conf change right after an election", () => {
  it("waits until the new leader may propose it (not silently refused into an empty entry), and applies", {
    timeout: 60_000,
  }, async () => {
    // A new leader refuses conf changes until it has applied its whole log as of its election
    // (raft's pendingConfIndex), turning them into empty entries: the caller would time out. Its
    // log ends past its applied index when the old leader died with writes in flight.
    const rs: { code: string; ms: number }[] = [];
    for (let round = 0; round < 3; round++) {
      const { leader } = await startCluster({ requestTimeoutMs: 3000 });
      let writing = true;
      const writers = [0, 1, 2, 3].map(async (w) => {
        for (let i = 0; writing; i++) {
          await leader.propose(enc.encode(`w${w}=${i}`)).catch(() => {});
          if (leader.stopped) return;
        }
      });
      const others = nodes.filter((n) => n !== leader);
      const proposed = new Promise<{ code: string; ms: number }>((resolve) => {
        for (const n of others) {
          n.on("leader-change", ({ lead }) => {
            // At once, in the Ready that makes it leader.
            if (lead === n.id) resolve(outcome(n.addMember(9, "ws://spare", { learner: true })));
          });
        }
      });
      await waitFor(() => leader.status().applied > 20, "writes flowing");
      await leader.stop(); // writes in flight: its followers' logs end past their commit index
      writing = false;
      await Promise.all(writers);
      rs.push(await proposed);
      await Promise.all(nodes.map((n) => n.stop()));
    }
    console.log(
      `conf changes right after an election: ${rs.map((r) => `${r.code} in ${r.ms.toFixed(0)} ms`).join(", ")}`,
    );
    for (const r of rs) expect(r.code).toBe("applied");
  });
});
