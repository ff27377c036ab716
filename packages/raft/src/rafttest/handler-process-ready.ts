import { defaultEntryFormatter, describeReady } from "../describe.js";
import { MessageType } from "../raftpb/types.js";
import { isLocalMsgTarget } from "../util.js";
import type { TestData } from "./datadriven.js";
import { processAppend } from "./handler-process-append-thread.js";
import { processApply } from "./handler-process-apply-thread.js";
import { forEachNamedNode, nodeAt } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * `process-ready <id>...`: handles one Ready on each node listed (with a `> <id> handling Ready`
 * header and indented output if more than one).
 */
export function handleProcessReady(env: InteractionEnv, d: TestData): void {
  forEachNamedNode(env, d, "handling Ready", processReady);
}

/**
 * See {@link InteractionEnv.processReady}. Prints the Ready, then does what a driver does: persists
 * the hard state, entries and snapshot and applies the committed entries (or, with
 * asyncStorageWrites, queues the MsgStorageAppend/MsgStorageApply for the append and apply
 * threads), queues the messages for delivery, and advances.
 */
export function processReady(env: InteractionEnv, idx: number): void {
  const n = nodeAt(env, idx);
  const rd = n.rawNode.ready();
  env.output.writeString(describeReady(rd, defaultEntryFormatter));
  const async = n.config.asyncStorageWrites === true;
  if (!async) {
    processAppend(n, rd.hardState, rd.entries, rd.snapshot);
    processApply(n, rd.committedEntries);
  }
  for (const m of rd.messages) {
    if (!isLocalMsgTarget(m.to)) {
      env.messages.push(m);
      continue;
    }
    if (!async) throw new Error("unexpected local msg target");
    switch (m.type) {
      case MessageType.MsgStorageAppend:
        n.appendWork.push(m);
        break;
      case MessageType.MsgStorageApply:
        n.applyWork.push(m);
        break;
      default:
        throw new Error(`unexpected message type ${MessageType[m.type] ?? m.type}`);
    }
  }
  if (!async) n.rawNode.advance(rd);
}
