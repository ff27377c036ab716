import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `tick-election <id>`: ticks the node electionTick times (its randomized timeout may be longer). */
export function handleTickElection(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  tick(env, idx, nodeAt(env, idx).config.electionTick);
}

/** `tick-heartbeat <id>`: ticks the node heartbeatTick times. */
export function handleTickHeartbeat(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  tick(env, idx, nodeAt(env, idx).config.heartbeatTick);
}

/** See {@link InteractionEnv.tick}. */
export function tick(env: InteractionEnv, idx: number, num: number): void {
  const rn = nodeAt(env, idx).rawNode;
  for (let i = 0; i < num; i++) rn.tick();
}
