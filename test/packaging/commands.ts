/**
 * Child processes for the packaging test: commands run to completion (the test kit's runCommand),
 * and the environment a stranger's npm would see (none of the variables `pnpm test` sets for
 * its own scripts).
 */
import { existsSync } from "node:fs";
import type { CommandResult } from "@tsraft/testkit";

export { type CommandResult, runCommand } from "@tsraft/testkit";

/** A command's result as text for an assertion message. */
export function describeResult(what: string, r: CommandResult): string {
  return `${what} exited ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/**
 * The environment of a user's shell: this process's, less what pnpm sets for the scripts it runs
 * (`npm_package_*`, `npm_lifecycle_*`, its user agent and pnpm-only settings, which npm would warn
 * about or obey). A user's own npm settings (`npm_config_registry`, `npm_config_cache`, proxies)
 * stay. better-sqlite3 compiles from source where its prebuilt download is unreachable; node-gyp
 * then needs Node's headers, which Debian's nodejs puts under /usr/include/node.
 */
export function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_package_|npm_lifecycle_|pnpm_)/i.test(k)) continue;
    if (["npm_command", "npm_execpath", "npm_node_execpath", "npm_config_user_agent"].includes(k)) continue;
    if (k === "npm_config_verify_deps_before_run" || k === "INIT_CWD") continue;
    env[k] = v;
  }
  if (env.npm_config_nodedir === undefined && existsSync("/usr/include/node"))
    env.npm_config_nodedir = "/usr";
  env.npm_config_update_notifier = "false";
  env.COREPACK_ENABLE_DOWNLOAD_PROMPT = "0";
  return env;
}
