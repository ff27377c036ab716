/**
 * The WAL checkpoint worker: the WAL stays bounded under a sustained load of large values, grows
 * while an image is read and shrinks back after; and (behind TSRAFT_KV_STALL=1) the measurement of
 * how long the event loop is blocked with SQLite's inline checkpoints and with the worker.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { ApplyEntry } from "@tsraft/raft";
import { describe, expect, it } from "vitest";
import { openSm, put, tempDir, useSqliteKit } from "../test/sqlite-kit.js";
import type { SqliteSnapshot } from "./sqlite-snapshot.js";
import { DB_FILE, type SqliteStateMachine, type SqliteStateMachineOptions } from "./sqlite-state-machine.js";
import type { CheckpointResult } from "./wal-checkpointer.js";

useSqliteKit();

const walSize = (dir: string) => {
  const p = join(dir, `${DB_FILE}-wal`);
  return existsSync(p) ? statSync(p).size : 0;
};

/**
 * Applies `count` puts of fresh keys with `valueBytes` values, `perTick` entries every `tickMs`
 * (a follower's apply batches), as the node does: one call at a time, awaiting each.
 */
async function load(
  sm: SqliteStateMachine,
  opts: {
    from: number;
    count: number;
    valueBytes: number;
    perTick: number;
    tickMs: number;
    onTick?: () => void;
  },
): Promise<number> {
  const value = Buffer.alloc(opts.valueBytes, 7);
  let i = opts.from;
  const end = opts.from + opts.count;
  const start = performance.now();
  let ticks = 0;
  while (i < end) {
    const batch: ApplyEntry[] = [];
    for (let k = 0; k < opts.perTick && i < end; k++, i++) {
      value.writeUInt32BE(i, 0);
      batch.push(put(i, `key-${String(i).padStart(10, "0")}`, value));
    }
    await sm.apply(batch);
    opts.onTick?.();
    ticks++;
    // Paced against the clock, so that a slow tick is caught up rather than lowering the rate.
    const due = start + ticks * opts.tickMs - performance.now();
    if (due > 0) await sleep(due);
  }
  return i;
}

describe("WAL checkpoints in a worker", () => {
  it("keep the WAL bounded under sustained 16 KiB writes: it is restarted and shrinks back, again and again", async () => {
    const dir = tempDir();
    const checkpoints: CheckpointResult[] = [];
    const threshold = 1024 * 1024;
    const sm = openSm(dir, { walCheckpointBytes: threshold, onCheckpoint: (r) => checkpoints.push(r) });
    let maxWal = 0;
    let last = 0;
    let shrinks = 0;
    // 1,500 entries × 16 KiB = 24 MiB, 24 times the threshold, in ~3 s.
    await load(sm, {
      from: 1,
      count: 1500,
      valueBytes: 16 * 1024,
      perTick: 5,
      tickMs: 10,
      onTick: () => {
        const size = walSize(dir);
        if (size < last) shrinks++;
        last = size;
        maxWal = Math.max(maxWal, size);
      },
    });
    expect(sm.appliedIndex()).toBe(1500);
    expect(checkpoints.some((c) => c.kind === "final" && c.restarted)).toBe(true);
    // How far past the threshold it gets depends on how long a checkpoint takes on this disk (writes
    // go on meanwhile); what must not happen is growth with the data written, as without restarts.
    expect(shrinks).toBeGreaterThanOrEqual(3);
    expect(maxWal).toBeLessThan(12 * threshold);
  });

  it("let the WAL grow while an image is read, and shrink it back after the release", async () => {
    const dir = tempDir();
    const threshold = 512 * 1024;
    const checkpoints: CheckpointResult[] = [];
    const sm = openSm(dir, { walCheckpointBytes: threshold, onCheckpoint: (r) => checkpoints.push(r) });
    // Less than the threshold before the image: no copy has run when the reader starts.
    let next = await load(sm, { from: 1, count: 10, valueBytes: 16 * 1024, perTick: 10, tickMs: 5 });
    const snap = (await sm.snapshot()) as SqliteSnapshot;
    await snap.pinned; // commits wait until the image worker holds its read transaction
    next = await load(sm, { from: next, count: 300, valueBytes: 16 * 1024, perTick: 10, tickMs: 5 });
    // ~4.7 MiB of values written while the reader holds its
    // snapshot, committed first (the state machine commits on a 100 ms timer; under load none of the
    // 300 entries had been): nothing of it could be copied or restarted.
    sm.commit();
    const pinned = walSize(dir);
    expect(pinned).toBeGreaterThan(4 * 1024 * 1024);
    // The commit starts a background copy, which the reader stops short.
    for (let i = 0; i < 2000 && !checkpoints.some((c) => c.kind === "background"); i++) await sleep(5);
    expect(checkpoints.some((c) => c.kind === "background" && c.checkpointed < c.log)).toBe(true);
    const atRelease = checkpoints.length;
    snap.release();
    // Writes go on; the worker copies everything and the next restart truncates the WAL.
    let shrunk = pinned;
    for (let round = 0; round < 200 && shrunk > 2 * threshold; round++) {
      next = await load(sm, { from: next, count: 5, valueBytes: 16 * 1024, perTick: 5, tickMs: 5 });
      await sleep(10);
      shrunk = walSize(dir);
    }
    expect(shrunk).toBeLessThanOrEqual(2 * threshold);
    // The grown WAL was copied in the background before the final round (which applying waits
    // for): a complete background copy comes before the first restart after the release.
    const after = checkpoints.slice(atRelease);
    const firstFinal = after.findIndex((c) => c.kind === "final");
    expect(firstFinal).toBeGreaterThan(0);
    expect(after.slice(0, firstFinal).some((c) => c.kind === "background" && c.checkpointed === c.log)).toBe(
      true,
    );
  });
});

