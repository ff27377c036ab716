/**
 * Micro benchmarks of the core's building blocks on the leader's hot path: the quorum commit
 * index (run for every MsgAppResp), the raftpb codec of a MsgApp (what a transport does per
 * message), and Progress/Inflights flow control (per MsgApp sent and acknowledged).
 *
 * Each case runs a warm-up of a tenth of its operations untimed, then times `n` operations in
 * batches of {@link BATCH}; the latency percentiles are of the mean ns/op of each batch.
 */
import { Inflights, MajorityConfig, newRandom, Progress, ProgressState } from "@tsraft/raft";
import type { Entry, Message } from "@tsraft/raft/raftpb";
import { decodeMessage, EntryType, encodeMessage, MessageType, zeroMessage } from "@tsraft/raft/raftpb";
import type { BenchCase, BenchFamily, BenchResult } from "./lib.js";
import { findCase, measure, result, Samples } from "./lib.js";

/** Operations per latency sample. */
const BATCH = 1000;

/** One micro case: its parameters, default op count, and a factory for its operation. */
interface MicroCase extends BenchCase {
  readonly defaultN: number;
  /**
   * Builds the state and returns the operation: `op(i)` does the i-th operation and returns a
   * number folded into a sink, so that the work cannot be optimized away. `counters` describes the
   * work (sizes and the like).
   */
  readonly make: () => { op: (i: number) => number; counters: Record<string, number> };
}

/** A 128-byte payload (bytes 0..127), as in the core workload. */
function payload(): Uint8Array {
  const p = new Uint8Array(128);
  for (let i = 0; i < p.length; i++) p[i] = i;
  return p;
}

/** A MsgApp from leader 1 to 2 at term 7 carrying `k` 128-byte entries after index 1,000,000. */
function msgApp(k: number): Message {
  const data = payload();
  const entries: Entry[] = [];
  for (let i = 0; i < k; i++)
    entries.push({ term: 7, index: 1_000_001 + i, type: EntryType.EntryNormal, data });
  return Object.assign(zeroMessage(MessageType.MsgApp, 2, 1), {
    term: 7,
    logTerm: 7,
    index: 1_000_000,
    entries,
    commit: 999_990,
  });
}

function quorumCase(voters: number): MicroCase {
  return {
    id: `quorum-committed-${voters}v`,
    params: { op: "MajorityConfig.committedIndex", voters },
    defaultN: 10_000_000,
    make: () => {
      const ids: number[] = [];
      for (let id = 1; id <= voters; id++) ids.push(id);
      const c = new MajorityConfig(ids);
      // As etcd's BenchmarkMajorityConfig_CommittedIndex: a map of random acked indexes (seeded).
      const rnd = newRandom(42);
      const acked = new Map<number, number>();
      for (const id of ids) acked.set(id, Math.floor(rnd() * 1e9));
      const l = (id: number): number | undefined => acked.get(id);
      return {
        op: () => c.committedIndex(l),
        counters: { voters },
      };
    },
  };
}

/** Encoding or decoding a MsgApp of `k` entries of 128 bytes. */
function codecCase(op: "encode" | "decode", k: number): MicroCase {
  return {
    id: `raftpb-${op}-msgapp-${k}`,
    params: { op: `${op}Message`, type: "MsgApp", entries: k, payloadBytes: 128 },
    defaultN: k === 1 ? 3_000_000 : 200_000,
    make: () => {
      const bytes = encodeMessage(msgApp(k));
      if (op === "encode") {
        const m = msgApp(k);
        return { op: () => encodeMessage(m).length, counters: { encodedBytes: bytes.length } };
      }
      const back = decodeMessage(bytes);
      if (back.entries.length !== k || back.entries[k - 1]!.data.length !== 128) {
        throw new Error("decodeMessage did not round-trip the MsgApp");
      }
      return { op: () => decodeMessage(bytes).entries.length, counters: { encodedBytes: bytes.length } };
    },
  };
}

