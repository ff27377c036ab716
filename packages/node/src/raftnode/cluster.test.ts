/**
 * A three-node cluster in one process over real WebSockets on 127.0.0.1 (ephemeral ports) with
 * real WAL and snapshot directories, run once in Advance mode and once in asyncStorageWrites mode:
 *
 * 1. elect a leader; replicate 10,000 entries through `propose` (256 in flight at a time);
 * 2. stop a follower, write more, restart it from disk with an empty state machine: it restores
 *    its own newest snapshot, replays its WAL, and catches up;
 * 3. stop the leader, let the other two elect a new one and write more, restart the old leader
 *    from disk with its (durable) state machine: it rejoins as a follower and catches up, and its
 *    state machine is never handed an entry it already applied (MapStateMachine would throw);
 * 4. stop a follower while the leader takes snapshots and compacts its log past the follower's
 *    last index; restart it: it catches up through a streamed snapshot — MsgSnap is asserted via
 *    the metrics (snapshots sent by the leader, received and restored by the follower);
 * 5. every node's state machine holds the same data at the same applied index.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  counterValue,
  MapStateMachine,
  proposeRange,
  tempDir,
  waitFor,
  waitForLeader,
} from "../../test/raftnode/harness.js";
import { INACTIVE_COMPACTIONS } from "./catch-up.js";
import { RaftNode } from "./raft-node.js";

const IDS = [1, 2, 3];
const SNAPSHOT_COUNT = 1000;
const CATCH_UP = 500;
/** Step 4's entries while a follower is down: past the compaction that lets go of it. */
const STEP4_ENTRIES = 3000 + SNAPSHOT_COUNT * INACTIVE_COMPACTIONS;

