/**
 * @tsraft/raft/rafttest/fast-check: the simulator's cases as fast-check arbitraries, for property
 * tests (see the package README, "Property-testing your state machine"). The one entry point that
 * needs fast-check, an optional peer dependency: @tsraft/raft/rafttest itself does not.
 */
export {
  type ActionArbitraryOptions,
  type FastCheckModule,
  faultActionArbitrary,
  type SimArbitraryOptions,
  simCaseArbitrary,
  workloadActionArbitrary,
} from "./sim/arbitraries.js";
