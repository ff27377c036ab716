/**
 * forceNewCluster on a hand-written log (force-new-cluster.ts): three members bootstrapped, two
 * entries committed and two not. Forced, the node keeps exactly the committed entries, discards the
 * uncommitted ones (they never apply), removes the two other members in the WAL, elects itself and
 * takes writes; restarted without the option it finds the same one-member cluster. Refused on an
 * empty data directory (which gets no WAL) and together with join.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ConfChangeType, type Entry, EntryType, encodeConfChange } from "@tsraft/raft/raftpb";
import { freePorts } from "@tsraft/testkit";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MapStateMachine, tempDir, waitFor } from "../../test/raftnode/harness.js";
import { WAL } from "../wal/wal.js";
import { isRaftNodeError } from "./errors.js";
import { encodeWalMetadata } from "./metadata.js";
import { encodeConfChangeContext } from "./proposal.js";
import { RaftNode } from "./raft-node.js";

const enc = new TextEncoder();
const CLUSTER = 0x44;

describe("forceNewCluster", () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let peers: Map<number, string>;
  const running: RaftNode[] = [];
  const start = (
    dataDir: string,
    sm: MapStateMachine,
    extra: { forceNewCluster?: boolean; join?: boolean },
  ) =>
    RaftNode.start({
      id: 1,
      clusterId: CLUSTER,
      peers,
      dataDir,
      stateMachine: sm,
      tickMs: 20,
      electionTick: 10,
      logger: pino({ level: process.env.TSRAFT_LOG ?? "silent" }),
      ...extra,
    }).then((n) => {
      running.push(n);
      return n;
    });

  beforeAll(async () => {
    root = await tempDir("tsraft-fnc-");
    const ports = await freePorts(3);
    peers = new Map([1, 2, 3].map((id, i) => [id, `ws://127.0.0.1:${ports[i]}`]));
  });
  afterAll(async () => {
    await Promise.all(running.map((n) => n.stop()));
    await root.cleanup();
  });

  it("keeps the committed entries, drops the uncommitted ones, and leaves this node alone", async () => {
    const dataDir = join(root.path, "n1");
    const wal = await WAL.create(join(dataDir, "wal"), encodeWalMetadata(1, CLUSTER));
    const adds: Entry[] = [1, 2, 3].map((id) => ({
      term: 1,
      index: id,
      type: EntryType.EntryConfChange,
      data: encodeConfChange({
        id: 0,
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: encodeConfChangeContext({ url: peers.get(id)! }),
      }),
    }));
    const normal = (index: number, s: string): Entry => ({
      term: 2,
      index,
      type: EntryType.EntryNormal,
      data: enc.encode(s),
    });
    // Committed up to 5; 6 and 7 are only in this node's log.
    await wal.save(
      { term: 2, vote: 2, commit: 5 },
      [...adds, normal(4, "a=1"), normal(5, "b=2"), normal(6, "c=3"), normal(7, "d=4")],
      true,
    );
    await wal.close();

    const sm = new MapStateMachine();
    const node = await start(dataDir, sm, { forceNewCluster: true });
    await waitFor(() => node.leader() === 1, "the forced node to elect itself");
    expect(node.members().map((m) => m.id)).toEqual([1]);
    expect(Object.fromEntries(sm.data)).toEqual({ a: "1", b: "2" });
    expect(await node.propose(enc.encode("e=5"))).toMatch(/^e@/);
    expect(sm.data.has("c") || sm.data.has("d")).toBe(false);
    await node.stop();

    // Restarted without the option: the same one-member cluster, the same data.
    const sm2 = new MapStateMachine();
    const again = await start(dataDir, sm2, {});
    await waitFor(() => again.leader() === 1, "the restarted node to elect itself");
    expect(again.members().map((m) => m.id)).toEqual([1]);
    await again.linearizableRead();
    expect(Object.fromEntries(sm2.data)).toEqual({ a: "1", b: "2", e: "5" });
    await again.stop();
  });

  it("is refused on an empty data directory (no WAL is created) and with join", async () => {
    const empty = join(root.path, "empty");
    const err = await start(empty, new MapStateMachine(), { forceNewCluster: true }).catch((e: unknown) => e);
    expect(isRaftNodeError(err, "InvalidArgument"), String(err)).toBe(true);
    expect(String(err)).toMatch(/holds no log/);
    expect(existsSync(join(empty, "wal"))).toBe(false);
    const both = await start(empty, new MapStateMachine(), { forceNewCluster: true, join: true }).catch(
      (e: unknown) => e,
    );
    expect(String(both)).toMatch(/forceNewCluster and join exclude each other/);
  });
});
