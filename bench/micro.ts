/**
 * Micro benchmarks of the building blocks on a write's hot path: the quorum commit index (run for
 * every MsgAppResp), the raftpb codec of a MsgApp (what a transport does per message),
 * Progress/Inflights flow control (per MsgApp sent and acknowledged), and CRC-32C (per WAL record).
 *
 * Each case runs a warm-up of a tenth of its operations untimed, then times `n` operations in
 * batches of {@link BATCH}; the latency percentiles are of the mean ns/op of each batch. A case
 * with alternatives (the CRC-32C implementations, decoding with or without a copy) then times them
 * side by side in the same process: {@link ROUNDS} rounds of n/ROUNDS operations of each in turn,
 * so that drift on a shared machine hits them alike; figures `<name>NsPerOp` and `<name>Speedup`
 * (the baseline's time over the alternative's).
 */
import { crc32c } from "@tsraft/node";
import { crc32cImplementation, crc32cNative, crc32cSoftware } from "@tsraft/node/testing";
import { Inflights, MajorityConfig, newRandom, Progress, ProgressState } from "@tsraft/raft";
import type { Entry, Message } from "@tsraft/raft/raftpb";
import { decodeMessage, EntryType, encodeMessage, MessageType, zeroMessage } from "@tsraft/raft/raftpb";
import type { BenchCase, BenchFamily, BenchResult } from "./lib.js";
import { findCase, measure, result, round3, Samples } from "./lib.js";

/** Operations per latency sample. */
const BATCH = 1000;
/** Rounds of the side-by-side comparison of a case's alternatives. */
const ROUNDS = 10;

type Op = (i: number) => number;

/** What a micro case's factory builds. */
interface MicroOps {
  /**
   * The timed operation: `op(i)` does the i-th operation and returns a number folded into a sink,
   * so that the work cannot be optimized away.
   */
  readonly op: Op;
  /** The work done (sizes and the like). */
  readonly counters: Record<string, number>;
  /** Alternatives to time side by side, by name, each against `baseline` (one of the names). */
  readonly compare?: { readonly baseline: string; readonly ops: Readonly<Record<string, Op>> };
  readonly notes?: string[];
}

/** One micro case: its parameters, default op count, and a factory for its operation. */
interface MicroCase extends BenchCase {
  readonly defaultN: number;
  readonly make: () => MicroOps;
}

/** A payload of `size` bytes (0, 1, 2, ... mod 256); 128 bytes as in the core workload. */
function payload(size = 128): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < p.length; i++) p[i] = i;
  return p;
}

