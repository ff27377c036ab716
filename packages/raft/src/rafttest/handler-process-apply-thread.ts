import { decodeConfChange, decodeConfChangeV2 } from "../raftpb/decode.js";
import { type ConfState, type Entry, EntryType, newSnapshot, type Snapshot } from "../raftpb/types.js";
import type { TestData } from "./datadriven.js";
import { forEachNamedNode, nodeAt } from "./interaction-args.js";
import type { InteractionEnv, Node } from "./interaction-env.js";
import { runLocalThreadWork } from "./local-thread-work.js";

/**
 * `process-apply-thread <id>...`: runs one MsgStorageApply of each node listed (asyncStorageWrites
 * mode): prints it, applies its entries, and queues its responses for delivery.
 */
export function handleProcessApplyThread(env: InteractionEnv, d: TestData): void {
  forEachNamedNode(env, d, "processing apply thread", processApplyThread);
}

/** See {@link InteractionEnv.processApplyThread}. */
export function processApplyThread(env: InteractionEnv, idx: number): void {
  const n = nodeAt(env, idx);
  runLocalThreadWork(env, n.applyWork, "no apply work to perform", (m) => processApply(n, m.entries));
}

/**
 * Applies committed entries to the node's state machine, which appends each entry's data (a
 * configuration change's context) to its state: one new history snapshot per entry. Configuration
 * changes are applied to the RawNode, whose resulting ConfState the snapshot records.
 */
export function processApply(n: Node, ents: readonly Entry[]): void {
  for (const ent of ents) {
    let update: Uint8Array;
    let cs: ConfState | undefined;
    switch (ent.type) {
      case EntryType.EntryConfChange: {
        const cc = decodeConfChange(ent.data);
        update = cc.context;
        cs = n.rawNode.applyConfChange(cc);
        break;
      }
      case EntryType.EntryConfChangeV2: {
        const cc = decodeConfChangeV2(ent.data);
        cs = n.rawNode.applyConfChange(cc);
        update = cc.context;
        break;
      }
      default:
        update = ent.data;
    }
    const last = n.history[n.history.length - 1] as Snapshot;
    const data = new Uint8Array(last.data.length + update.length);
    data.set(last.data);
    data.set(update, last.data.length);
    const snap = newSnapshot({
      data,
      metadata: { index: ent.index, term: ent.term, confState: cs ?? last.metadata.confState },
    });
    n.history.push(snap);
  }
}
