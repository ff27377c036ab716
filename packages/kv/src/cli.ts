#!/usr/bin/env node
/**
 * `tsraft-kv`: runs one KV server process until SIGINT/SIGTERM (or, with `--exit-on-stdin-close`,
 * until standard input closes), then stops it cleanly; `tsraft-kv backup|restore` (subcommands.ts)
 * do their job and exit. Exit codes: 0 after a clean stop, 1 when
 * the server fails, 2 on a usage error.
 */
import { HELP, parseCliArgs } from "./config.js";
import { tuneHeapGrowth } from "./heap-growth.js";
import type { KvServer } from "./server.js";

/** Hard deadline for a clean stop; past it the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  const sub = process.argv[2];
  if (sub === "backup" || sub === "restore") {
    const { runSubcommand } = await import("./subcommands.js");
    process.exitCode = await runSubcommand(sub, process.argv.slice(3));
    return;
  }
  const parsed = parseCliArgs(process.argv.slice(2));
  if (parsed.kind === "help") {
    process.stdout.write(HELP);
    return;
  }
  if (parsed.kind === "error") {
    process.stderr.write(`tsraft-kv: ${parsed.message}\nRun tsraft-kv --help for the flags.\n`);
    process.exitCode = 2;
    return;
  }
  const config = parsed.config;
  tuneHeapGrowth();
  let server: KvServer | undefined;
  let exiting = false;
  const shutdown = (why: string, code = 0) => {
    if (exiting) {
      // A second signal: the operator insists.
      process.exit(1);
    }
    exiting = true;
    setTimeout(() => {
      process.stderr.write("tsraft-kv: clean stop took too long, exiting\n");
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    server?.logger.info({ why }, "shutting down");
    const done = server?.stop() ?? Promise.resolve();
    done.then(
      () => process.exit(code),
      (err: unknown) => {
        process.stderr.write(`tsraft-kv: error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  if (config.exitOnStdinClose) {
    process.stdin.on("end", () => shutdown("stdin closed"));
    process.stdin.on("error", () => shutdown("stdin closed"));
    process.stdin.resume();
  }
  try {
    // Loaded only now, so --help and usage errors answer without loading SQLite and the node.
    const { startKvServer } = await import("./server.js");
    server = await startKvServer(config);
    // SIGHUP re-reads the client certificates and tokens (they are also re-read when they change).
    const running = server;
    process.on("SIGHUP", () => running.reload("SIGHUP"));
    // The node stops by itself when it is removed from the cluster (exit 0) or fails (exit 1).
    let removed = false;
    server.node.on("removed", () => {
      removed = true;
    });
    server.node.on("stopped", (cause) => {
      if (exiting) return;
      if (!removed) server?.logger.error({ err: cause }, "the Raft node failed");
      shutdown(removed ? "removed from the cluster" : "node failed", removed ? 0 : 1);
    });
  } catch (err) {
    const { describeError } = await import("./operator-error.js");
    process.stderr.write(`tsraft-kv: ${describeError(err)}\n`);
    process.exit(1);
  }
  if (exiting) await server.stop().finally(() => process.exit(0));
}

void main();
