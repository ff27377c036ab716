/**
 * The Ready loop's ordering, proven on a slow disk: three nodes on an in-memory network, each with
 * a MemFileSystem whose fdatasync takes FSYNC_MS. One event log records, in order, every WAL write
 * (with its records decoded), every fdatasync start and end, and every transport send. Then:
 *
 * - the leader's MsgApp carrying a probe entry is sent before the leader's fdatasync of that entry
 *   completes (thesis §10.2.1: the leader writes in parallel with replication);
 * - each follower's MsgAppResp acknowledging the probe is sent only after its own fdatasync of it
 *   completed;
 * - no node sends a vote request, append or heartbeat of a term before that term is durable on it
 *   (in asyncStorageWrites mode too, where etcd's order would allow it);
 * - a write is followed by an fdatasync exactly when it must be (new entries, or a new term or
 *   vote): commit-only HardState writes (MustSync=false Readys) get none, and the number of
 *   fdatasyncs equals the number of writes that needed one.
 *
 * Run in both Advance and asyncStorageWrites modes.
 */
import { decodeHardState, type HardState, type Message, MessageType } from "@tsraft/raft/raftpb";
import { afterEach, describe, expect, it } from "vitest";
import { MapStateMachine, MemNetwork, sleep, waitFor, waitForLeader } from "../../test/raftnode/harness.js";
import { MemFileSystem, type MemFsOp } from "../mem-fs.js";
import { RecordType } from "../wal/record.js";
import { RaftNode } from "./raft-node.js";

const FSYNC_MS = 25;
const IDS = [1, 2, 3];

type Event =
  | { node: number; kind: "write"; records: { type: number; payload: Uint8Array }[] }
  | { node: number; kind: "fsync-start" | "fsync-end" }
  | { node: number; kind: "send"; msgs: readonly Message[] };

