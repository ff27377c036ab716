/**
 * The simulation property suite on 3-node clusters (voters, learners and spare nodes; every option
 * on or off at random): every Raft safety property after every step, then liveness once every fault
 * healed. Half of the seeds of `pnpm test` (the other half: sim-5.test.ts); TSRAFT_SIM_RUNS
 * sets the total for long runs.
 */
import { simulationTest } from "./suite.js";

simulationTest(3, 20250603);
