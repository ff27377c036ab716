/**
 * `@tsraft/chaos`: robustness testing for tsraft-kv, after etcd's robustness suite and Jepsen: a fault
 * runner over real `tsraft-kv` processes. The linearizability checker is the `./lincheck` subpath.
 */
export { Rng } from "./random.js";
export {
  ChaosCluster,
  type ChaosClusterOptions,
  type NodeSlot,
  type NodeStatus,
  type StateHash,
} from "./runner/cluster.js";
// The CLI the runner starts (the test kit's, re-exported for the runner's users).
export { KV_CLI, kvCliMissing } from "@tsraft/testkit";
export { type MergedLog, mergeCommittedLogs, type NodeLog, readNodeLog } from "./runner/committed-log.js";
export {
  FAULT_KINDS,
  type FaultKind,
  type FaultPlan,
  injectFault,
  planFault,
  SINGLE_NODE_FAULTS,
} from "./runner/faults.js";
export { HEALTHY, type LinkRule, Network, PeerProxy, type PeerProxyOptions } from "./runner/proxy.js";
export {
  formatRunLine,
  formatRunReport,
  type RunOptions,
  type RunReport,
  type RunSpec,
  runChaos,
  specForSeed,
} from "./runner/run.js";
export {
  KvClient,
  Workload,
  type WorkloadOptions,
  type WorkloadStats,
  type WorkloadTarget,
} from "./runner/workload.js";
