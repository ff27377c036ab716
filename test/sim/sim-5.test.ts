/**
 * The simulation property suite on 5-node clusters (voters, learners and spare nodes; every option
 * on or off at random): every Raft safety property after every step, then liveness once every fault
 * healed. Half of the seeds of `pnpm test` (the other half: sim-3.test.ts); TSRAFT_SIM_RUNS
 * sets the total for long runs.
 */
import { simulationTest } from "./suite.js";

simulationTest(5, 20250605);
