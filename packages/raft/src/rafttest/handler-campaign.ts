import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `campaign <id>`: the node starts an election (pre-vote first if enabled). */
export function handleCampaign(env: InteractionEnv, d: TestData): void {
  campaign(env, firstAsNodeIdx(d));
}

/** See {@link InteractionEnv.campaign}. */
export function campaign(env: InteractionEnv, idx: number): void {
  nodeAt(env, idx).rawNode.campaign();
}
