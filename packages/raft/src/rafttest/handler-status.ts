import type { Progress } from "../tracker/index.js";
import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * `status <id>`: the node's view of its peers' progress, one `<id>: <progress>` line per peer in id
 * order (a leader's; other nodes track no progress and print nothing).
 */
export function handleStatus(env: InteractionEnv, d: TestData): void {
  status(env, firstAsNodeIdx(d));
}

/** See {@link InteractionEnv.status}. */
export function status(env: InteractionEnv, idx: number): void {
  const st = nodeAt(env, idx).rawNode.status();
  const ids = [...st.progress.keys()].sort((a, b) => a - b);
  for (const id of ids) env.output.writeString(`${id}: ${(st.progress.get(id) as Progress).toString()}\n`);
}
