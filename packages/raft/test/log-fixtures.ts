/**
 * Shared fixtures for the unit tests of the log, the unstable log and storage: entry builders,
 * a recording logger, and helpers to catch what a call threw.
 */
import { expect } from "vitest";
import { newLog, type RaftLog } from "../src/log.js";
import { type Logger, RaftPanic } from "../src/logger.js";
import { type Entry, newEntry, newSnapshot, type Snapshot } from "../src/raftpb/types.js";
import { MemoryStorage } from "../src/storage.js";
import type { EntryID } from "../src/types.js";

/** fast-check's seed for these tests, and the run count (raised by FC_NUM_RUNS for long runs). */
export const SEED = 0x10c;
export { fcRuns as runs } from "../../../test/fc.js";

/** Entries at consecutive indexes from `first`, with the given terms. */
export function ents(first: number, ...terms: number[]): Entry[] {
  return terms.map((term, k) => newEntry({ index: first + k, term }));
}

/** Entries at consecutive indexes from `first` with terms from..to-1 (term = index when first = from). */
export function termRange(first: number, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let t = from; t < to; t++) out.push(newEntry({ index: first + t - from, term: t }));
  return out;
}

/** A snapshot at (index, term) with no data and an empty ConfState. */
export function snap(index: number, term: number): Snapshot {
  return newSnapshot({ metadata: { index, term } });
}

/** An EntryID, index first (as tables read best). */
export const id = (index: number, term: number): EntryID => ({ index, term });

/** A logger recording its lines as "LEVEL text". */
export function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (m: string) => {
    lines.push(`${level} ${m}`);
  };
  const logger: Logger = {
    debug: rec("DEBUG"),
    info: rec("INFO"),
    warn: rec("WARN"),
    error: rec("ERROR"),
    panic: rec("PANIC"),
  };
  return { logger, lines };
}

/** Returns what `fn` threw (or fails the test if it returned). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an exception");
}

/** Runs `fn`, expects a RaftPanic, and returns the panic lines logged. */
export function panicLines(fn: (logger: Logger) => unknown): string[] {
  const { logger, lines } = recorder();
  expect(thrown(() => fn(logger))).toBeInstanceOf(RaftPanic);
  return lines.filter((l) => l.startsWith("PANIC ")).map((l) => l.slice(6));
}

/** A log over a fresh MemoryStorage with `unstable` appended (all unstable). */
export function logWith(unstable: Entry[], logger: Logger = recorder().logger): RaftLog {
  const l = newLog(new MemoryStorage(), logger);
  l.append(unstable);
  return l;
}

/**
 * A log whose storage holds a snapshot at (snapIndex, snapTerm) and `stable`, with `unstable`
 * appended to the RaftLog.
 */
export function logOver(
  snapIndex: number,
  snapTerm: number,
  stable: Entry[],
  unstable: Entry[],
  logger?: Logger,
) {
  const storage = new MemoryStorage();
  storage.applySnapshot(snap(snapIndex, snapTerm));
  storage.append(stable);
  const l = newLog(storage, logger ?? recorder().logger);
  l.append(unstable);
  return { storage, l };
}
