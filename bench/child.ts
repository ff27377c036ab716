/**
 * Runs one case of one bench family once, in this process, and prints its result as one JSON line
 * on stdout (nothing else goes to stdout). `scripts/bench.mjs` starts one such process per case and
 * run, so JIT state and heap never carry over from one measurement to the next. A streaming family
 * (the growth bench) prints its JSON lines as they come instead, the last one its summary.
 *
 *   node --expose-gc bench/dist/child.js <family> <case> [--n N] [--dir DIR] [--duration S] [--<own option> [V]]...
 *
 * `--list <family>` prints the family's cases instead, one JSON line each.
 */
import type { AnyFamily, RunOptions } from "./lib.js";
import { lookup } from "./registry.js";

/** Splits `argv` (after family and case) into the common options and the family's own. */
function parseRunOptions(family: AnyFamily, argv: readonly string[]): RunOptions {
  let n: number | undefined;
  let dir: string | undefined;
  let durationSec: number | undefined;
  const extra: Record<string, string | true> = {};
  const own = family.kind === "stream" ? family.options : [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--n") {
      const v = value();
      n = Number(v);
      if (!(Number.isSafeInteger(n) && n > 0)) throw new Error(`bad --n ${v}`);
    } else if (a === "--dir") dir = value();
    else if (a === "--duration") {
      const v = value();
      durationSec = Number(v);
      if (!(durationSec > 0)) throw new Error(`bad --duration ${v}`);
    } else {
      const opt = a.startsWith("--") ? own.find((o) => o.name === a.slice(2)) : undefined;
      if (opt === undefined) throw new Error(`${family.name}: unknown option ${a}`);
      extra[opt.name] = opt.takesValue ? value() : true;
    }
  }
  return { n, dir, durationSec, extra };
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "--list") {
    const family = await lookup(argv[1] ?? "").load();
    for (const c of family.cases()) process.stdout.write(`${JSON.stringify(c)}\n`);
    return;
  }
  const [name, caseId, ...rest] = argv;
  if (name === undefined || caseId === undefined) throw new Error("usage: child.js <family> <case> [--n N]");
  const family = await lookup(name).load();
  const opts = parseRunOptions(family, rest);
  if (family.kind === "stream") {
    await family.stream(caseId, opts, (line) => process.stdout.write(`${JSON.stringify(line)}\n`));
    return;
  }
  const r = await family.run(caseId, opts);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