const STALL = process.env.TSRAFT_KV_STALL === "1";

/**
 * The main thread's time on a CPU and waiting for one (Linux schedstat, ns), to tell a commit that
 * blocked in the kernel (I/O) from one that was only preempted on a busy machine.
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
function sched(): { cpu: number; runq: number } {
  if (!existsSync(SCHEDSTAT)) return { cpu: 0, runq: 0 };
  const [cpu, runq] = readFileSync(SCHEDSTAT, "utf8").split(" ").map(Number);
  return { cpu: cpu ?? 0, runq: runq ?? 0 };
}

/**
 * The figures of the commit that moved checkpoints to the worker: a store of TSRAFT_KV_STALL_MB
 * (default 300) MB of 16 KiB values, then TSRAFT_KV_STALL_S (default 20) seconds of fresh 16 KiB
 * writes at ~500/s, once with SQLite's inline checkpoints and once with the worker, on copies of
 * the same database; one JSON line each: the longest event-loop block (monitorEventLoopDelay),
 * its p99, the longest commit, and the largest WAL.
 */
describe.skipIf(!STALL)("event-loop blocking by checkpoints (TSRAFT_KV_STALL=1)", () => {
  it("inline vs worker", async () => {
    const mb = Number(process.env.TSRAFT_KV_STALL_MB ?? 300);
    const seconds = Number(process.env.TSRAFT_KV_STALL_S ?? 20);
    const base = tempDir();
    const src = openSm(base, { commitEntries: 2000 });
    const records = Math.ceil((mb * 1e6) / 16384);
    const next = await load(src, { from: 1, count: records, valueBytes: 16 * 1024, perTick: 500, tickMs: 0 });
    src.close();
    for (const mode of ["inline", "worker", "inline", "worker"] as const) {
      const dir = tempDir();
      copyFileSync(join(base, DB_FILE), join(dir, DB_FILE));
      // Written out before the timed phase: its first fsync must not flush the copy.
      const fd = openSync(join(dir, DB_FILE), "r");
      fsyncSync(fd);
      closeSync(fd);
      const checkpoints: CheckpointResult[] = [];
      const options: SqliteStateMachineOptions = {
        walCheckpoints: mode,
        onCheckpoint: (r) => checkpoints.push(r),
      };
      const sm = openSm(dir, options);
      const commitMs: number[] = [];
      /** Per commit: ms blocked (neither on a CPU nor waiting for one: I/O), on a CPU, waiting for a CPU. */
      const blockedMs: number[] = [];
      const cpuMs: number[] = [];
      const runqMs: number[] = [];
      const commit = sm.commit.bind(sm);
      sm.commit = () => {
        const s0 = sched();
        const t = performance.now();
        commit();
        const wall = performance.now() - t;
        const s1 = sched();
        const cpu = (s1.cpu - s0.cpu) / 1e6;
        const runq = (s1.runq - s0.runq) / 1e6;
        commitMs.push(wall);
        cpuMs.push(cpu);
        runqMs.push(runq);
        blockedMs.push(Math.max(0, wall - cpu - runq));
      };
      let maxWal = 0;
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const start = performance.now();
      const end = await load(sm, {
        from: next,
        count: seconds * 500,
        valueBytes: 16 * 1024,
        perTick: 5,
        tickMs: 10,
        onTick: () => {
          maxWal = Math.max(maxWal, walSize(dir));
        },
      });
      const wallS = (performance.now() - start) / 1000;
      h.disable();
      const sorted = [...commitMs].sort((a, b) => a - b);
      const r2 = (x: number) => Math.round(x * 100) / 100;
      console.log(
        JSON.stringify({
          test: "kv-checkpoint-stall",
          mode,
          storeMB: mb,
          seconds,
          writesPerSec: Math.round((end - next) / wallS),
          loopDelayMaxMs: r2(h.max / 1e6),
          loopDelayP99Ms: r2(h.percentile(99) / 1e6),
          loopDelayP999Ms: r2(h.percentile(99.9) / 1e6),
          commits: sorted.length,
          commitMaxMs: r2(sorted.at(-1) ?? 0),
          commitP99Ms: r2(sorted[Math.floor(sorted.length * 0.99)] ?? 0),
          commitsOver10ms: sorted.filter((x) => x > 10).length,
          commitBlockedMaxMs: r2(Math.max(0, ...blockedMs)),
          commitBlockedOver10ms: blockedMs.filter((x) => x > 10).length,
          commitCpuMaxMs: r2(Math.max(0, ...cpuMs)),
          commitRunqMaxMs: r2(Math.max(0, ...runqMs)),
          maxWalMiB: r2(maxWal / 1048576),
          workerCheckpoints: checkpoints.length,
          finalCheckpointMaxMs: r2(
            Math.max(0, ...checkpoints.filter((c) => c.kind === "final").map((c) => c.ms)),
          ),
        }),
      );
      sm.close();
      expect(end - next).toBe(seconds * 500);
    }
  }, 900_000);
});
