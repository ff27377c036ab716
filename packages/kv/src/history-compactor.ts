/**
 * The leader's history compactor (etcd's auto-compaction, run as etcd does: only the leader
 * decides, and the compaction is a log entry every node applies at the same point, so every node
 * keeps the same history; mvcc-store.ts, "Compaction"). Two policies, either or both:
 *
 * - **entries** (`--history-entries N`): keep at least the last N revisions; compact once about 10%
 *   more have accumulated (so the history stays between N and 1.1 N revisions);
 * - **age** (`--history-age S`): keep the revisions of the last S seconds. The leader samples the
 *   store's revision once per interval and compacts up to the revision it had S seconds ago (a new
 *   leader waits S seconds before its first age compaction: it has no older samples).
 *
 * A compaction drops at most {@link MAX_COMPACT_STEP} revisions per entry (the next interval goes
 * on), so no single apply spends long deleting.
 */
import type { Logger } from "pino";
import type { KvNode, KvStore } from "./http.js";
import { encodeCompactCommand } from "./txn-command.js";

/** Revisions dropped by one compaction entry at most. */
export const MAX_COMPACT_STEP = 10_000;

/** Options of {@link startHistoryCompactor}. */
export interface HistoryCompactorOptions {
  readonly node: Pick<KvNode, "id" | "leader" | "propose">;
  readonly store: Pick<KvStore, "revision" | "compactRevision">;
  /** Revisions of history to keep at least (0: no count-based compaction). */
  readonly historyEntries: number;
  /** Milliseconds of history to keep (0: no age-based compaction). */
  readonly historyAgeMs: number;
  /** How often the leader looks (default 1 s). */
  readonly intervalMs?: number;
  readonly logger?: Logger;
}

/** A running compactor; `stop` ends it. */
export interface HistoryCompactor {
  stop(): void;
  /** The revision it would compact up to now, were this node the leader (tests, logs). */
  target(): number;
}

/** Starts the compactor: it compacts only while this node is the leader. */
export function startHistoryCompactor(o: HistoryCompactorOptions): HistoryCompactor {
  const intervalMs = o.intervalMs ?? 1000;
  const samples: { at: number; revision: number }[] = [];
  let inflight = false;

  const target = (): number => {
    const revision = o.store.revision();
    let to = 0;
    if (o.historyEntries > 0) {
      const excess = revision - o.historyEntries - o.store.compactRevision();
      if (excess >= Math.max(1, Math.floor(o.historyEntries / 10))) to = revision - o.historyEntries;
    }
    if (o.historyAgeMs > 0) {
      const cutoff = performance.now() - o.historyAgeMs;
      for (let i = samples.length - 1; i >= 0; i--) {
        if (samples[i]!.at <= cutoff) {
          to = Math.max(to, samples[i]!.revision);
          break;
        }
      }
    }
    return to;
  };

  const tick = (): void => {
    const now = performance.now();
    if (o.historyAgeMs > 0) {
      samples.push({ at: now, revision: o.store.revision() });
      // Keep one sample older than the cutoff: the one compaction goes up to.
      while (samples.length > 1 && samples[1]!.at <= now - o.historyAgeMs) samples.shift();
    }
    if (inflight || o.node.leader() !== o.node.id) return;
    const compact = o.store.compactRevision();
    const to = Math.min(target(), compact + MAX_COMPACT_STEP);
    if (to <= compact) return;
    inflight = true;
    o.node
      .propose(encodeCompactCommand(to), { timeoutMs: 5000 })
      .then(
        () => o.logger?.debug({ compactRevision: to }, "compacted the history"),
        (err: unknown) =>
          o.logger?.warn({ err, compactRevision: to }, "a history compaction failed; retrying"),
      )
      .finally(() => {
        inflight = false;
      });
  };

  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), target };
}
