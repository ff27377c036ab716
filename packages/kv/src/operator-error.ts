/**
 * How `tsraft-kv` reports a failure to start or to run a command: an operator's mistake or a
 * condition of the machine (a data directory in use or of another node, a port taken, a missing
 * file, a corrupt WAL or image) is one line saying what and where, without a stack trace; anything
 * else is a bug, reported with its stack.
 */
import { isRaftNodeError, isWalError } from "@tsraft/node";
import { isImageError } from "./image-format.js";

/** System error codes that describe the machine or the command line, not a bug. */
const SYSTEM_CODES = new Set([
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EACCES",
  "EPERM",
  "ENOENT",
  "ENOTDIR",
  "EISDIR",
  "EEXIST",
  "ENOSPC",
  "EROFS",
  "ECONNREFUSED",
  "ENOTFOUND",
]);

/** True if `err` is an operator error (see the file comment): print its message alone. */
export function isOperatorError(err: unknown): boolean {
  if (isRaftNodeError(err) || isWalError(err) || isImageError(err)) return true;
  if (err instanceof OperatorError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && SYSTEM_CODES.has(code);
}

/** A failure the operator can act on, raised by the CLI's own commands (backup, restore...). */
export class OperatorError extends Error {
  override readonly name = "OperatorError";
}

/** The line (or, for a bug, the stack) `tsraft-kv` prints on standard error for `err`. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (isOperatorError(err)) return err.message;
  return err.stack ?? err.message;
}
