import { describeMessage } from "../describe.js";
import { MessageType, newMessage } from "../raftpb/types.js";
import type { TestData } from "./datadriven.js";
import { nodeAt, nodeIdxs, scriptError } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * `send-snapshot <from> <to>`: queues a MsgSnap from `from` to `to` carrying `from`'s latest
 * state-machine snapshot, at `from`'s term, and prints it. It is delivered like any other message.
 */
export function handleSendSnapshot(env: InteractionEnv, d: TestData): void {
  const idxs = nodeIdxs(d);
  if (idxs.length !== 2) scriptError(d, `expected 2 node ids, got ${idxs.length}`);
  sendSnapshot(env, idxs[0] as number, idxs[1] as number);
}

/** See {@link InteractionEnv.sendSnapshot}. */
export function sendSnapshot(env: InteractionEnv, fromIdx: number, toIdx: number): void {
  const from = nodeAt(env, fromIdx);
  const snap = from.storage.snapshot();
  const m = newMessage({
    type: MessageType.MsgSnap,
    term: from.rawNode.basicStatus().term,
    from: fromIdx + 1,
    to: toIdx + 1,
    snapshot: snap,
  });
  env.messages.push(m);
  env.output.writeString(describeMessage(m));
}
