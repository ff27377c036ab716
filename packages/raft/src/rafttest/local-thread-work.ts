import { defaultEntryFormatter, describeMessage } from "../describe.js";
import type { Message } from "../raftpb/types.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * Runs the next MsgStorageAppend or MsgStorageApply of a node's queue `work` (asyncStorageWrites
 * mode), as etcd's append and apply threads do: prints it (without its responses), hands it to
 * `process`, prints the responses and queues them for delivery. Prints `none` if the queue is empty.
 */
export function runLocalThreadWork(
  env: InteractionEnv,
  work: Message[],
  none: string,
  process: (m: Message) => void,
): void {
  const m = work.shift();
  if (m === undefined) {
    env.output.writeString(none);
    return;
  }
  const resps = m.responses;
  env.output.writeString("Processing:\n");
  env.output.writeString(`${describeMessage({ ...m, responses: [] }, defaultEntryFormatter)}\n`);
  process(m);
  env.output.writeString("Responses:\n");
  for (const r of resps) env.output.writeString(`${describeMessage(r, defaultEntryFormatter)}\n`);
  env.messages.push(...resps);
}
