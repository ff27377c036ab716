/**
 * An opt-in, high-resolution event trace of the write path, for finding where a write's
 * milliseconds go across the processes of a cluster (bench/README.md, "Tracing a write").
 *
 * Off unless the environment variable `TSRAFT_TRACE` names a path prefix when the process starts;
 * then every {@link trace} call records `{ t, ev, ...fields }` in memory, `t` being microseconds of
 * the monotonic clock (`process.hrtime`, CLOCK_MONOTONIC: comparable between the processes of one
 * machine), and the process writes them as JSON lines to `<prefix>.<pid>.jsonl` when it exits.
 * When off, a call costs one boolean test at the call site (`if (tracing) trace(...)`).
 */
import { writeFileSync } from "node:fs";

const prefix = process.env.TSRAFT_TRACE;

/** True when `TSRAFT_TRACE` is set: guard every {@link trace} call with it. */
export const tracing: boolean = prefix !== undefined && prefix !== "";

/** Events kept at most (the oldest are dropped beyond): bounds the memory of a long run. */
const MAX_EVENTS = 2_000_000;

let events: string[] = [];
let dropped = 0;

/**
 * Records event `ev` now with `fields` (numbers or short strings). A no-op unless {@link tracing}.
 * Event names used by the node and the KV server: see bench/README.md, "Tracing a write".
 */
export function trace(ev: string, fields?: Readonly<Record<string, number | string | boolean>>): void {
  if (!tracing) return;
  const t = Number(process.hrtime.bigint() / 1000n);
  if (events.length >= MAX_EVENTS) {
    events = events.slice(MAX_EVENTS / 2);
    dropped += MAX_EVENTS / 2;
  }
  events.push(JSON.stringify(fields === undefined ? { t, ev } : { t, ev, ...fields }));
}

if (tracing) {
  process.on("exit", () => {
    const head = JSON.stringify({ t: 0, ev: "trace.meta", pid: process.pid, dropped });
    writeFileSync(`${prefix}.${process.pid}.jsonl`, `${[head, ...events].join("\n")}\n`);
  });
}
