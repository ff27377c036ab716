import type { Entry, HardState, Snapshot } from "../raftpb/types.js";
import { newSnapshot } from "../raftpb/types.js";
import { isEmptyHardState, isEmptySnap } from "../raftpb/util.js";
import { cloneSnapshot } from "../storage.js";
import type { TestData } from "./datadriven.js";
import { forEachNamedNode, InteractionError, nodeAt } from "./interaction-args.js";
import type { InteractionEnv, Node } from "./interaction-env.js";
import { runLocalThreadWork } from "./local-thread-work.js";

/**
 * `process-append-thread <id>...`: runs one MsgStorageAppend of each node listed (asyncStorageWrites
 * mode): prints it, writes it to storage, and queues its responses for delivery.
 */
export function handleProcessAppendThread(env: InteractionEnv, d: TestData): void {
  forEachNamedNode(env, d, "processing append thread", processAppendThread);
}

/** See {@link InteractionEnv.processAppendThread}. */
export function processAppendThread(env: InteractionEnv, idx: number): void {
  const n = nodeAt(env, idx);
  runLocalThreadWork(env, n.appendWork, "no append work to perform", (m) => {
    const st: HardState = { term: m.term, vote: m.vote, commit: m.commit };
    const snap = m.snapshot !== undefined ? cloneSnapshot(m.snapshot) : newSnapshot();
    processAppend(n, st, m.entries, snap);
  });
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
