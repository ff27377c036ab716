/**
 * fast-check settings shared by every property test: runs are fixed in CI and raised for long runs
 * with FC_NUM_RUNS; seeds are fixed per test so a failure reproduces (fast-check prints the seed
 * and the shrunk counterexample).
 */
export function fcRuns(n: number): number {
  const env = process.env.FC_NUM_RUNS;
  return env === undefined || env === "" ? n : Number(env);
}

/**
 * How long a failing property may spend shrinking its counterexample, in milliseconds: 10 s by
 * default (a broken core must fail a test run within seconds, not look like a hang: the properties
 * are synchronous, so vitest's timeout cannot stop them), `FC_SHRINK_MS` to change it,
 * `FC_SHRINK=full` for no limit.
 */
export function fcShrinkBudgetMs(): number {
  if (process.env.FC_SHRINK === "full") return Number.POSITIVE_INFINITY;
  const ms = Number(process.env.FC_SHRINK_MS ?? "");
  return Number.isFinite(ms) && ms > 0 ? ms : 10_000;
}

/**
 * Wraps a property's predicate so that shrinking stops after {@link fcShrinkBudgetMs}: once the
 * budget since the first failure is spent, every further candidate is reported as passing (without
 * running), so fast-check ends with the smallest counterexample found so far. `onFirstFailure` is
 * called at once with the first counterexample (print its replay line there); the seed and the
 * shrunk case come from fast-check's report as usual.
 */
export function boundedShrink<A extends unknown[], R>(
  predicate: (...args: A) => R,
  onFirstFailure?: (error: unknown, ...args: A) => void,
): (...args: A) => R | true {
  let failedAt: number | undefined;
  const budget = fcShrinkBudgetMs();
  return (...args: A) => {
    if (failedAt !== undefined && performance.now() - failedAt > budget) return true;
    try {
      const ok = predicate(...args);
      if (ok === false && failedAt === undefined) {
        failedAt = performance.now();
        onFirstFailure?.(new Error("property returned false"), ...args);
      }
      return ok;
    } catch (e) {
      if (failedAt === undefined) {
        failedAt = performance.now();
        onFirstFailure?.(e, ...args);
      }
      throw e;
    }
  };
}