/** Splits a WAL write into its records (see the README's frame layout). */
function records(data: Uint8Array): { type: number; payload: Uint8Array }[] {
  const out: { type: number; payload: Uint8Array }[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let off = 0; off + 12 <= data.length; ) {
    const len = view.getUint32(off, true);
    out.push({ type: data[off + 12]!, payload: data.slice(off + 13, off + 12 + len) });
    off += ((12 + len) & ~7) + 8;
  }
  return out;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

let running: RaftNode[] = [];
afterEach(async () => {
  await Promise.all(running.map((n) => n.stop()));
  running = [];
});

for (const asyncStorageWrites of [false, true]) {
  describe(`Ready loop ordering (${asyncStorageWrites ? "asyncStorageWrites" : "Advance"} mode)`, () => {
    it("leader sends before its fsync completes, followers after theirs; MustSync=false skips the fsync", async () => {
      const events: Event[] = [];
      const net = new MemNetwork();
      net.onSend = (node, msgs) => {
        if (msgs.length > 0) events.push({ node, kind: "send", msgs });
      };
      const hook =
        (node: number) =>
        async (op: MemFsOp): Promise<void> => {
          if (!op.path.startsWith(`/n${node}/wal/`) || !op.path.endsWith(".wal")) return;
          if (op.kind === "write") {
            events.push({ node, kind: "write", records: records(op.data!) });
          } else if (op.kind === "datasync") {
            events.push({ node, kind: "fsync-start" });
            await sleep(FSYNC_MS);
            events.push({ node, kind: "fsync-end" });
          }
        };
      const peers = new Map(IDS.map((id) => [id, `ws://node-${id}`]));
      running = await Promise.all(
        IDS.map((id) =>
          RaftNode.start({
            id,
            clusterId: 1,
            peers,
            dataDir: `/n${id}`,
            stateMachine: new MapStateMachine(),
            fs: new MemFileSystem(hook(id)),
            transportFactory: net.factory,
            tickMs: 20,
            electionTick: 20, // 400 ms or more: several slow fsyncs fit in an election timeout
            asyncStorageWrites,
          }),
        ),
      );
      const leader = await waitForLeader(running);
      await leader.propose(new TextEncoder().encode("warm=up"));
      const probe = new TextEncoder().encode(`probe-${Math.random().toString(36).slice(2)}`);
      await leader.propose(probe);
      // Every node applies the probe, then everything in flight settles (heartbeats write nothing).
      await leader.linearizableRead();
      await waitFor(
        () => running.every((n) => n.status().applied === leader.status().applied),
        "all applied",
      );
      await sleep(8 * FSYNC_MS);
      const log = events.slice(); // before stop(): closing syncs the tail and would add fsyncs

      const isProbeApp = (m: Message) =>
        m.type === MessageType.MsgApp && m.entries.some((e) => contains(e.data, probe));
      const probeIndex = log
        .flatMap((e) => (e.kind === "send" ? e.msgs.filter(isProbeApp) : []))
        .flatMap((m) => m.entries.filter((x) => contains(x.data, probe)))[0]?.index;
      expect(probeIndex).toBeGreaterThan(0);
      const writeOf = (node: number) =>
        log.findIndex(
          (e) => e.node === node && e.kind === "write" && e.records.some((r) => contains(r.payload, probe)),
        );
      const fsyncEndAfter = (node: number, i: number) =>
        log.findIndex((e, k) => k > i && e.node === node && e.kind === "fsync-end");

      // Leader: the probe's MsgApp leaves before the leader's own fsync of it ends.
      const l = leader.id;
      const lWrite = writeOf(l);
      const lSynced = fsyncEndAfter(l, lWrite);
      const lSend = log.findIndex((e) => e.node === l && e.kind === "send" && e.msgs.some(isProbeApp));
      expect(lWrite).toBeGreaterThanOrEqual(0);
      expect(lSynced).toBeGreaterThan(lWrite);
      expect(lSend).toBeGreaterThanOrEqual(0);
      expect(lSend).toBeLessThan(lSynced);

      // Followers: the acknowledgement of the probe leaves only after their fsync of it ended.
      for (const f of IDS.filter((id) => id !== l)) {
        const fWrite = writeOf(f);
        const fSynced = fsyncEndAfter(f, fWrite);
        const fAck = log.findIndex(
          (e) =>
            e.node === f &&
            e.kind === "send" &&
            e.msgs.some((m) => m.type === MessageType.MsgAppResp && !m.reject && m.index >= probeIndex!),
        );
        expect(fWrite, `follower ${f} wrote the probe`).toBeGreaterThanOrEqual(0);
        expect(fSynced, `follower ${f} synced it`).toBeGreaterThan(fWrite);
        expect(fAck, `follower ${f} acknowledged it`).toBeGreaterThan(fSynced);
      }

      // MustSync: each write is followed by an fsync iff it holds entries or a new term/vote.
      for (const node of IDS) {
        const ops = log.filter((e) => e.node === node && e.kind !== "send" && e.kind !== "fsync-end");
        let prev: HardState = { term: 0, vote: 0, commit: 0 };
        let needed = 0;
        let commitOnly = 0;
        for (let i = 0; i < ops.length; i++) {
          const op = ops[i]!;
          if (op.kind !== "write") continue;
          let must = op.records.some((r) => r.type === RecordType.Entry);
          for (const r of op.records) {
            if (r.type !== RecordType.HardState) continue;
            const hs = decodeHardState(r.payload);
            if (hs.term !== prev.term || hs.vote !== prev.vote) must = true;
            prev = hs;
          }
          const synced = ops[i + 1]?.kind === "fsync-start";
          expect(synced, `node ${node} write #${i} fsynced iff it must be`).toBe(must);
          if (must) needed++;
          else commitOnly++;
        }
        expect(commitOnly, `node ${node} had commit-only (MustSync=false) writes`).toBeGreaterThan(0);
        expect(ops.filter((e) => e.kind === "fsync-start").length).toBe(needed);
      }

      // A node's term is on its disk before it speaks in that term: no vote request, append,
      // heartbeat or TimeoutNow of term T leaves a node before a HardState of term ≥ T was fsynced
      // there. (Otherwise a candidate could win T, crash, come back in T-1 and win T again with
      // different entries — in async mode etcd's own order allows it.)
      const speaks = new Set([
        MessageType.MsgVote,
        MessageType.MsgApp,
        MessageType.MsgHeartbeat,
        MessageType.MsgTimeoutNow,
        MessageType.MsgSnap,
      ]);
      let checked = 0;
      for (const node of IDS) {
        let written = 0; // highest term written (not yet known durable)
        let durable = 0;
        for (const e of log) {
          if (e.node !== node) continue;
          if (e.kind === "write") {
            for (const r of e.records) {
              if (r.type === RecordType.HardState)
                written = Math.max(written, decodeHardState(r.payload).term);
            }
          } else if (e.kind === "fsync-end") {
            durable = Math.max(durable, written);
          } else if (e.kind === "send") {
            for (const m of e.msgs) {
              if (!speaks.has(m.type)) continue;
              checked++;
              expect(
                m.term,
                `node ${node} sent ${MessageType[m.type]} of term ${m.term}`,
              ).toBeLessThanOrEqual(durable);
            }
          }
        }
      }
      expect(checked).toBeGreaterThan(0);
    });
  });
}
