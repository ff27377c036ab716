/**
 * Reading what the cluster committed, after a run, straight from the nodes' WALs: the input of the
 * patch-history step and of the durability check, and a check of its own — Raft's Log Matching and
 * State Machine Safety say that every node that committed index i committed the same entry there.
 *
 * Each WAL directory is copied into a {@link MemFileSystem} and replayed there, so reading never
 * changes the data directories a failing run keeps (a replay may repair a torn tail).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { WAL } from "@tsraft/node";
import { MemFileSystem } from "@tsraft/node/testing";
import { type Entry, EntryType } from "@tsraft/raft/raftpb";
import type { CommittedWrite } from "../lincheck/patch.js";

/** One node's committed log, as its WAL has it. */
export interface NodeLog {
  readonly id: number;
  /** The commit index of its last HardState. */
  readonly commit: number;
  /** Its entries up to `commit` (after its newest snapshot, if the WAL was compacted). */
  readonly entries: readonly Entry[];
  /** Why its WAL could not be read, if it could not. */
  readonly error: string | undefined;
}

/** Replays the WAL under `<dataDir>/wal` without touching the directory. */
export async function readNodeLog(id: number, dataDir: string): Promise<NodeLog> {
  const disk = join(dataDir, "wal");
  const mem = new MemFileSystem();
  const dir = "/wal";
  try {
    await mem.mkdir(dir);
    for (const name of await readdir(disk)) {
      if (!name.endsWith(".wal")) continue;
      const bytes = await readFile(join(disk, name));
      const fh = await mem.open(`${dir}/${name}`, "create");
      await fh.write(bytes, 0, bytes.length, 0);
      await fh.close();
    }
    // From the beginning if the first segment is still there, else from the oldest snapshot marker.
    const markers = await WAL.readSnapshotMarkers(dir, { fs: mem });
    let lastError: unknown;
    for (const at of [{ index: 0, term: 0 }, ...markers]) {
      try {
        const wal = await WAL.open(dir, at, { fs: mem });
        const r = await wal.readAll();
        await wal.close();
        const commit = r.hardState.commit;
        return { id, commit, entries: r.entries.filter((e) => e.index <= commit), error: undefined };
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError ?? new Error("no WAL");
  } catch (e) {
    return { id, commit: 0, entries: [], error: e instanceof Error ? e.message : String(e) };
  }
}

/** The proposal envelope of @tsraft/node's RaftNode (raftnode/envelope.ts): 0x01, uvarints node, nonce, seq. */
function unwrapProposal(data: Uint8Array): { requestId: string; payload: Uint8Array } | undefined {
  if (data[0] !== 0x01) return undefined;
  let p = 1;
  const uvarint = (): number | undefined => {
    let v = 0;
    let mul = 1;
    while (p < data.length) {
      const b = data[p++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    return undefined;
  };
  const node = uvarint();
  const nonce = uvarint();
  const seq = uvarint();
  if (node === undefined || nonce === undefined || seq === undefined) return undefined;
  return { requestId: `${node}/${nonce}/${seq}`, payload: data.subarray(p) };
}

/**
 * A KV command decoder (over the `decodeKvCommand` of @tsraft/kv), injected to keep this module
 * storage-only. `undefined` for a valid command that is not a single-key write (a transaction,
 * whose effect depends on its compares and is checked by the linearizability of its history; a
 * history compaction).
 */
export type CommandDecoder = (payload: Uint8Array) =>
  | {
      op: "put" | "delete";
      key: Uint8Array;
      value?: Uint8Array;
      prev?: Uint8Array;
    }
  | undefined;

/** The cluster's committed log, merged from every node's. */
export interface MergedLog {
  /** Every committed KV write, in index order. */
  readonly writes: readonly CommittedWrite[];
  /** The highest commit index any node reached. */
  readonly commit: number;
  /** Indexes where two nodes committed different entries (a safety violation), described. */
  readonly divergences: readonly string[];
  /** Request ids committed at more than one index (a request applied twice), described. */
  readonly duplicateRequests: readonly string[];
  /** Committed normal entries that are not KV commands, described. */
  readonly undecodable: readonly string[];
  /** Index ranges no node's WAL still holds (compacted everywhere): writes there are unknown. */
  readonly gaps: readonly string[];
  /**
   * Entries whose idempotency key an earlier entry (within the window) already applied: the state
   * machine answered them from its record and changed nothing, so they are not in `writes`.
   */
  readonly replays: number;
}

/** The idempotency envelope of @tsraft/kv (its `decodeIdempotent`) and its window, injected too. */
export interface IdempotencyDecoder {
  readonly unwrap: (payload: Uint8Array) => { key: Uint8Array; command: Uint8Array } | undefined;
  readonly window: number;
}

const utf8 = new TextDecoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Merges the nodes' committed logs, checking that they agree wherever they overlap. */
export function mergeCommittedLogs(
  logs: readonly NodeLog[],
  decode: CommandDecoder,
  idempotency?: IdempotencyDecoder,
): MergedLog {
  const at = new Map<number, { entry: Entry; from: number }>();
  const divergences: string[] = [];
  let commit = 0;
  for (const log of logs) {
    commit = Math.max(commit, log.commit);
    for (const e of log.entries) {
      const seen = at.get(e.index);
      if (seen === undefined) at.set(e.index, { entry: e, from: log.id });
      else if (
        seen.entry.term !== e.term ||
        seen.entry.type !== e.type ||
        !sameBytes(seen.entry.data, e.data)
      ) {
        divergences.push(
          `index ${e.index}: node ${seen.from} committed term ${seen.entry.term}, node ${log.id} term ${e.term}${
            seen.entry.term === e.term ? " with other data" : ""
          }`,
        );
      }
    }
  }
  const indexes = [...at.keys()].sort((a, b) => a - b);
  const gaps: string[] = [];
  let expect = 1;
  for (const i of indexes) {
    if (i > expect) gaps.push(`${expect}..${i - 1}`);
    expect = i + 1;
  }
  const writes: CommittedWrite[] = [];
  const requests = new Map<string, number>();
  const duplicateRequests: string[] = [];
  const undecodable: string[] = [];
  /** Idempotency keys (hex) and the index that applied them, as the state machine records them. */
  const keys = new Map<string, number>();
  let replays = 0;
  for (const i of indexes) {
    const e = at.get(i)!.entry;
    if (e.type !== EntryType.EntryNormal || e.data.length === 0) continue;
    const env = unwrapProposal(e.data);
    if (env === undefined) {
      undecodable.push(`index ${i}: not a proposal envelope`);
      continue;
    }
    const first = requests.get(env.requestId);
    if (first !== undefined) duplicateRequests.push(`request ${env.requestId} at indexes ${first} and ${i}`);
    else requests.set(env.requestId, i);
    let payload = env.payload;
    const keyed = idempotency?.unwrap(payload);
    if (keyed !== undefined) {
      const key = Buffer.from(keyed.key).toString("hex");
      const applied = keys.get(key);
      if (applied !== undefined && applied + idempotency!.window >= i) {
        replays++;
        continue;
      }
      keys.set(key, i);
      payload = keyed.command;
    }
    let cmd: ReturnType<CommandDecoder>;
    try {
      cmd = decode(payload);
    } catch (err) {
      undecodable.push(`index ${i}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (cmd === undefined) continue;
    writes.push({
      index: i,
      type: cmd.op,
      key: utf8.decode(cmd.key),
      value: cmd.op === "put" && cmd.value !== undefined ? utf8.decode(cmd.value) : null,
      prev: cmd.prev === undefined ? null : utf8.decode(cmd.prev),
    });
  }
  return { writes, commit, divergences, duplicateRequests, undecodable, gaps, replays };
}