/** A MsgApp from leader 1 to 2 at term 7 carrying `k` entries of `size` bytes after index 1,000,000. */
function msgApp(k: number, size = 128): Message {
  const data = payload(size);
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

/**
 * Encoding or decoding a MsgApp of `k` entries of `size` bytes (128 unless named in the id). Decoding
 * times the default (a private copy of the input) and compares it with `aliasInput` (views into the
 * input, as the transport decodes its frames).
 */
function codecCase(op: "encode" | "decode", k: number, size = 128): MicroCase {
  const sizeName = size === 128 ? "" : `x${size % 1024 === 0 ? `${size / 1024}KiB` : `${size}B`}`;
  return {
    id: `raftpb-${op}-msgapp-${k}${sizeName}`,
    params: { op: `${op}Message`, type: "MsgApp", entries: k, payloadBytes: size },
    defaultN: Math.max(2_000, Math.min(k === 1 ? 3_000_000 : 200_000, Math.floor(2e9 / (k * size)))),
    make: () => {
      const bytes = encodeMessage(msgApp(k, size));
      if (op === "encode") {
        const m = msgApp(k, size);
        return { op: () => encodeMessage(m).length, counters: { encodedBytes: bytes.length } };
      }
      const alias = { aliasInput: true };
      for (const back of [decodeMessage(bytes), decodeMessage(bytes, alias)]) {
        if (back.entries.length !== k || back.entries[k - 1]!.data.length !== size) {
          throw new Error("decodeMessage did not round-trip the MsgApp");
        }
      }
      const copy: Op = () => decodeMessage(bytes).entries.length;
      return {
        op: copy,
        counters: { encodedBytes: bytes.length },
        compare: {
          baseline: "copy",
          ops: { copy, alias: () => decodeMessage(bytes, alias).entries.length },
        },
      };
    },
  };
}

/**
 * CRC-32C over `size` bytes at offset 1 of a buffer (as the WAL checksums a record's body inside its
 * write buffer): `crc32c` as the WAL calls it, compared with its JS tables and its native binding.
 */
function crcCase(size: number, name: string, defaultN: number): MicroCase {
  return {
    id: `crc32c-${name}`,
    params: { op: "crc32c", bytes: size, implementation: crc32cImplementation },
    defaultN,
    make: () => {
      const buf = payload(size + 8);
      const end = 1 + size;
      const want = crc32cSoftware(0, buf, 1, end);
      const ops: Record<string, Op> = {
        software: (i) => crc32cSoftware(i, buf, 1, end),
        crc32c: (i) => crc32c(i, buf, 1, end),
      };
      if (crc32cNative !== undefined) {
        const nat = crc32cNative;
        ops.native = (i) => nat(i, buf, 1, end);
      }
      for (const [name, f] of Object.entries(ops)) {
        if (f(0) !== want) throw new Error(`crc32c: ${name} disagrees with the JS tables`);
      }
      return {
        op: ops.crc32c!,
        counters: { bytes: size },
        compare: { baseline: "software", ops },
        notes: crc32cNative === undefined ? ["no native crc32c on this platform: software only"] : [],
      };
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
  codecCase("decode", 1, 16 * 1024),
  codecCase("decode", 8, 16 * 1024),
  inflightsCase(64),
  progressCase(64),
  crcCase(16, "16B", 5_000_000),
  crcCase(128, "128B", 2_000_000),
  crcCase(256, "256B", 1_000_000),
  crcCase(512, "512B", 1_000_000),
  crcCase(4096, "4KiB", 200_000),
  crcCase(16 * 1024, "16KiB", 50_000),
  crcCase(1024 * 1024, "1MiB", 1_000),
];

/** Keeps results alive so that the JIT cannot drop the work. */
let sink = 0;

async function run(caseId: string, opts: { n?: number | undefined }): Promise<BenchResult> {
  findCase(family, caseId);
  const mc = CASES.find((c) => c.id === caseId)!;
  const n = opts.n ?? mc.defaultN;
  const { op, counters, compare, notes } = mc.make();
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
  const figures = compare === undefined ? undefined : sideBySide(compare.ops, compare.baseline, n);
  if (sink === 0.5) console.log(sink); // never true: keeps `sink` observable
  return result(family.name, { id: mc.id, params: { ...mc.params, n } }, n, m, {
    counters,
    figures,
    latency: samples.latency("ns", `mean ns/op over batches of ${BATCH} ops`, 1e6),
    notes,
  });
}

/**
 * Times each of `ops` over `n` operations, in {@link ROUNDS} interleaved rounds after a warm-up of
 * n/10 each: ns/op per alternative, and the baseline's time over each other's.
 */
function sideBySide(ops: Readonly<Record<string, Op>>, baseline: string, n: number): Record<string, number> {
  const names = Object.keys(ops);
  const per = Math.max(1, Math.ceil(n / ROUNDS));
  const ms = new Map(names.map((name) => [name, 0]));
  for (const name of names) {
    const f = ops[name]!;
    for (let i = 0; i < Math.ceil(n / 10); i++) sink = (sink + f(i)) | 0;
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) {
      const f = ops[name]!;
      let s = 0;
      const t = performance.now();
      for (let i = 0; i < per; i++) s = (s + f(i)) | 0;
      ms.set(name, ms.get(name)! + performance.now() - t);
      sink = (sink + s) | 0;
    }
  }
  const nsPerOp = (name: string) => (ms.get(name)! * 1e6) / (per * ROUNDS);
  const figures: Record<string, number> = {};
  for (const name of names) figures[`${name}NsPerOp`] = round3(nsPerOp(name));
  for (const name of names) {
    if (name !== baseline) figures[`${name}Speedup`] = round3(nsPerOp(baseline) / nsPerOp(name));
  }
  return figures;
}

/** The micro family: quorum, raftpb codec, Progress/Inflights, CRC-32C. */
export const family: BenchFamily = {
  name: "micro",
  summary:
    "quorum committedIndex, raftpb MsgApp encode/decode (copy vs in place), Progress/Inflights hot paths, " +
    "CRC-32C (JS vs native)",
  cases: () => CASES.map((c) => ({ id: c.id, params: c.params })),
  run,
};
