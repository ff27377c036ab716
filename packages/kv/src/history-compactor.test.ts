/**
 * The leader's history compactor: only the leader proposes; the entries policy waits for 10% more
 * than it keeps, then compacts to keep exactly N; the age policy compacts to the revision of S
 * seconds ago; one compaction drops at most MAX_COMPACT_STEP revisions.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type HistoryCompactor, MAX_COMPACT_STEP, startHistoryCompactor } from "./history-compactor.js";
import type { ApplyResult } from "./sqlite-state-machine.js";
import { decodeKvCommand } from "./txn-command.js";

let running: HistoryCompactor | undefined;
afterEach(() => running?.stop());

/** A node whose proposals of compactions move the store's compact revision, as applying them would. */
function fake(leader: boolean) {
  const store = { rev: 0, compact: 0, revision: () => store.rev, compactRevision: () => store.compact };
  const proposed: number[] = [];
  const node = {
    id: 1,
    leader: () => (leader ? 1 : 2),
    propose: async (data: Uint8Array): Promise<ApplyResult> => {
      const cmd = decodeKvCommand(data);
      if (cmd.op !== "compact") throw new Error("not a compaction");
      proposed.push(cmd.revision);
      store.compact = Math.max(store.compact, Math.min(cmd.revision, store.rev));
      return { kind: "ok", revision: store.rev };
    },
  };
  return { store, node, proposed };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe("history compactor", () => {
  it("keeps N revisions, compacting once 10% more accumulated, only on the leader", async () => {
    const f = fake(true);
    running = startHistoryCompactor({ ...f, historyEntries: 1000, historyAgeMs: 0, intervalMs: 5 });
    f.store.rev = 1099;
    await new Promise((r) => setTimeout(r, 50));
    expect(f.proposed).toEqual([]);
    f.store.rev = 1100;
    await until(() => f.proposed.length > 0);
    expect(f.proposed).toEqual([100]);
    f.store.rev = 1150;
    await new Promise((r) => setTimeout(r, 50));
    expect(f.proposed).toEqual([100]);
    // Far behind: a step at a time.
    f.store.rev = 1000 + 100 + 2.5 * MAX_COMPACT_STEP;
    await until(() => f.store.compact === f.store.rev - 1000);
    expect(f.proposed.slice(1)).toEqual([
      100 + MAX_COMPACT_STEP,
      100 + 2 * MAX_COMPACT_STEP,
      100 + 2.5 * MAX_COMPACT_STEP,
    ]);
    running.stop();
    const follower = fake(false);
    running = startHistoryCompactor({ ...follower, historyEntries: 10, historyAgeMs: 0, intervalMs: 5 });
    follower.store.rev = 500;
    await new Promise((r) => setTimeout(r, 50));
    expect(follower.proposed).toEqual([]);
  });

  it("by age: compacts to the revision it saw that long ago", async () => {
    const f = fake(true);
    running = startHistoryCompactor({ ...f, historyEntries: 0, historyAgeMs: 100, intervalMs: 5 });
    f.store.rev = 40;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 130));
    f.store.rev = 90;
    await until(() => f.store.compact === 40);
    expect(f.store.compact).toBe(40);
    // Not before it had seen revision 40 for 100 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    await until(() => f.store.compact === 90);
    expect(f.proposed.every((r) => r <= 90)).toBe(true);
  });
});
