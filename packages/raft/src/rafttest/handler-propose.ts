import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt, scriptError, utf8Bytes } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `propose <id> <data>`: proposes a normal entry whose data is the (UTF-8) bytes of `<data>`. */
export function handlePropose(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  const arg = d.cmdArgs[1];
  if (d.cmdArgs.length !== 2 || arg === undefined || arg.vals.length > 0) {
    scriptError(d, "expected exactly one key with no vals");
  }
  propose(env, idx, utf8Bytes(arg.key));
}

/** See {@link InteractionEnv.propose}. */
export function propose(env: InteractionEnv, idx: number, data: Uint8Array): void {
  nodeAt(env, idx).rawNode.propose(data);
}
