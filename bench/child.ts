/**
 * Runs one case of one bench family once, in this process, and prints its result as one JSON line
 * on stdout (nothing else goes to stdout). `scripts/bench.mjs` starts one such process per case and
 * run, so JIT state and heap never carry over from one measurement to the next.
 *
 *   node --expose-gc bench/dist/child.js <family> <case> [--n N] [--dir DIR] [--duration S]
 *
 * `--list <family>` prints the family's cases instead, one JSON line each.
 */
import { lookup } from "./registry.js";

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "--list") {
    const family = await lookup(argv[1] ?? "").load();
    for (const c of family.cases()) process.stdout.write(`${JSON.stringify(c)}\n`);
    return;
  }
  const [name, caseId] = argv;
  if (name === undefined || caseId === undefined) throw new Error("usage: child.js <family> <case> [--n N]");
  const ni = argv.indexOf("--n");
  const n = ni >= 0 ? Number(argv[ni + 1]) : undefined;
  if (n !== undefined && !(Number.isSafeInteger(n) && n > 0)) throw new Error(`bad --n ${argv[ni + 1]}`);
  const di = argv.indexOf("--dir");
  const dir = di >= 0 ? argv[di + 1] : undefined;
  const si = argv.indexOf("--duration");
  const durationSec = si >= 0 ? Number(argv[si + 1]) : undefined;
  if (durationSec !== undefined && !(durationSec > 0)) throw new Error(`bad --duration ${argv[si + 1]}`);
  const family = await lookup(name).load();
  const r = await family.run(caseId, { n, dir, durationSec });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
