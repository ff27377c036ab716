/**
 * Argument parsing for the interaction harness's commands, with Go's strconv rules (the corpus was
 * written against them), and the two ways a command fails.
 */
import { RaftError } from "../errors.js";
import { goQuoteString } from "../go-quote.js";
import type { CmdArg, TestData } from "./datadriven.js";
import type { InteractionEnv, Node } from "./interaction-env.js";

/**
 * An error a command reports in its output, as etcd's handlers return an `error`: the dispatcher
 * prints its message and the script goes on.
 */
export class InteractionError extends Error {
  override name = "InteractionError";
}

/**
 * A malformed script (etcd's `t.Fatal`): the run stops at this directive and the test fails. Not
 * caught by the dispatcher.
 */
export class InteractionScriptError extends Error {
  override name = "InteractionScriptError";
}

function fatal(d: TestData | undefined, msg: string): never {
  throw new InteractionScriptError(d === undefined ? msg : `${d.pos}: ${d.cmd}: ${msg}`);
}

/** Go's strconv.ParseUint(s, 10, 64), limited to safe integers; throws an error with Go's text. */
export function parseUint(s: string, fn = "ParseUint"): number {
  if (!/^[0-9]+$/.test(s))
    throw new InteractionError(`strconv.${fn}: parsing ${goQuoteString(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n))
    throw new InteractionError(`strconv.${fn}: parsing ${goQuoteString(s)}: value out of range`);
  return n;
}

/** Go's strconv.ParseInt(s, 10, 64) (an optional sign), limited to safe integers. */
export function parseInt64(s: string, fn = "ParseInt"): number {
  if (!/^[+-]?[0-9]+$/.test(s))
    throw new InteractionError(`strconv.${fn}: parsing ${goQuoteString(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n))
    throw new InteractionError(`strconv.${fn}: parsing ${goQuoteString(s)}: value out of range`);
  return n;
}

/** Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False. */
export function parseBool(s: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  throw new InteractionError(`strconv.ParseBool: parsing ${goQuoteString(s)}: invalid syntax`);
}

/** The i-th value of `arg` as a uint64 (datadriven's `arg.Scan(t, i, &u64)`); fatal if malformed. */
export function scanUint(d: TestData, arg: CmdArg, i: number): number {
  return scanWith(d, arg, i, parseUint);
}

/** The i-th value of `arg` as an int (datadriven's `arg.Scan(t, i, &int)`). */
export function scanInt(d: TestData, arg: CmdArg, i: number): number {
  return scanWith(d, arg, i, parseInt64);
}

/** The i-th value of `arg` as a bool (datadriven's `arg.Scan(t, i, &bool)`). */
export function scanBool(d: TestData, arg: CmdArg, i: number): boolean {
  return scanWith(d, arg, i, parseBool);
}

function scanWith<T>(d: TestData, arg: CmdArg, i: number, parse: (s: string) => T): T {
  const v = arg.vals[i];
  if (v === undefined) fatal(d, `cannot scan index ${i} of key ${arg.key}`);
  try {
    return parse(v);
  } catch (e) {
    return fatal(d, `${arg.key}: ${(e as Error).message}`);
  }
}

/** The single value of the argument `key` as a number (datadriven's `d.ScanArgs(t, key, &n)`). */
export function scanArgInt(d: TestData, key: string): number {
  const arg = d.cmdArgs.find((a) => a.key === key);
  if (arg === undefined) fatal(d, `missing argument: ${key}`);
  if (arg.vals.length !== 1) fatal(d, `${key}: expected one value, got ${arg.vals.length}`);
  return scanInt(d, arg, 0);
}

/** The first argument's key as an int (etcd's `firstAsInt`). */
export function firstAsInt(d: TestData): number {
  const first = d.cmdArgs[0];
  if (first === undefined) fatal(d, "missing first argument");
  try {
    return parseInt64(first.key, "Atoi");
  } catch (e) {
    return fatal(d, (e as Error).message);
  }
}

/** The first argument as a node index: the node id it names, minus one (etcd's `firstAsNodeIdx`). */
export function firstAsNodeIdx(d: TestData): number {
  return firstAsInt(d) - 1;
}

/**
 * Runs `f` for each node the command names; with more than one, each under a `> <id> <what>`
 * header with its output indented (etcd's process-ready and the storage threads' commands).
 */
export function forEachNamedNode(
  env: InteractionEnv,
  d: TestData,
  what: string,
  f: (env: InteractionEnv, idx: number) => void,
): void {
  const idxs = nodeIdxs(d);
  for (const idx of idxs) {
    if (idxs.length > 1) {
      env.output.writeString(`> ${idx + 1} ${what}\n`);
      env.withIndent(() => f(env, idx));
    } else {
      f(env, idx);
    }
  }
}

/** The node indexes named by the arguments without values (etcd's `nodeIdxs`); `k=v` args are skipped. */
export function nodeIdxs(d: TestData): number[] {
  const out: number[] = [];
  for (const arg of d.cmdArgs) {
    if (arg.vals.length !== 0) continue;
    try {
      out.push(parseInt64(arg.key, "Atoi") - 1);
    } catch (e) {
      fatal(d, (e as Error).message);
    }
  }
  return out;
}

/** Fails the script (etcd's `t.Fatalf`). */
export function scriptError(d: TestData, msg: string): never {
  return fatal(d, msg);
}

/** The UTF-8 bytes of `s` (the core's lib has no TextEncoder). */
export function utf8Bytes(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let c = ch.codePointAt(0) as number;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return new Uint8Array(out);
}

/** True for the errors etcd's handlers return (and print) rather than panic on. */
export function isReportable(e: unknown): e is Error {
  return e instanceof RaftError || e instanceof InteractionError;
}

/** The node at index `idx` (id `idx + 1`); a script naming a node that does not exist is broken. */
export function nodeAt(env: InteractionEnv, idx: number): Node {
  const n = env.nodes[idx];
  if (n === undefined)
    throw new InteractionScriptError(`no node with id ${idx + 1} (have ${env.nodes.length})`);
  return n;
}
