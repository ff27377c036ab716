import type { TestData } from "./datadriven.js";
import { raftLog } from "./handler-raft-log.js";
import { firstAsNodeIdx, nodeAt, parseUint, scriptError } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `compact <id> <new-first-index>`: compacts the node's log storage, then prints the log. */
export function handleCompact(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  const arg = d.cmdArgs[1];
  if (arg === undefined) scriptError(d, "missing new first index");
  compact(env, idx, parseUint(arg.key));
}

/** See {@link InteractionEnv.compact}. */
export function compact(env: InteractionEnv, idx: number, newFirstIndex: number): void {
  nodeAt(env, idx).storage.compact(newFirstIndex);
  raftLog(env, idx);
}
