/**
 * Reading a family's own command-line options ({@link RunOptions.extra}, `--gib 2` → `"2"`): the
 * growth and soak benches parse numbers and word lists the same way, with the same errors.
 */
import type { RunOptions } from "./lib.js";

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
