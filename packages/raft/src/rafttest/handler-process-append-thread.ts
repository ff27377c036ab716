import { defaultEntryFormatter, describeMessage } from "../describe.js";
import type { Entry, HardState, Snapshot } from "../raftpb/types.js";
import { newSnapshot } from "../raftpb/types.js";
import { isEmptyHardState, isEmptySnap } from "../raftpb/util.js";
import { cloneSnapshot } from "../storage.js";
import type { TestData } from "./datadriven.js";
import { InteractionError, nodeAt, nodeIdxs } from "./interaction-args.js";
import type { InteractionEnv, Node } from "./interaction-env.js";

/**
 * `process-append-thread <id>...`: runs one MsgStorageAppend of each node listed (asyncStorageWrites
 * mode): prints it, writes it to storage, and queues its responses for delivery.
 */
export function handleProcessAppendThread(env: InteractionEnv, d: TestData): void {
  const idxs = nodeIdxs(d);
  for (const idx of idxs) {
    if (idxs.length > 1) {
      env.output.writeString(`> ${idx + 1} processing append thread\n`);
      env.withIndent(() => processAppendThread(env, idx));
    } else {
      processAppendThread(env, idx);
    }
  }
}

/** See {@link InteractionEnv.processAppendThread}. */
export function processAppendThread(env: InteractionEnv, idx: number): void {
  const n = nodeAt(env, idx);
  const m = n.appendWork.shift();
  if (m === undefined) {
    env.output.writeString("no append work to perform");
    return;
  }
  const resps = m.responses;
  env.output.writeString("Processing:\n");
  env.output.writeString(`${describeMessage({ ...m, responses: [] }, defaultEntryFormatter)}\n`);
  const st: HardState = { term: m.term, vote: m.vote, commit: m.commit };
  const snap = m.snapshot !== undefined ? cloneSnapshot(m.snapshot) : newSnapshot();
  processAppend(n, st, m.entries, snap);
  env.output.writeString("Responses:\n");
  for (const r of resps) env.output.writeString(`${describeMessage(r, defaultEntryFormatter)}\n`);
  env.messages.push(...resps);
}

/**
 * Writes a Ready's (or a MsgStorageAppend's) state to the node's storage: the hard state if not
 * empty, then the snapshot if not empty (never together with entries), else the entries.
 */
export function processAppend(
  n: Node,
  st: HardState | undefined,
  ents: readonly Entry[],
  snap: Snapshot | undefined,
): void {
  // The order of these writes is not crash-safe (see etcd-io/etcd#10861); no crash is simulated.
  const s = n.storage;
  if (!isEmptyHardState(st)) s.setHardState(st as HardState);
  if (!isEmptySnap(snap)) {
    if (ents.length > 0) throw new InteractionError("can't apply snapshot and entries at the same time");
    s.applySnapshot(snap as Snapshot);
    return;
  }
  s.append(ents);
}
