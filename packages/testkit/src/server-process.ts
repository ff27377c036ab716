/**
 * The one launcher of server processes for the tests, the benchmarks and the chaos runner: a child
 * process with its recent output kept as lines (or appended to a log file), its exit awaited, and a
 * stop that escalates to SIGKILL. Every process started here is SIGKILLed when this process exits,
 * even on an error, so that no server outlives the run that started it (tsraft-kv's
 * `--exit-on-stdin-close` covers a runner that is itself killed: stdin is a pipe by default).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

/** How a process ended: `signal` when a signal ended it, else its exit `code`. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Options of {@link ServerProcess}. */
export interface ServerProcessOptions {
  /** The program (default: this Node binary). */
  readonly command?: string;
  readonly args: readonly string[];
  /** Its environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Its stdin: a pipe (default) it can watch for this process's end, or nothing. */
  readonly stdin?: "pipe" | "ignore";
  /** Append stdout and stderr to this file instead of keeping them as lines. */
  readonly logFile?: string;
  /**
   * Where the recent lines go: pass one array to several processes (the runs of one restartable
   * node) to keep their output together. Default: a fresh array.
   */
  readonly lines?: string[];
  /** How many recent lines `lines` keeps (default 100). */
  readonly keepLines?: number;
  /** Hears every line printed (stdout and stderr). */
  readonly onLine?: (line: string) => void;
}

/** A running (or exited) child process. */
export class ServerProcess {
  readonly child: ChildProcess;
  /** The last lines it printed, stdout and stderr interleaved (empty with `logFile`). */
  readonly output: string[];
  /** Resolves when it has exited. */
  readonly exited: Promise<ExitStatus>;
  #paused = false;

  constructor(o: ServerProcessOptions) {
    this.output = o.lines ?? [];
    const keep = o.keepLines ?? 100;
    let fd: number | undefined;
    if (o.logFile !== undefined) fd = openSync(o.logFile, "a");
    const out = fd ?? "pipe";
    try {
      this.child = spawn(o.command ?? process.execPath, o.args, {
        stdio: [o.stdin ?? "pipe", out, out],
        ...(o.env !== undefined ? { env: o.env } : {}),
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const child = this.child;
    live.add(child);
    const onData = (d: Buffer) => {
      for (const line of d.toString().split("\n")) {
        if (line === "") continue;
        this.output.push(line);
        if (this.output.length > keep) this.output.shift();
        o.onLine?.(line);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        live.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  /** Its process id (undefined if it could not be spawned). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until it exits. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** True while SIGSTOPped by {@link pause}. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Sends `signal` (SIGTERM: a graceful stop; SIGKILL: a crash) and waits for the exit; a process
   * still running after `ms` is SIGKILLed. A paused process is resumed first, so that it can act on
   * the signal.
   */
  async stop(signal: NodeJS.Signals = "SIGTERM", ms = 10_000): Promise<void> {
    if (!this.running) return;
    if (this.#paused) this.resume();
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), ms);
    await this.exited;
    clearTimeout(timer);
  }

  /** kill -9: the process gets no chance to clean up. */
  kill(): Promise<void> {
    return this.stop("SIGKILL");
  }

  /** SIGSTOP: the process freezes, its sockets stay open. */
  pause(): void {
    if (!this.running || this.#paused) return;
    this.child.kill("SIGSTOP");
    this.#paused = true;
  }

  /** SIGCONT. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.running) this.child.kill("SIGCONT");
  }
}
