/**
 * The receiving node of the transport bench (bench/transport.ts), in a process of its own as a real
 * peer would be: node 2's Transport, answering every MsgApp from node 1 with a MsgAppResp for its
 * last index, as a Raft follower does, and taking every snapshot node 1 streams: with `--snap-dir
 * DIR` it stores the image as a follower does (`Snapshotter.saveImage` into DIR, behind the same
 * per-chunk async generator as RaftNode.receiveSnapshot), without it it reads and discards it.
 * Forked by the bench with node 1's URL; talks to it over IPC:
 *
 *   → {url}                         once listening (node 1 then adds it as a peer and dials)
 *   ← {cmd: "stats"}  → {stats}     process CPU time so far and what was received and dropped
 *   ← {cmd: "stop"}                 stops the transport and exits
 */
import { PerformanceObserver } from "node:perf_hooks";
import { createNodeMetrics, type NodeMetrics, Snapshotter, Transport } from "@tsraft/node";
import { type Message, MessageType, zeroMessage } from "@tsraft/raft/raftpb";

/** What the receiver reports to the bench. */
export interface PeerStats {
  cpuMs: number;
  messages: number;
  entries: number;
  payloadBytes: number;
  dropped: number;
  rejected: number;
  /** Snapshots taken (stored or discarded) and their image bytes. */
  snapshots: number;
  snapshotBytes: number;
  /** Time spent in garbage collections so far (perf_hooks 'gc' entries), ms. */
  gcMs: number;
}

/** The sum of a labelled counter's values. */
export async function counterSum(
  metrics: NodeMetrics,
  name: "messagesDropped" | "framesRejected",
): Promise<number> {
  return (await metrics[name].get()).values.reduce((a, v) => a + v.value, 0);
}

async function main(): Promise<void> {
  const leaderUrl = process.argv[2];
  if (leaderUrl === undefined || process.send === undefined) {
    throw new Error("transport-peer: run by bench/transport.ts (fork, with the leader's URL)");
  }
  const snapDirAt = process.argv.indexOf("--snap-dir");
  const snapshotter = snapDirAt > 0 ? new Snapshotter(process.argv[snapDirAt + 1]!) : undefined;
  const metrics = createNodeMetrics();
  /** What was received so far: the counters of {@link PeerStats}. */
  const got = { messages: 0, entries: 0, payloadBytes: 0, snapshots: 0, snapshotBytes: 0, gcMs: 0 };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) got.gcMs += e.duration;
  }).observe({ entryTypes: ["gc"] });
  const takeSnapshot = async (m: Message, image: AsyncIterable<Uint8Array>): Promise<void> => {
    const md = m.snapshot!.metadata;
    if (snapshotter === undefined) {
      for await (const chunk of image) got.snapshotBytes += chunk.length;
    } else {
      // RaftNode.receiveSnapshot's shape: a per-chunk check (the term, there) in an async generator.
      const chunks = (async function* () {
        for await (const chunk of image) {
          if (md.term !== m.term) throw new Error("bench: term changed");
          yield chunk;
        }
      })();
      got.snapshotBytes += (await snapshotter.saveImage(md.term, md.index, chunks)).size;
    }
    got.snapshots++;
  };
  // The answers of one turn of the event loop go out in one send call, as a Ready's messages would.
  let replies: Message[] = [];
  const flush = (): void => {
    const out = replies;
    replies = [];
    t.send(out);
  };
  const t: Transport = new Transport({
    id: 2,
    clusterId: 0x7,
    listen: "ws://127.0.0.1:0",
    peers: new Map([[1, leaderUrl]]),
    metrics,
    handler: {
      process: (m) => {
        if (m.type !== MessageType.MsgApp) return;
        got.messages++;
        got.entries += m.entries.length;
        for (const e of m.entries) got.payloadBytes += e.data.length;
        if (replies.length === 0) setImmediate(flush);
        replies.push(appResp(m));
      },
      reportUnreachable: () => {},
      processSnapshot: takeSnapshot,
      reportSnapshot: () => {},
    },
  });
  await t.start();
  process.on("message", (msg: { cmd: string }) => {
    if (msg.cmd === "stats") {
      void (async () => {
        const cpu = process.cpuUsage();
        const stats: PeerStats = {
          ...got,
          cpuMs: (cpu.user + cpu.system) / 1000,
          dropped: await counterSum(metrics, "messagesDropped"),
          rejected: await counterSum(metrics, "framesRejected"),
        };
        process.send!({ stats });
      })();
    } else if (msg.cmd === "stop") {
      void t.stop().then(() => process.exit(0));
    }
  });
  process.send({ url: t.url });
}

/** The follower's acknowledgement of `m`: it now holds everything up to m's last entry. */
function appResp(m: Message): Message {
  const last = m.entries.length > 0 ? m.entries[m.entries.length - 1]!.index : m.index;
  const r = zeroMessage(MessageType.MsgAppResp, m.from, m.to);
  r.term = m.term;
  r.index = last;
  return r;
}

if (process.argv[1]?.endsWith("transport-peer.js")) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
