/**
 * `@tsraft/chaos/lincheck`: a linearizability checker (Wing–Gong search with Lowe's just-in-time
 * linearization, a memo of visited configurations, per-key partitions), the key-value model tsraft-kv
 * is checked against, etcd's "patch history" step, and generators of valid and broken histories.
 */
export {
  type CheckOptions,
  type CheckOutcome,
  type CheckResult,
  checkOperations,
  type PartitionResult,
} from "./checker.js";
export {
  type GeneratedHistory,
  type GenerateOptions,
  generateKvHistory,
  MUTATION_KINDS,
  type Mutation,
  type MutationKind,
  mutateKvHistory,
} from "./generate.js";
export {
  type GroupInput,
  type GroupOperation,
  type GroupOutput,
  type GroupState,
  groupModel,
} from "./kv-group-model.js";
export {
  isAmbiguous,
  type KvInput,
  type KvOperation,
  type KvOutput,
  type KvState,
  kvModel,
  MISMATCH,
  OK,
  UNKNOWN,
} from "./kv-model.js";
export { ILLEGAL, type Illegal, type Model, type Operation, UNKNOWN_RETURN } from "./model.js";
export {
  type CommittedWrite,
  checkAcknowledgedWrites,
  type DurabilityReport,
  type PatchResult,
  patchKvHistory,
} from "./patch.js";
export { type DescribeOptions, describePartition, describeResult } from "./report.js";
