/**
 * Child processes for the packaging test: run a command to completion without blocking the test
 * worker, and the environment a stranger's npm would see (none of the variables `pnpm test` sets for
 * its own scripts).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

/** What a finished command left: its exit status (null when killed) and its output. */
export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCommand}. */
export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGKILL) after this long: a guard against a hang, not a speed limit. */
  timeoutMs: number;
}

/** Runs `cmd args` to completion and resolves with its status and output (never rejects on exit codes). */
export function runCommand(cmd: string, args: string[], o: RunOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      err.push(Buffer.from(`\n[killed after ${o.timeoutMs} ms]\n`));
      p.kill("SIGKILL");
    }, o.timeoutMs);
    p.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once("close", (status) => {
      clearTimeout(timer);
      resolve({
        status,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

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
