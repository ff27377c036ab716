/**
 * The CPU priority a restore builds its database at (restore-worker.ts): lower than the rest of the
 * node's, so that a follower building gigabytes yields the CPU to the writes of the members it
 * shares a machine with, and to its own event loop.
 */
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/**
 * Default nice value of the restore's thread: a tenth of a nice-0 thread's CPU share where both want
 * it (Linux's weights: 110 against 1024), so that a restore yields without starving.
 */
export const DEFAULT_RESTORE_NICE = 10;

/**
 * Lowers the calling thread's CPU priority to `nice` (never raises it) and returns the nice value it
 * runs at, or undefined where that cannot be known. Linux gives each thread a nice value of its own:
 * /proc/thread-self names this thread's id, which setpriority takes as a process id. Elsewhere the
 * call would lower the whole process, so it is not made.
 */
export function lowerThreadPriority(nice: number): number | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (nice > 0 && getPriority(tid) < nice) setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return undefined; // best effort: without /proc (some containers) a restore runs at full priority
  }
}
