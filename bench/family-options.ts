/**
 * Reading a family's own command-line options ({@link RunOptions.extra}, `--gib 2` → `"2"`): the
 * growth and soak benches parse numbers and word lists the same way, with the same errors, and set
 * the load of their one runner (growth-run.ts) with the same three options.
 */
import type { FamilyOption, RunOptions } from "./lib.js";

/** Readers of `opts.extra` for family `family` (named in the errors). */
export interface FamilyOptionReader {
  /**
   * `--<name>` as a number, `dflt` when absent; throws `<family>: --<name> wants <what>, not <raw>`
   * when it is not a finite number or `ok` refuses it.
   */
  number(name: string, dflt: number, ok: (v: number) => boolean, what: string): number;
  /** `--<name>` split on white space (extra flags for a server, say); empty when absent. */
  words(name: string): string[];
}

/** The readers of {@link FamilyOptionReader} over `opts.extra`. */
export function familyOptions(family: string, opts: RunOptions): FamilyOptionReader {
  const x = opts.extra ?? {};
  return {
    number(name, dflt, ok, what) {
      const raw = x[name];
      if (raw === undefined) return dflt;
      const v = Number(raw);
      if (raw === true || !Number.isFinite(v) || !ok(v))
        throw new Error(`${family}: --${name} wants ${what}, not ${String(raw)}`);
      return v;
    },
    words(name) {
      const raw = x[name];
      return typeof raw === "string" ? raw.split(/\s+/).filter((w) => w !== "") : [];
    },
  };
}

/** The load growth-run.ts applies, as the growth and soak benches set it. */
export interface LoadSettings {
  readonly clients: number;
  readonly valueBytes: number;
  /** Seconds per reported window. */
  readonly windowSec: number;
}

/** A family's defaults for {@link LoadSettings} (every family reports 10 s windows by default). */
export type LoadDefaults = Pick<LoadSettings, "clients" | "valueBytes">;

/** The options `--clients`, `--value-bytes` and `--window`, with the family's defaults in their help. */
export function loadOptions(d: LoadDefaults): FamilyOption[] {
  return [
    { name: "clients", takesValue: true, help: `closed-loop clients (default ${d.clients})` },
    { name: "value-bytes", takesValue: true, help: `bytes per value (default ${d.valueBytes})` },
    { name: "window", takesValue: true, help: "seconds per reported window (default 10)" },
  ];
}

/** The {@link LoadSettings} the options of {@link loadOptions} give. */
export function loadSettings(r: FamilyOptionReader, d: LoadDefaults): LoadSettings {
  return {
    clients: r.number("clients", d.clients, (v) => Number.isSafeInteger(v) && v > 0, "a positive integer"),
    valueBytes: r.number(
      "value-bytes",
      d.valueBytes,
      (v) => Number.isSafeInteger(v) && v >= 64 && v <= 1 << 20,
      "64..1048576",
    ),
    windowSec: r.number("window", 10, (v) => v >= 0.5, "seconds ≥ 0.5"),
  };
}
