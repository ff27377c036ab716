/**
 * Shrinking a failing case towards a minimal one (delta debugging over the schedule): cut the
 * schedule after the step that failed, turn options off, remove chunks of actions (halves, then
 * quarters, ... then single actions), and simplify the actions left. The candidates come lazily,
 * most aggressive first; the property-testing library keeps the first one that still fails and
 * asks again from there.
 */
import { NO_LIMIT } from "../../constants.js";
import type { Action, SimCase, SimOptions } from "./schedule.js";

/**
 * Smaller variants of `c`, most aggressive first. `failedAt` is the (1-based) step at which `c`
 * fails, if known: everything after it is dropped first.
 */
export function* shrinkCase(c: SimCase, failedAt?: number): Generator<SimCase> {
  const s = c.schedule;
  if (failedAt !== undefined && failedAt > 0 && failedAt < s.length) {
    yield { ...c, schedule: s.slice(0, failedAt) };
  }
  for (const options of simplerOptions(c.options)) yield { ...c, options };
  // Remove chunks, from half the schedule down to single actions (later chunks first: the end of
  // a schedule is more often irrelevant to a failure than its beginning).
  for (let size = highestPowerOfTwoBelow(s.length); size >= 1; size = Math.floor(size / 2)) {
    for (let end = s.length; end > 0; end -= size) {
      const start = Math.max(0, end - size);
      yield { ...c, schedule: [...s.slice(0, start), ...s.slice(end)] };
    }
  }
  for (let i = 0; i < s.length; i++) {
    for (const a of simplerActions(s[i]!)) {
      const schedule = s.slice();
      schedule[i] = a;
      yield { ...c, schedule };
    }
  }
}

function highestPowerOfTwoBelow(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return n <= 1 ? 0 : p;
}

/** The options with one feature turned off or one limit lifted. */
function* simplerOptions(o: SimOptions): Generator<SimOptions> {
  if (o.leaseReads) yield { ...o, leaseReads: false };
  if (o.checkQuorum && !o.leaseReads) yield { ...o, checkQuorum: false };
  if (o.preVote) yield { ...o, preVote: false };
  if (o.stepDownOnRemoval) yield { ...o, stepDownOnRemoval: false };
  if (o.maxInflightMsgs !== 256) yield { ...o, maxInflightMsgs: 256 };
  if (o.maxCommittedSizePerReady !== NO_LIMIT) yield { ...o, maxCommittedSizePerReady: NO_LIMIT };
  if (o.heartbeatTick !== 1) yield { ...o, heartbeatTick: 1 };
}

/** Simpler forms of one action: its numbers brought down to 0 or 1. */
function simplerActions(a: Action): Action[] {
  const down = (n: number): number[] => (n > 1 ? [0, 1] : n === 1 ? [0] : []);
  switch (a.kind) {
    case "deliver":
    case "drop":
    case "dup":
      return down(a.pick).map((pick) => ({ ...a, pick }));
    case "crash":
    case "crashLeader":
      return down(a.torn).map((torn) => ({ ...a, torn }));
    case "snapshot":
      return down(a.keep).map((keep) => ({ ...a, keep }));
    case "partition": {
      const out: Action[] = [];
      if (a.groups.length > 2) out.push({ ...a, groups: [a.groups[0]!, a.groups.slice(1).flat()] });
      if (a.hold === true) out.push({ kind: "partition", groups: a.groups });
      return out;
    }
    case "cut":
      return a.hold === true ? [{ kind: "cut", from: a.from, to: a.to }] : [];
    case "isolateLeader": {
      const out: Action[] = [];
      if (a.with !== undefined)
        out.push(a.hold === true ? { kind: "isolateLeader", hold: true } : { kind: "isolateLeader" });
      if (a.hold === true)
        out.push(a.with === undefined ? { kind: "isolateLeader" } : { kind: "isolateLeader", with: a.with });
      return out;
    }
    case "replay":
      return down(a.pick).map((pick) => ({ ...a, pick }));
    default:
      return [];
  }
}
