import { setRandomizedElectionTimeout } from "../raw-node.js";
import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt, scanArgInt, scriptError } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * `set-randomized-election-timeout <id> timeout=<ticks>`: fixes the node's randomized election
 * timeout until its next state change re-randomizes it.
 */
export function handleSetRandomizedElectionTimeout(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  const timeout = scanArgInt(d, "timeout");
  if (timeout === 0) scriptError(d, "timeout must not be zero");
  const set = env.options.setRandomizedElectionTimeout ?? setRandomizedElectionTimeout;
  set(nodeAt(env, idx).rawNode, timeout);
}
