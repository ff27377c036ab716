/**
 * A reader and runner for the datadriven test format of cockroachdb/datadriven, which etcd-io/raft's
 * conformance scripts use:
 *
 * ```
 * # comment
 * command arg1 key=value key=(v1, v2)
 * optional input lines
 * ----
 * expected output, up to the first blank line
 *
 * command-with-blank-lines-in-its-output
 * ----
 * ----
 * output that may contain blank lines
 * ----
 * ----
 * ```
 *
 * Pure: it works on strings; reading files is the caller's business.
 */

/** One argument of a directive: `key`, `key=value` or `key=(v1, v2, ...)`. */
export interface CmdArg {
  key: string;
  vals: string[];
}

/** One directive of a script. */
export interface TestData {
  /** `<source>:<line>` of the directive. */
  pos: string;
  cmd: string;
  cmdArgs: CmdArg[];
  /** The lines between the directive and `----`, trimmed. */
  input: string;
  /** The expected output, each line ending in `\n` ("" for none). */
  expected: string;
}

export class DatadrivenParseError extends Error {
  override name = "DatadrivenParseError";
}

/** Parses one directive line into its command and arguments (datadriven's `ParseLine`). */
export function parseLine(line: string): { cmd: string; cmdArgs: CmdArg[] } {
  let rest = line.trim();
  if (rest === "") return { cmd: "", cmdArgs: [] };
  const orig = rest;
  const fail = (): never => {
    const column = orig.length - rest.length + 1;
    throw new DatadrivenParseError(`cannot parse directive at column ${column}: ${orig}`);
  };
  const until = (chars: string): string => {
    let i = 0;
    while (i < rest.length && !chars.includes(rest[i] as string)) i++;
    const res = rest.slice(0, i);
    rest = rest.slice(i);
    return res;
  };
  const cmd = until(" ");
  if (cmd === "") fail();
  rest = rest.trim();
  const cmdArgs: CmdArg[] = [];
  while (rest !== "") {
    const key = until(" =");
    if (key === "") fail();
    const arg: CmdArg = { key, vals: [] };
    if (rest !== "" && rest[0] === "=") {
      rest = rest.slice(1);
      if (rest === "" || rest[0] === " ") {
        arg.vals = [""];
      } else if (rest[0] !== "(") {
        arg.vals = [until(" ")];
      } else {
        let pos = 1;
        let nest = 1;
        let start = pos;
        while (nest > 0) {
          if (pos === rest.length) fail();
          const ch = rest[pos++];
          if (ch === "," && nest === 1) {
            arg.vals.push(rest.slice(start, pos - 1));
            while (pos < rest.length && rest[pos] === " ") pos++;
            start = pos;
          } else if (ch === "(") {
            nest++;
          } else if (ch === ")") {
            nest--;
          }
        }
        arg.vals.push(rest.slice(start, pos - 1));
        rest = rest.slice(pos).trim();
      }
    }
    cmdArgs.push(arg);
    rest = rest.trim();
  }
  return { cmd, cmdArgs };
}

/** Splits a script into its directives, in order. */
export function parseTestData(text: string, source = "<string>"): TestData[] {
  return scan(text, source).map((s) => s.data);
}

/** A directive and where its parts sit in the script's lines (for rewriting). */
interface Scanned {
  data: TestData;
  /** Index of the first line after the directive and its input: the `----` line, if any. */
  sep: number;
  hasSep: boolean;
  /** Index of the first line after the expected-output section (its closing blank line included). */
  end: number;
}

function scan(text: string, source: string): Scanned[] {
  const lines = splitLines(text);
  let i = 0;
  const out: Scanned[] = [];
  const next = (): string | undefined => (i < lines.length ? lines[i++] : undefined);
  for (let raw = next(); raw !== undefined; raw = next()) {
    const lineNo = i;
    let line = raw.trim();
    if (line.startsWith("#")) continue;
    while (line.endsWith("\\") && i < lines.length) {
      line = `${line.slice(0, -1)} ${(next() as string).trim()}`;
    }
    const { cmd, cmdArgs } = parseLine(line);
    if (cmd === "") continue;
    const pos = `${source}:${lineNo}`;
    const input: string[] = [];
    let hasSep = false;
    for (let l = next(); l !== undefined; l = next()) {
      if (l === "----") {
        hasSep = true;
        break;
      }
      input.push(l);
    }
    const sep = hasSep ? i - 1 : i;
    const expected = hasSep ? readExpected() : "";
    out.push({
      data: {
        pos,
        cmd,
        cmdArgs,
        input: input
          .map((l) => `${l}\n`)
          .join("")
          .trim(),
        expected,
      },
      sep,
      hasSep,
      end: i,
    });
  }
  return out;

  function readExpected(): string {
    let buf = "";
    let line = next();
    if (line === "----") {
      // Blank lines allowed: read up to two successive "----" lines.
      for (let l = next(); l !== undefined; l = next()) {
        if (l === "----") {
          const l2 = next();
          if (l2 === "----") {
            const after = next();
            if (after !== undefined && after !== "") {
              throw new DatadrivenParseError(
                `${source}:${i}: non-blank line after end of double ---- separator section`,
              );
            }
            break;
          }
          buf += `${l}\n`;
          if (l2 !== undefined) buf += `${l2}\n`;
          continue;
        }
        buf += `${l}\n`;
      }
      return buf;
    }
    while (line !== undefined && line.trim() !== "") {
      buf += `${line}\n`;
      line = next();
    }
    return buf;
  }
}

