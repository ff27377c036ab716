/**
 * `tsraft-kv` nodes as real processes, for the multi-process tests, the cluster benchmarks and the
 * chaos runner: where the built CLI is, the command line of one node, and what `/status` answers.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ServerProcess, type ServerProcessOptions } from "./server-process.js";

/** The `tsraft-kv` entry point, packages/kv/dist/cli.js (built by `tsc -b`); from src/ or dist/ alike. */
export const KV_CLI = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "kv", "dist", "cli.js");

/** Why no node can start (the CLI is not built); undefined when one can. */
export function kvCliMissing(): string | undefined {
  return existsSync(KV_CLI) ? undefined : `${KV_CLI} not built (run tsc -b)`;
}

/** One node's identity and flags. */
export interface KvNodeSpec {
  readonly id: number;
  /** The client API's port on 127.0.0.1. */
  readonly httpPort: number;
  readonly dataDir: string;
  /** Every other flag (--cluster or --join, timing, log level...). */
  readonly args: readonly string[];
  /** Flags of node itself, before the script (a CPU profile). */
  readonly nodeFlags?: readonly string[];
}

/**
 * The node's command line (after the Node binary). With `--exit-on-stdin-close`: the node exits
 * when whoever started it does, even by SIGKILL (its stdin is a pipe from it).
 */
export function kvNodeArgs(s: KvNodeSpec): string[] {
  return [
    ...(s.nodeFlags ?? []),
    KV_CLI,
    "--id",
    String(s.id),
    "--port",
    String(s.httpPort),
    "--data-dir",
    s.dataDir,
    "--exit-on-stdin-close",
    ...s.args,
  ];
}

/** Starts one `tsraft-kv` node; `o` says where its output goes and in what environment. */
export function startKvNode(
  s: KvNodeSpec,
  o: Omit<ServerProcessOptions, "command" | "args" | "stdin"> = {},
): ServerProcess {
  return new ServerProcess({ ...o, args: kvNodeArgs(s) });
}

/** `/status` of a tsraft-kv node, as far as the tests and tools read it. */
export interface KvStatus {
  id: number;
  term: number;
  lead: number;
  state: string;
  commit: number;
  applied: number;
  /** The index of the last compaction or restored snapshot. */
  snapshotIndex: number;
  kv: { appliedIndex: number; revision: number; keys: number };
  members: { id: number; url: string; learner: boolean }[];
}
