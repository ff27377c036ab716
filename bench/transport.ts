/**
 * The transport benchmark (issue 7, item 4): messages/s and MB/s between two nodes over ws, for
 * MsgApps of 1 and of 64 entries of 128 bytes and of 4 entries of 16 KiB (the KV's write path with
 * 16 KiB values, issues 13/14); and the CPU a snapshot transfer costs each side
 * (issue 13: a leader streaming a 5 GB image lost half its writes/s to it).
 *
 * Node 1 (this process) and node 2 (bench/transport-peer.ts, a process of its own, as a real peer)
 * run `@tsraft/node`'s Transport on 127.0.0.1, one ws connection between them. Node 1 replicates as
 * a Raft leader would under flow control: at most {@link WINDOW} MsgApps in flight (Raft's
 * maxInflightMsgs, 256 by default in etcd); node 2 answers each MsgApp with a MsgAppResp; every turn
 * of node 1's event loop in which acknowledgements arrived tops the window up with one `send` call,
 * as one Ready's messages. The loop is closed, so nothing should be dropped: the drops and refused
 * frames of both sides are counted and a run with any fails.
 *
 * Untimed first: the connection, and N/10 messages (JIT warm-up). Timed: N MsgApps, from the first
 * send to the last acknowledgement. One op = one MsgApp delivered to node 2's handler.
 * `cpuOpsPerSec` counts the CPU time of both processes; the latency is the MsgApp → MsgAppResp round
 * trip of every 64th message (with a full window, mostly the wait behind the messages before it).
 *
 * The snapshot cases: node 1 streams one MsgSnap with a synthetic image of N MiB (1 MiB pieces cut
 * from a pre-generated random buffer, so producing it costs nothing) through `Transport.sendSnapshot`;
 * node 2 stores it as a follower does (`Snapshotter.saveImage`, fdatasync every 64 MiB, in a fresh
 * directory under `--dir`) or reads and discards it. Untimed first: an image of N/10 MiB. Timed: from
 * `sendSnapshot` to the sender's `reportSnapshot(finish)` (node 2 has verified and stored the image
 * and acknowledged). One op = one MiB; the figures are MB/s and each process's CPU ms per MB.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createNodeMetrics, type SnapshotImageSource, Transport, type TransportHandler } from "@tsraft/node";
import type { Entry, Message } from "@tsraft/raft/raftpb";
import { EntryType, encodeMessage, MessageType, zeroMessage } from "@tsraft/raft/raftpb";
import { benchDir } from "./disk.js";
import type { BenchCase, BenchFamily, BenchResult, RunOptions } from "./lib.js";
import { findCase, latencyOf, measure, result, round3 } from "./lib.js";
import { counterSum, type PeerStats } from "./transport-peer.js";

/** MsgApps in flight at most (etcd's default MaxInflightMsgs). */
const WINDOW = 256;
/** Every SAMPLE-th message's round trip is timed. */
const SAMPLE = 64;
const MB = 1e6;
const PAYLOAD_BYTES = 128;

interface TransportCase extends BenchCase {
  readonly kind: "msgapp";
  readonly entries: number;
  /** Bytes of each entry's data. */
  readonly entryBytes: number;
  readonly defaultN: number;
}

interface SnapshotCase extends BenchCase {
  readonly kind: "snapshot";
  /** Where node 2 puts the image: saved as a follower does, or read and dropped. */
  readonly sink: "disk" | "discard";
  /** Image MiB (N) by default. */
  readonly defaultN: number;
}

const MiB = 1024 * 1024;
/** The synthetic image's pieces are cut from this much random data, round and round. */
const IMAGE_SOURCE_BYTES = 16 * MiB;