for (const asyncStorageWrites of [false, true]) {
  const mode = asyncStorageWrites ? "asyncStorageWrites" : "Advance";
  describe(`3-node cluster over WebSockets with real WALs (${mode} mode)`, () => {
    let root: { path: string; cleanup: () => Promise<void> };
    let peers: Map<number, string>;
    const nodes = new Map<number, RaftNode>();
    const sms = new Map<number, MapStateMachine>();

    const start = async (id: number, sm: MapStateMachine): Promise<RaftNode> => {
      sms.set(id, sm);
      const n = await RaftNode.start({
        id,
        clusterId: 0x7a,
        peers,
        dataDir: join(root.path, `n${id}`),
        stateMachine: sm,
        tickMs: 20,
        electionTick: 20,
        snapshotCount: SNAPSHOT_COUNT,
        snapshotCatchUpEntries: CATCH_UP,
        asyncStorageWrites,
        requestTimeoutMs: 10_000,
        transport: { backoffInitialMs: 20, backoffMaxMs: 200 },
        logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
      });
      nodes.set(id, n);
      return n;
    };
    const running = () => [...nodes.values()].filter((n) => !n.stopped);
    const leader = () => running().find((n) => n.isLeader()) ?? running()[0]!;
    const converged = async (what: string) => {
      const l = await waitForLeader(running());
      await l.linearizableRead();
      const target = l.status().applied;
      await waitFor(() => running().every((n) => n.status().applied >= target), what, 30_000);
    };

    beforeAll(async () => {
      root = await tempDir("tsraft-cluster-");
      const ports = await freePorts(3);
      peers = new Map(IDS.map((id, i) => [id, `ws://127.0.0.1:${ports[i]}`]));
    });
    afterAll(async () => {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
      await root.cleanup();
    });

    it("elects, replicates 10k entries, restarts a follower and the leader, catches up by snapshot", async () => {
      const t0 = Date.now();
      await Promise.all(IDS.map((id) => start(id, new MapStateMachine())));
      await waitForLeader(running());

      // 1. 10,000 entries.
      await proposeRange(leader, 0, 10_000, 256);
      await converged("10k entries applied everywhere");
      for (const sm of sms.values()) expect(sm.data.size).toBe(10_000);
      const tReplicated = Date.now();

      // 2. A follower restarts from disk with an empty state machine.
      let f = running().find((n) => !n.isLeader())!;
      await f.stop();
      await proposeRange(leader, 10_000, 1000);
      const fresh = new MapStateMachine();
      f = await start(f.id, fresh);
      expect(fresh.restores, "restored from its own snapshot on disk").toBe(1);
      await converged("restarted follower caught up");
      expect(fresh.dump()).toBe(sms.get(leader().id)!.dump());

      // 3. The leader restarts from disk with its durable state machine.
      const old = leader();
      const oldSm = sms.get(old.id)!;
      const oldApplied = oldSm.applied;
      await old.stop();
      const next = await waitForLeader(running());
      expect(next.id).not.toBe(old.id);
      await proposeRange(leader, 11_000, 1000);
      const back = await start(old.id, oldSm);
      expect(oldSm.restores, "its state machine was ahead of its snapshot: no restore").toBe(0);
      await converged("old leader caught up");
      expect(back.isLeader()).toBe(false);
      expect(oldSm.applied).toBeGreaterThan(oldApplied);

      // 4. A follower misses enough entries that the leader compacts past it: MsgSnap.
      const l = leader();
      const f2 = running().find((n) => n !== l)!;
      const f2Sm = sms.get(f2.id)!;
      const f2Applied = f2.status().applied;
      // Summed over the two nodes that stay up: the leadership may move between them meanwhile.
      const sentByOthers = async (): Promise<number> => {
        let total = 0;
        for (const n of running()) {
          if (n.id !== f2.id) total += await counterValue(n.metrics.snapshotsSent, { result: "success" });
        }
        return total;
      };
      const sentBefore = await sentByOthers();
      await f2.stop();
      // Inactive first: a leader keeps the WAL entries of a recently active follower for its
      // catch-up, and on a busy machine it then needed no snapshot.
      await waitFor(
        () => leader().status().progress?.[String(f2.id)]?.recentActive === false,
        "the stopped follower inactive at the leader",
      );
      // Enough compactions for the leader to let go of entries it may keep for f2's catch-up from
      // an earlier snapshot (catch-up.ts: inactive at INACTIVE_COMPACTIONS compactions in a row).
      await proposeRange(leader, 12_000, STEP4_ENTRIES);
      await waitFor(
        () => leader().status().snapshotIndex - CATCH_UP > f2Applied,
        "leader compacted past the stopped follower",
      );
      const restoresBefore = f2Sm.restores;
      const f2b = await start(f2.id, f2Sm);
      await converged("follower caught up by snapshot");
      const sent = (await sentByOthers()) - sentBefore;
      expect(sent, "the leader streamed a snapshot").toBeGreaterThanOrEqual(1);
      expect(await counterValue(f2b.metrics.snapshotsReceived, { result: "success" })).toBeGreaterThanOrEqual(
        1,
      );
      expect(await counterValue(f2b.metrics.snapshotsApplied)).toBeGreaterThanOrEqual(1);
      expect(f2Sm.restores).toBeGreaterThan(restoresBefore);

      // 5. Identical state machines.
      const dumps = IDS.map((id) => sms.get(id)!.dump());
      const applied = IDS.map((id) => sms.get(id)!.applied);
      expect(new Set(dumps).size).toBe(1);
      expect(new Set(applied).size).toBe(1);
      expect(sms.get(1)!.data.size).toBe(12_000 + STEP4_ENTRIES);
      for (let i = 0; i < 12_000 + STEP4_ENTRIES; i += 997)
        expect(sms.get(1)!.data.get(`key-${i}`)).toBe(`value-${i}`);
      for (const id of IDS) {
        const dir = join(root.path, `n${id}`);
        expect((await readdir(join(dir, "wal"))).some((f) => f.endsWith(".wal"))).toBe(true);
        expect((await readdir(join(dir, "snap"))).some((f) => f.endsWith(".snap"))).toBe(true);
      }
      console.log(
        `${mode}: 10k entries in ${tReplicated - t0} ms; whole scenario ${Date.now() - t0} ms; applied ${applied[0]}`,
      );
    }, 120_000);
  });
}