/** Splits like Go's bufio.Scanner: on "\n", dropping a trailing "\r", no empty last line. */
function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/** A handler returns the output of one directive; it may throw (the failure is reported as such). */
export type DatadrivenHandler = (d: TestData) => string;

export interface DirectiveResult {
  data: TestData;
  actual: string;
  ok: boolean;
  /** Set if the handler threw. */
  error?: unknown;
}

export interface RunResult {
  source: string;
  cases: number;
  passed: number;
  results: DirectiveResult[];
  /** The script with every expected output replaced by the actual one (for REWRITE=1). */
  rewritten: string;
}

/**
 * Runs every directive of `text` through `handler` and compares outputs byte for byte, as datadriven
 * does (a non-empty output gets a trailing newline if it lacks one). Like datadriven, it stops at the
 * first directive whose handler throws: later directives would run on broken state.
 */
export function runTestData(text: string, handler: DatadrivenHandler, source = "<string>"): RunResult {
  const scanned = scan(text, source);
  const results: DirectiveResult[] = [];
  const outputs = new Map<TestData, string>();
  for (const { data: d } of scanned) {
    let actual: string;
    try {
      actual = handler(d);
    } catch (error) {
      results.push({ data: d, actual: "", ok: false, error });
      break;
    }
    if (actual !== "" && !actual.endsWith("\n")) actual += "\n";
    outputs.set(d, actual);
    results.push({ data: d, actual, ok: actual === d.expected });
  }
  const passed = results.filter((r) => r.ok).length;
  return { source, cases: scanned.length, passed, results, rewritten: rewrite(text, scanned, outputs) };
}

/** True if every directive of the run produced its expected output. */
export function runPassed(r: RunResult): boolean {
  return r.passed === r.cases;
}

/** A readable report of the first failing directive of a run ("" if it passed). */
export function describeFailure(r: RunResult): string {
  const bad = r.results.find((x) => !x.ok);
  if (bad === undefined) {
    return r.passed === r.cases ? "" : `${r.source}: only ${r.results.length} of ${r.cases} directives ran`;
  }
  const d = bad.data;
  const head = `${d.pos}: ${d.cmd}${d.cmdArgs.map((a) => ` ${formatArg(a)}`).join("")}`;
  if (bad.error !== undefined) {
    const e = bad.error;
    return `${head}\nhandler threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  }
  return `${head}\n${d.input ? `${d.input}\n` : ""}${unifiedDiff(d.expected, bad.actual)}`;
}

function formatArg(a: CmdArg): string {
  if (a.vals.length === 0) return a.key;
  if (a.vals.length === 1) return `${a.key}=${a.vals[0]}`;
  return `${a.key}=(${a.vals.join(", ")})`;
}

/** A line diff (expected `-`, actual `+`) good enough to read a mismatch. */
export function unifiedDiff(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  // LCS table; outputs are small (a few hundred lines at most).
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let x = n - 1; x >= 0; x--) {
    for (let y = m - 1; y >= 0; y--) {
      const row = lcs[x] as number[];
      row[y] =
        a[x] === b[y]
          ? (lcs[x + 1] as number[])[y + 1]! + 1
          : Math.max((lcs[x + 1] as number[])[y]!, row[y + 1]!);
    }
  }
  const out: string[] = [];
  let x = 0;
  let y = 0;
  while (x < n || y < m) {
    if (x < n && y < m && a[x] === b[y]) {
      out.push(`  ${a[x]}`);
      x++;
      y++;
    } else if (y < m && (x === n || (lcs[x] as number[])[y + 1]! >= (lcs[x + 1] as number[])[y]!)) {
      out.push(`+ ${b[y]}`);
      y++;
    } else {
      out.push(`- ${a[x]}`);
      x++;
    }
  }
  return out.join("\n");
}

/** Re-emits the script with each directive's output replaced (datadriven's rewrite mode). */
function rewrite(text: string, scanned: Scanned[], outputs: Map<TestData, string>): string {
  const lines = splitLines(text);
  let out = "";
  let at = 0;
  for (const s of scanned) {
    for (; at < s.sep; at++) out += `${lines[at]}\n`;
    const actual = outputs.get(s.data) ?? s.data.expected;
    // Like datadriven, a directive without a separator gets one once it has run.
    out += "----\n";
    if (/^[\t ]*\n/m.test(actual)) {
      out += `----\n${actual}----\n----\n\n`;
    } else {
      out += `${actual}\n`;
    }
    at = s.end;
    if (!s.hasSep) at = s.sep;
  }
  for (; at < lines.length; at++) out += `${lines[at]}\n`;
  // Remove a trailing blank line.
  if (out.endsWith("\n\n")) out = out.slice(0, -1);
  return out;
}
