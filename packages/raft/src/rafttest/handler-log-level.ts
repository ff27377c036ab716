import type { TestData } from "./datadriven.js";
import { InteractionError, scriptError } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";
import { LOG_LEVEL_NAMES } from "./interaction-env-logger.js";

/**
 * `log-level <DEBUG|INFO|WARN|ERROR|FATAL|NONE>`: sets the lowest level of log lines printed; NONE
 * also silences the harness's own output (errors excepted).
 */
export function handleLogLevel(env: InteractionEnv, d: TestData): void {
  const arg = d.cmdArgs[0];
  if (arg === undefined) scriptError(d, "missing log level");
  logLevel(env, arg.key);
}

/** See {@link InteractionEnv.logLevel}. */
export function logLevel(env: InteractionEnv, name: string): void {
  const i = LOG_LEVEL_NAMES.findIndex((s) => s.toLowerCase() === name.toLowerCase());
  if (i < 0) throw new InteractionError(`log levels must be either of [${LOG_LEVEL_NAMES.join(" ")}]`);
  env.output.lvl = i;
}
