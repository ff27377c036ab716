/**
 * `tsraft-kv backup` and `tsraft-kv restore`: the commands that do a job and exit, beside the
 * server. Exit codes: 0 done, 1 failed (one line on standard error for an operator's mistake or the
 * machine's condition, a stack for a bug: operator-error.ts), 2 usage error.
 */
import { describeError } from "./operator-error.js";

/** The subcommands `tsraft-kv` knows. */
export const SUBCOMMANDS = ["backup", "restore"] as const;

/** Runs subcommand `name` with `argv` (what follows it); resolves with the exit code. */
export async function runSubcommand(
  name: (typeof SUBCOMMANDS)[number],
  argv: readonly string[],
): Promise<number> {
  try {
    if (name === "backup") return await (await import("./backup-command.js")).runBackup(argv, process.env);
    return await (await import("./restore-command.js")).runRestore(argv);
  } catch (err) {
    process.stderr.write(`tsraft-kv ${name}: ${describeError(err)}\n`);
    return 1;
  }
}
