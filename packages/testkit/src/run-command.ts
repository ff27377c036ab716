/**
 * Running a command to its end (a CLI under test, a shell session, npm): its exit status and all it
 * printed, without blocking the test worker (no spawnSync) — the servers the test started keep
 * being served meanwhile.
 */
import { type ChildProcess, spawn } from "node:child_process";

/** What a finished command left: its exit status (null when a signal ended it) and its output. */
export interface CommandResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  readonly cwd?: string;
  /** Its environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** SIGKILL it after this long (noted on its stderr): a guard against a hang, not a speed limit. */
  readonly timeoutMs?: number;
  /** Start it in a process group of its own (its pid names the group, for killing all it started). */
  readonly detached?: boolean;
  /** Called once it is spawned (to sample its memory, to remember its group). */
  readonly onSpawn?: (p: ChildProcess) => void;
}

/**
 * Runs `command args` (stdin closed) to its end, once its output is closed too; never rejects on
 * an exit status, only if it cannot be spawned.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  o: RunCommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: o.env ?? process.env,
      ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
      ...(o.detached ? { detached: true } : {}),
    });
    o.onSpawn?.(p);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on("data", (d: Buffer) => out.push(d));
    p.stderr.on("data", (d: Buffer) => err.push(d));
    const timer =
      o.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
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
