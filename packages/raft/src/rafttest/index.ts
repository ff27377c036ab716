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
export { alternativeMajorityCommittedIndex, quorumDatadrivenHandler } from "./quorum-datadriven.js";