const CASES: readonly (TransportCase | SnapshotCase)[] = [
  {
    id: "msgapp-1x128B",
    kind: "msgapp",
    params: { op: "MsgApp over ws", entriesPerMsg: 1, entryBytes: PAYLOAD_BYTES, window: WINDOW },
    entries: 1,
    entryBytes: PAYLOAD_BYTES,
    defaultN: 300_000,
  },
  {
    id: "msgapp-64x128B",
    kind: "msgapp",
    params: { op: "MsgApp over ws", entriesPerMsg: 64, entryBytes: PAYLOAD_BYTES, window: WINDOW },
    entries: 64,
    entryBytes: PAYLOAD_BYTES,
    defaultN: 30_000,
  },
  {
    // The KV's write path with 16 KiB values (issues 13/14): a few entries per MsgApp.
    id: "msgapp-4x16KiB",
    kind: "msgapp",
    params: { op: "MsgApp over ws", entriesPerMsg: 4, entryBytes: 16 * 1024, window: WINDOW },
    entries: 4,
    entryBytes: 16 * 1024,
    defaultN: 30_000,
  },
  {
    id: "snapshot-256MiB-disk",
    kind: "snapshot",
    params: { op: "MsgSnap over ws, image saved (Snapshotter.saveImage)", pieceBytes: MiB },
    sink: "disk",
    defaultN: 256,
  },
  {
    id: "snapshot-256MiB-discard",
    kind: "snapshot",
    params: { op: "MsgSnap over ws, image read and dropped", pieceBytes: MiB },
    sink: "discard",
    defaultN: 256,
  },
];

/** A MsgApp from 1 to 2 at term 7 carrying entries (i·k, (i+1)·k] of `data`. */
function msgApp(i: number, k: number, data: Uint8Array): Message {
  const entries: Entry[] = new Array(k);
  const first = i * k + 1;
  for (let j = 0; j < k; j++) entries[j] = { term: 7, index: first + j, type: EntryType.EntryNormal, data };
  return Object.assign(zeroMessage(MessageType.MsgApp, 2, 1), {
    term: 7,
    logTerm: 7,
    index: first - 1,
    entries,
    commit: first - 1,
  });
}

