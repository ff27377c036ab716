/** @tsraft/raft/rafttest: the datadriven runner, the interaction harness and the cluster simulator. */

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
