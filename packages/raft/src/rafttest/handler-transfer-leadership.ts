import type { TestData } from "./datadriven.js";
import { nodeAt, scanArgInt, scriptError } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `transfer-leadership from=<id> to=<id>`: asks node `from` to hand leadership to `to`. */
export function handleTransferLeadership(env: InteractionEnv, d: TestData): void {
  const from = scanArgInt(d, "from");
  const to = scanArgInt(d, "to");
  if (from <= 0 || from > env.nodes.length) scriptError(d, 'expected valid "from" argument');
  if (to <= 0 || to > env.nodes.length) scriptError(d, 'expected valid "to" argument');
  transferLeadership(env, from, to);
}

/** See {@link InteractionEnv.transferLeadership}. */
export function transferLeadership(env: InteractionEnv, from: number, to: number): void {
  nodeAt(env, from - 1).rawNode.transferLeader(to);
}
