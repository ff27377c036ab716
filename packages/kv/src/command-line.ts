/**
 * What tsraft-kv's command lines share: strict flag parsing, and the run of a subcommand that does
 * one job (backup, restore) and prints its result as one JSON line.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

type FlagOptions = NonNullable<ParseArgsConfig["options"]>;
type StrictConfig<O extends FlagOptions> = {
  args: string[];
  strict: true;
  allowPositionals: true;
  options: O;
};

/** Parses `argv` strictly (an unknown flag or a missing value throws), positionals allowed. */
export function parseFlags<O extends FlagOptions>(
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<StrictConfig<O>>> {
  return parseArgs({ args: [...argv], strict: true, allowPositionals: true, options });
}

/**
 * Runs subcommand `name`: `parse` gives its options, "help" for --help (`help` is printed, exit 0),
 * or throws on a usage error (the reason and a pointer to --help on standard error, exit 2); then
 * `run`'s result is printed as one JSON line (exit 0). What `run` throws is the caller's to report.
 */
export async function runJsonCommand<O>(
  name: string,
  help: string,
  parse: () => O | "help",
  run: (o: O) => Promise<unknown>,
): Promise<number> {
  let o: O;
  try {
    const parsed = parse();
    if (parsed === "help") {
      process.stdout.write(help);
      return 0;
    }
    o = parsed;
  } catch (err) {
    process.stderr.write(`tsraft-kv ${name}: ${(err as Error).message}\nRun tsraft-kv ${name} --help.\n`);
    return 2;
  }
  process.stdout.write(`${JSON.stringify(await run(o))}\n`);
  return 0;
}
