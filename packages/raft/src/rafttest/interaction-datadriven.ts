import type { DatadrivenHandler } from "./datadriven.js";
import { InteractionEnv, type InteractionOpts } from "./interaction-env.js";

/**
 * A datadriven handler for one etcd interaction script: a fresh {@link InteractionEnv} whose
 * `handle` runs each directive. Call it once per file (state carries over between directives).
 */
export function interactionDatadrivenHandler(opts?: InteractionOpts): DatadrivenHandler {
  const env = new InteractionEnv(opts);
  return (d) => env.handle(d);
}