/** The receiving process, with a request/response helper over IPC. */
class PeerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(leaderUrl: string, args: readonly string[] = []): Promise<PeerProcess> {
    const script = join(dirname(fileURLToPath(import.meta.url)), "transport-peer.js");
    // A CPU profile of the receiver too when the bench profiles (its own file name).
    const execArgv = process.execArgv.map((a) =>
      a.startsWith("--cpu-prof-name=") ? a.replace(/(\.cpuprofile)?$/, ".receiver.cpuprofile") : a,
    );
    const child = fork(script, [leaderUrl, ...args], {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.once("message", (m: { url?: string }) =>
        m.url ? resolve(m.url) : reject(new Error("no url from the peer")),
      );
      child.once("exit", (code) => reject(new Error(`transport peer exited with ${code}`)));
    });
    return new PeerProcess(child, url);
  }

  stats(): Promise<PeerStats> {
    return new Promise((resolve) => {
      const on = (m: { stats?: PeerStats }) => {
        if (m.stats === undefined) return;
        this.child.off("message", on);
        resolve(m.stats);
      };
      this.child.on("message", on);
      this.child.send({ cmd: "stats" });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.send({ cmd: "stop" });
    await exited;
  }
}

async function run(caseId: string, opts: RunOptions): Promise<BenchResult> {
  findCase(family, caseId);
  const c = CASES.find((x) => x.id === caseId)!;
  return c.kind === "snapshot" ? runSnapshot(c, opts) : runMsgApp(c, opts);
}

async function runMsgApp(c: TransportCase, opts: RunOptions): Promise<BenchResult> {
  const n = opts.n ?? c.defaultN;
  const k = c.entries;
  const data = new Uint8Array(c.entryBytes).map((_, i) => i);
  const warm = Math.ceil(n / 10);
  const total = warm + n;

  const metrics = createNodeMetrics();
  let acked = 0; // messages acknowledged (the acks come in order on the one connection)
  let sent = 0;
  let topUpScheduled = false;
  let goal = 0;
  let done: (() => void) | undefined;
  const sendTimes = new Float64Array(Math.ceil(total / SAMPLE) + 1);
  const rtts = new Float64Array(Math.ceil(n / SAMPLE) + 1);
  let rttCount = 0;

  const topUp = (): void => {
    topUpScheduled = false;
    const upTo = Math.min(goal, acked + WINDOW);
    if (sent >= upTo) return;
    const batch: Message[] = [];
    const now = performance.now();
    for (; sent < upTo; sent++) {
      if (sent % SAMPLE === 0) sendTimes[sent / SAMPLE] = now;
      batch.push(msgApp(sent, k, data));
    }
    a.send(batch);
  };
  const { a, peer } = await connectPair(metrics, {
    process: (m) => {
      if (m.type !== MessageType.MsgAppResp) return;
      const nowAcked = m.index / k;
      const now = performance.now();
      for (let i = acked; i < nowAcked; i++) {
        if (i % SAMPLE === 0 && i >= warm) rtts[rttCount++] = now - sendTimes[i / SAMPLE]!;
      }
      acked = nowAcked;
      if (acked >= goal) {
        done?.();
        return;
      }
      if (!topUpScheduled) {
        topUpScheduled = true;
        setImmediate(topUp);
      }
    },
    reportUnreachable: (id) => {
      throw new Error(`transport bench: peer ${id} reported unreachable`);
    },
    processSnapshot: () => Promise.reject(new Error("bench: no snapshots here")),
    reportSnapshot: () => {},
  });
  try {
    const phase = (to: number) =>
      new Promise<void>((resolve) => {
        goal = to;
        done = resolve;
        topUp();
      });
    await phase(warm);
    const cpu0 = await peer.stats();
    const m = await measure(() => phase(total));
    const cpu1 = await peer.stats();

    const dropped = (await counterSum(metrics, "messagesDropped")) + cpu1.dropped;
    const rejected = (await counterSum(metrics, "framesRejected")) + cpu1.rejected;
    if (cpu1.messages !== total) throw new Error(`node 2 received ${cpu1.messages} MsgApps, sent ${total}`);
    if (dropped + rejected > 0) throw new Error(`${dropped} messages dropped, ${rejected} frames refused`);

    const secs = m.wallMs / 1000;
    const receiverCpuMs = cpu1.cpuMs - cpu0.cpuMs;
    const entries = n * k;
    const wireBytes = encodeMessage(msgApp(n, k, data)).length;
    return result(
      family.name,
      { id: c.id, params: { ...c.params, n } },
      n,
      { ...m, cpuMs: m.cpuMs + receiverCpuMs },
      {
        counters: {
          messages: n,
          entries,
          payloadBytes: entries * c.entryBytes,
          msgBytes: wireBytes,
          dropped,
        },
        figures: {
          entriesPerSec: Math.round(entries / secs),
          payloadMBps: round3((entries * c.entryBytes) / MB / secs),
          msgMBps: round3((n * wireBytes) / MB / secs),
          senderCpuUsPerMsg: round3((m.cpuMs * 1000) / n),
          receiverCpuUsPerMsg: round3((receiverCpuMs * 1000) / n),
          receiverGcUsPerMsg: round3(((cpu1.gcMs - cpu0.gcMs) * 1000) / n),
        },
        latency: latencyOf(
          rtts.subarray(0, rttCount),
          "us",
          `MsgApp → MsgAppResp, every ${SAMPLE}th`,
          1e3,
          true,
        ),
        notes: ["cpuOpsPerSec: CPU time of both processes (sender + receiver)"],
      },
    );
  } finally {
    await peer.stop();
    await a.stop();
  }
}

/**
 * A synthetic image of `mib` MiB: 1 MiB views of `source`, round and round (the sender copies each
 * piece into its frames, so handing out the same bytes again is allowed).
 */
function syntheticImage(source: Uint8Array, mib: number): SnapshotImageSource {
  return {
    *read() {
      for (let i = 0; i < mib; i++) {
        const at = (i * MiB) % source.length;
        yield source.subarray(at, at + MiB);
      }
    },
    release() {},
  };
}

/** A MsgSnap from 1 to 2 at term 7 for the snapshot at `index` (its data: a little metadata). */
function msgSnap(index: number): Message {
  return Object.assign(zeroMessage(MessageType.MsgSnap, 2, 1), {
    term: 7,
    snapshot: {
      metadata: {
        index,
        term: 7,
        confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      },
      data: new Uint8Array(64).fill(1),
    },
  });
}

async function runSnapshot(c: SnapshotCase, opts: RunOptions): Promise<BenchResult> {
  const mib = opts.n ?? c.defaultN;
  const warmMib = Math.max(1, Math.ceil(mib / 10));
  const source = randomFillSync(new Uint8Array(Math.min(IMAGE_SOURCE_BYTES, mib * MiB)));
  const dir = c.sink === "disk" ? await benchDir("tsraft-bench-snap-", opts.dir) : undefined;

  const metrics = createNodeMetrics();
  let outcome: ((status: "finish" | "failure") => void) | undefined;
  const { a, peer } = await connectPair(
    metrics,
    {
      process: () => {},
      reportUnreachable: () => {},
      processSnapshot: () => Promise.reject(new Error("bench: node 1 takes no snapshots")),
      reportSnapshot: (_id, status) => outcome?.(status),
    },
    dir === undefined ? [] : ["--snap-dir", dir.path],
  );
  try {
    const transfer = (index: number, size: number) =>
      new Promise<void>((resolve, reject) => {
        outcome = (status) =>
          status === "finish" ? resolve() : reject(new Error(`snapshot at ${index} reported ${status}`));
        a.sendSnapshot(msgSnap(index), syntheticImage(source, size));
      });
    await transfer(100, warmMib);
    const cpu0 = await peer.stats();
    // How long the transfer holds node 1's event loop (Raft's ticks and appends wait that long).
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    const m = await measure(() => transfer(200, mib));
    loopDelay.disable();
    const cpu1 = await peer.stats();

    const bytes = mib * MiB;
    const rejected = (await counterSum(metrics, "framesRejected")) + cpu1.rejected;
    if (cpu1.snapshots !== 2 || cpu1.snapshotBytes - cpu0.snapshotBytes !== bytes) {
      throw new Error(
        `node 2 took ${cpu1.snapshots} snapshots, ${cpu1.snapshotBytes - cpu0.snapshotBytes} B`,
      );
    }
    if (rejected > 0) throw new Error(`${rejected} frames refused`);
    const receiverCpuMs = cpu1.cpuMs - cpu0.cpuMs;
    const mb = bytes / MB;
    return result(
      family.name,
      { id: c.id, params: { ...c.params, imageMiB: mib } },
      mib,
      { ...m, cpuMs: m.cpuMs + receiverCpuMs },
      {
        counters: { imageBytes: bytes, rejected },
        figures: {
          MBps: round3(mb / (m.wallMs / 1000)),
          senderCpuMsPerMB: round3(m.cpuMs / mb),
          receiverCpuMsPerMB: round3(receiverCpuMs / mb),
          receiverGcMsPerMB: round3((cpu1.gcMs - cpu0.gcMs) / mb),
        },
        latency: {
          unit: "ms",
          of: "node 1's event-loop delay during the transfer (monitorEventLoopDelay, 1 ms resolution)",
          samples: loopDelay.count,
          p50: round3(loopDelay.percentile(50) / 1e6),
          p90: round3(loopDelay.percentile(90) / 1e6),
          p99: round3(loopDelay.percentile(99) / 1e6),
          max: round3(loopDelay.max / 1e6),
        },
        notes: [
          "one op = one MiB of image; cpuOpsPerSec: CPU time of both processes (sender + receiver)",
          ...(dir === undefined ? [] : [`image saved in ${dir.path} on ${dir.fsType}`]),
        ],
      },
    );
  } finally {
    await peer.stop();
    await a.stop();
    await dir?.cleanup();
  }
}

/** The transport family: two nodes over ws. */
export const family: BenchFamily = {
  name: "transport",
  summary:
    "MsgApps/s and MB/s between two node processes over the ws Transport (closed loop, 256 in flight); " +
    "a snapshot's MB/s and CPU per MB on each side",
  cases: () => CASES.map((c) => ({ id: c.id, params: c.params })),
  run,
};

/**
 * Node 1's transport (`handler`, `metrics`) and node 2 in a process of its own (bench/transport-peer.ts,
 * with `peerArgs`), connected: the stream to node 2 is up. The caller stops both.
 */
async function connectPair(
  metrics: ReturnType<typeof createNodeMetrics>,
  handler: TransportHandler,
  peerArgs: string[] = [],
): Promise<{ a: Transport; peer: PeerProcess }> {
  const a = new Transport({ id: 1, clusterId: 0x7, listen: "ws://127.0.0.1:0", metrics, handler });
  await a.start();
  let peer: PeerProcess | undefined;
  try {
    peer = await PeerProcess.start(a.url!, peerArgs);
    a.addPeer(2, peer.url);
    while (!a.peers()[0]!.active) await new Promise((r) => setTimeout(r, 5));
    return { a, peer };
  } catch (err) {
    await peer?.stop();
    await a.stop();
    throw err;
  }
}
