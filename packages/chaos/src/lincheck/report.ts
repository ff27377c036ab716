/**
 * Human-readable explanations of a linearizability verdict: for each partition that failed, where the
 * longest consistent prefix ends, the state there, and which operations could not go next and why.
 */
import type { CheckResult, PartitionResult } from "./checker.js";
import { ILLEGAL, type Model, type Operation, UNKNOWN_RETURN } from "./model.js";

/** Options of {@link describeResult}. */
export interface DescribeOptions {
  /** How many operations of the partial linearization to show before the point of failure (default 8). */
  readonly context?: number;
  /** Subtracted from every time shown (e.g. the run's start). Default: the partition's first call. */
  readonly timeOrigin?: number;
}

function fmtTime(t: number, origin: number): string {
  return t === UNKNOWN_RETURN ? "?" : (t - origin).toFixed(1);
}

function fmtOp<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>, origin: number): string {
  return `[client ${op.clientId} ${fmtTime(op.call, origin)}..${fmtTime(op.return, origin)}] ${model.describeOperation(op.input, op.output)}`;
}

/** Explains one partition's verdict; for `ok`, a single line. */
export function describePartition<S, I, O>(
  model: Model<S, I, O>,
  part: PartitionResult<I, O>,
  options: DescribeOptions = {},
): string {
  const ops = part.operations;
  const head = `partition ${JSON.stringify(part.name)}: ${part.outcome}, ${ops.length} operations, ${part.steps} steps, ${part.elapsedMs.toFixed(0)} ms`;
  if (part.outcome === "ok") return head;
  const origin = options.timeOrigin ?? Math.min(...ops.map((o) => o.call));
  const context = options.context ?? 8;
  const lines = [head];

  // Replay the longest partial linearization to recover the states along it.
  let state = model.init();
  const states: S[] = [];
  for (const i of part.linearization) {
    const op = ops[i]!;
    const after = model.step(state, op.input, op.output);
    if (after === ILLEGAL) throw new Error("describePartition: partial linearization does not replay");
    state = after;
    states.push(state);
  }
  const done = new Set(part.linearization);
  lines.push(
    `  longest consistent prefix: ${part.linearization.length}/${ops.length} operations, ending in state ${model.describeState(state)}`,
  );
  const from = Math.max(0, part.linearization.length - context);
  if (from > 0) lines.push(`  ... ${from} earlier operations`);
  for (let k = from; k < part.linearization.length; k++) {
    const op = ops[part.linearization[k]!]!;
    lines.push(`  ${fmtOp(model, op, origin)}   => ${model.describeState(states[k]!)}`);
  }

  // The frontier: pending operations that could go next (called before the earliest pending return).
  const pending = ops.map((_, i) => i).filter((i) => !done.has(i));
  const earliestReturn = Math.min(...pending.map((i) => ops[i]!.return));
  const frontier = pending
    .filter((i) => ops[i]!.call <= earliestReturn)
    .sort((a, b) => ops[a]!.call - ops[b]!.call);
  lines.push(
    `  then none of these can go next (each was called before the earliest pending return at ${fmtTime(earliestReturn, origin)}):`,
  );
  for (const i of frontier) {
    const op = ops[i]!;
    const ok = model.step(state, op.input, op.output) !== ILLEGAL;
    const why = ok ? "possible here, but leads to a dead end" : "impossible in this state";
    const mark = op.return === earliestReturn ? " (must come before the rest)" : "";
    lines.push(`  ${fmtOp(model, op, origin)}   ${why}${mark}`);
  }
  return lines.join("\n");
}

/** Explains a whole verdict: one summary line, then every partition that is not `ok`. */
export function describeResult<S, I, O>(
  model: Model<S, I, O>,
  result: CheckResult<I, O>,
  options: DescribeOptions = {},
): string {
  const counts = { ok: 0, illegal: 0, unknown: 0 };
  for (const p of result.partitions) counts[p.outcome]++;
  const ops = result.partitions.reduce((s, p) => s + p.operations.length, 0);
  const lines = [
    `linearizability: ${result.outcome} (${ops} operations, ${result.partitions.length} partitions: ${counts.ok} ok, ${counts.illegal} illegal, ${counts.unknown} unknown; ${result.elapsedMs.toFixed(0)} ms)`,
  ];
  for (const p of result.partitions) if (p.outcome !== "ok") lines.push(describePartition(model, p, options));
  return lines.join("\n");
}
