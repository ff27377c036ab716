/**
 * The CPU priority a restore builds its database at (restore-worker.ts): lower than the rest of the
 * node's, so that a follower building gigabytes yields the CPU to the writes of the members it
 * shares a machine with, and to its own event loop.
 */
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/**
 * Default nice value of the restore's thread: the lowest. Where a nice-0 thread wants the same CPU,
 * the build gets 1.5% of it (Linux's weights: 15 against 1024), otherwise all of it; an idle
 * machine restores as fast as before. Measured in the growth bench (three members on two vCPUs,
 * a 3.3 GB image; bench/README.md): the leader's writes/s while the follower built its database
 * 1.27-1.45 of the median at 19, 0.76-1.16 at 10, 0.82-1.11 before the build had a thread of its
 * own.
 */
export const DEFAULT_RESTORE_NICE = 19;

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
