/**
 * fast-check settings shared by every property test: runs are fixed in CI and raised for long runs
 * with FC_NUM_RUNS; seeds are fixed per test so a failure reproduces (fast-check prints the seed
 * and the shrunk counterexample).
 */
export function fcRuns(n: number): number {
  const env = process.env.FC_NUM_RUNS;
  return env === undefined || env === "" ? n : Number(env);
}
