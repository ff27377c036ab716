import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `forget-leader <id>`: the follower forgets its leader (RawNode.forgetLeader). */
export function handleForgetLeader(env: InteractionEnv, d: TestData): void {
  forgetLeader(env, firstAsNodeIdx(d));
}

/** See {@link InteractionEnv.forgetLeader}. Like etcd's harness, an error of forgetLeader is ignored. */
export function forgetLeader(env: InteractionEnv, idx: number): void {
  nodeAt(env, idx).rawNode.forgetLeader();
}
