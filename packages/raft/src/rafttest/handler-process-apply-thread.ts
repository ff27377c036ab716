import { defaultEntryFormatter, describeMessage } from "../describe.js";
import { decodeConfChange, decodeConfChangeV2 } from "../raftpb/decode.js";
import { type ConfState, type Entry, EntryType, newSnapshot, type Snapshot } from "../raftpb/types.js";
import type { TestData } from "./datadriven.js";
import { nodeAt, nodeIdxs } from "./interaction-args.js";
import type { InteractionEnv, Node } from "./interaction-env.js";

/**
 * `process-apply-thread <id>...`: runs one MsgStorageApply of each node listed (asyncStorageWrites
 * mode): prints it, applies its entries, and queues its responses for delivery.
 */
export function handleProcessApplyThread(env: InteractionEnv, d: TestData): void {
  const idxs = nodeIdxs(d);
  for (const idx of idxs) {
    if (idxs.length > 1) {
      env.output.writeString(`> ${idx + 1} processing apply thread\n`);
      env.withIndent(() => processApplyThread(env, idx));
    } else {
      processApplyThread(env, idx);
    }
  }
}

/** See {@link InteractionEnv.processApplyThread}. */
export function processApplyThread(env: InteractionEnv, idx: number): void {
  const n = nodeAt(env, idx);
  const m = n.applyWork.shift();
  if (m === undefined) {
    env.output.writeString("no apply work to perform");
    return;
  }
  const resps = m.responses;
  env.output.writeString("Processing:\n");
  env.output.writeString(`${describeMessage({ ...m, responses: [] }, defaultEntryFormatter)}\n`);
  processApply(n, m.entries);
  env.output.writeString("Responses:\n");
  for (const r of resps) env.output.writeString(`${describeMessage(r, defaultEntryFormatter)}\n`);
  env.messages.push(...resps);
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
