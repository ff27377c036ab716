/**
 * Memory stays bounded by the configuration, not by what was ever written: a node that handled
 * ~190 MiB of proposals holds a few MiB of them (its MemoryStorage after compaction, batches in
 * flight). Before the stop signal was rewritten (channels.ts, StopSignal), every wait a loop raced
 * against the stop promise kept what it resolved with, and this held all of it.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DurableMapStateMachine, tempDir } from "../../test/raftnode/harness.js";
import { StopSignal } from "./channels.js";
import { RaftNode } from "./raft-node.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const MiB = 1024 * 1024;

let dir: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir("tsraft-memory-");
});
afterAll(() => dir.cleanup());

function arrayBuffersMiB(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers / MiB;
}

it("a StopSignal forgets a wait once it settles", async () => {
  const s = new StopSignal();
  for (let i = 0; i < 1000; i++) await s.race(Promise.resolve(new Uint8Array(1024)));
  expect((s as unknown as { waiting: Set<unknown> }).waiting.size).toBe(0);
  const pending = s.race(new Promise(() => {}));
  s.stop(new Error("stopped"));
  await expect(pending).rejects.toThrow("stopped");
  await expect(s.race(Promise.resolve(1))).rejects.toThrow("stopped");
});

const cases = [
  { name: "compacting by entry count", snapshotCount: 300, snapshotCatchUpEntries: 100 },
  // Entries of 64 KiB: etcd's count-only bounds would keep 10,000 + 5,000 of them (~940 MiB).
  {
    name: "compacting by bytes",
    snapshotCount: 10_000,
    snapshotCatchUpEntries: 5_000,
    snapshotBytes: 8 * MiB,
    snapshotCatchUpBytes: 8 * MiB,
  },
];

it.each(cases)(
  "a node's memory does not grow with what it handled ($name)",
  { timeout: 120_000 },
  async (c) => {
    const { name: _, ...limits } = c;
    const sm = new DurableMapStateMachine();
    const node = await RaftNode.start({
      id: 1,
      clusterId: 1,
      peers: new Map([[1, "ws://127.0.0.1:0"]]),
      dataDir: `${dir.path}/${c.name.replaceAll(" ", "-")}`,
      stateMachine: sm,
      ...limits,
    });
    try {
      while (!node.isLeader()) await new Promise((r) => setTimeout(r, 20));
      const before = arrayBuffersMiB();
      const value = "v".repeat(64 * 1024);
      let n = 0;
      // 3,000 proposals of 64 KiB (~190 MiB), 16 at a time, each key written once per 40.
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (n < 3000) {
            const i = n++;
            await node.propose(new TextEncoder().encode(`k${i % 40}=${value}`));
          }
        }),
      );
      expect(node.status().snapshotIndex).toBeGreaterThan(2500);
      const grown = arrayBuffersMiB() - before;
      // MemoryStorage keeps ≤ 400 entries or ≤ 16 MiB (~25 MiB) after compaction; the store, 40 keys.
      expect(grown).toBeLessThan(48);
    } finally {
      await node.stop();
    }
  },
);