/**
 * Inflights in steady replication: one MsgApp added per operation, and the follower acknowledging
 * with a lag of `lag` messages (freeLE of the oldest), as a leader with `lag` appends in flight.
 */
function inflightsCase(lag: number): MicroCase {
  return {
    id: `inflights-add-free-lag${lag}`,
    params: { op: "Inflights.add+freeLE", size: 256, lag },
    defaultN: 10_000_000,
    make: () => {
      const inf = new Inflights(256, 0);
      let index = 0;
      return {
        op: () => {
          index++;
          if (inf.full()) throw new Error("inflights full");
          inf.add(index, 128);
          if (index > lag) inf.freeLE(index - lag);
          return inf.count();
        },
        counters: { size: 256, lag },
      };
    },
  };
}

/**
 * A follower's Progress in StateReplicate through the leader's per-message calls: isPaused,
 * sentEntries + sentCommit for a 1-entry MsgApp, then (with a lag of `lag` messages) maybeUpdate,
 * inflights.freeLE and canBumpCommit for its acknowledgement.
 */
function progressCase(lag: number): MicroCase {
  return {
    id: `progress-replicate-lag${lag}`,
    params: { op: "Progress send+ack", state: "StateReplicate", lag },
    defaultN: 10_000_000,
    make: () => {
      const pr = new Progress({ match: 0, next: 1, inflights: new Inflights(256, 0) });
      pr.becomeReplicate();
      if (pr.state !== ProgressState.StateReplicate) throw new Error("not replicating");
      let commit = 0;
      return {
        op: () => {
          if (pr.isPaused()) throw new Error("paused");
          pr.sentEntries(1, 128);
          pr.sentCommit(commit);
          const acked = pr.next - 1 - lag;
          if (acked > 0 && pr.maybeUpdate(acked)) {
            pr.inflights.freeLE(acked);
            commit = acked;
          }
          return pr.canBumpCommit(commit) ? 1 : 0;
        },
        counters: { lag },
      };
    },
  };
}

const CASES: readonly MicroCase[] = [
  quorumCase(1),
  quorumCase(3),
  quorumCase(5),
  quorumCase(7),
  codecCase("encode", 1),
  codecCase("encode", 64),
  codecCase("decode", 1),
  codecCase("decode", 64),
  inflightsCase(64),
  progressCase(64),
];

/** Keeps results alive so that the JIT cannot drop the work. */
let sink = 0;

async function run(caseId: string, opts: { n?: number | undefined }): Promise<BenchResult> {
  findCase(family, caseId);
  const mc = CASES.find((c) => c.id === caseId)!;
  const n = opts.n ?? mc.defaultN;
  const { op, counters } = mc.make();
  const warm = Math.ceil(n / 10);
  // The results are folded in int32 (`| 0`): a growing double sum would box a HeapNumber per op
  // unless the loop runs optimized, charging the harness's allocations to the case.
  for (let i = 0; i < warm; i++) sink = (sink + op(i)) | 0;
  const samples = new Samples(Math.ceil(n / BATCH) + 1);
  const m = await measure(() => {
    let s = 0;
    for (let i = 0; i < n; ) {
      const end = Math.min(n, i + BATCH);
      const t = performance.now();
      for (; i < end; i++) s = (s + op(warm + i)) | 0;
      samples.add((performance.now() - t) / BATCH);
    }
    sink = (sink + s) | 0;
  });
  if (sink === 0.5) console.log(sink); // never true: keeps `sink` observable
  return result(family.name, { id: mc.id, params: { ...mc.params, n } }, n, m, {
    counters,
    latency: samples.latency("ns", `mean ns/op over batches of ${BATCH} ops`, 1e6),
  });
}

/** The micro family: quorum, raftpb codec, Progress/Inflights. */
export const family: BenchFamily = {
  name: "micro",
  summary: "quorum committedIndex, raftpb MsgApp encode/decode, Progress/Inflights hot paths",
  cases: () => CASES.map((c) => ({ id: c.id, params: c.params })),
  run,
};
