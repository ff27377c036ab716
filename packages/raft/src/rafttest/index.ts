/** @tsraft/raft/rafttest: the datadriven runner, the interaction harness and the cluster simulator. */

export { mixSeed, Prng } from "../prng.js";
export { confchangeDatadrivenHandler } from "./confchange-datadriven.js";
export {
  type CmdArg,
  type DatadrivenHandler,
  DatadrivenParseError,
  type DirectiveResult,
  describeFailure,
  parseLine,
  parseTestData,
  type RunResult,
  runPassed,
  runTestData,
  type TestData,
  unifiedDiff,
} from "./datadriven.js";
export {
  handleAddNodes,
  type RaftConfigTemplate,
  raftConfigStub,
  SnapOverrideStorage,
} from "./handler-add-nodes.js";
export { type Recipient, splitMsgs } from "./handler-deliver-msgs.js";
export { processAppend } from "./handler-process-append-thread.js";
export { processApply } from "./handler-process-apply-thread.js";
export { InteractionError, InteractionScriptError } from "./interaction-args.js";
export { interactionDatadrivenHandler } from "./interaction-datadriven.js";
export { InteractionEnv, type InteractionOpts, type Node } from "./interaction-env.js";
export { handle, INTERACTION_COMMANDS } from "./interaction-env-handler.js";
export { LOG_LEVEL_NAMES, RedirectLogger } from "./interaction-env-logger.js";
export { alternativeMajorityCommittedIndex, quorumDatadrivenHandler } from "./quorum-datadriven.js";
// The cluster simulator (sim/): see the package README, "Property-testing your state machine".
// Its fast-check arbitraries are in @tsraft/raft/rafttest/fast-check (fast-check is an optional peer).
export { bytesEqual, utf8Decode, utf8Encode } from "./sim/bytes.js";
export { ChecksumStateMachine, KvStateMachine } from "./sim/example-state-machines.js";
export { FNV1A_OFFSET, fnv1a, fnv1aString, fnv1aUnit } from "./sim/fnv1a.js";
export { type GenerateOptions, generateCase } from "./sim/generator.js";
export { type CheckedNode, Checker, type InvariantName, InvariantViolation } from "./sim/invariants.js";
export { SimNetwork } from "./sim/network.js";
export { NodeHost } from "./sim/node-host.js";
export {
  type FailureReportOptions,
  formatFailure,
  formatSeedSpec,
  lastFailedStep,
  parseReplaySpec,
  REPLAY_TEST,
  type RunOptions,
  replayCommand,
  runCase,
  runCaseAsync,
  type SimRun,
} from "./sim/runner.js";
export {
  type Action,
  type ActionKind,
  BROKEN_VARIANTS,
  type BrokenVariant,
  type ClusterSpec,
  type ConfChangeOp,
  type ConfChangeSpec,
  DEFAULT_SIM_OPTIONS,
  formatAction,
  formatCase,
  formatCaseOneLine,
  formatHeader,
  type NodeId,
  parseAction,
  parseCase,
  ScheduleSyntaxError,
  type SimCase,
  type SimOptions,
} from "./sim/schedule.js";
export { shrinkCase } from "./sim/shrink.js";
export { type SimSetup, type SimStats, Simulation, type SimulationOptions } from "./sim/simulation.js";
export { collectImage, imageSnapshot, loadImage } from "./sim/snapshot-image.js";
export {
  AsyncStateMachineError,
  applyEntryKind,
  type StateMachineFactory,
  toApplyEntry,
} from "./sim/state-machine-driver.js";
export { summarizeMessage, Transcript } from "./sim/transcript.js";
