/**
 * @tsraft/testkit: what tsraft's tests, benchmarks and chaos runner share, once. Private: not
 * published, and nothing in the published packages imports it.
 */

export { type Ca, type CertFiles, issue, makeCa } from "./certs.js";
export { type ClientStep, type ClosedLoop, type ClosedLoopOptions, runClosedLoop } from "./closed-loop.js";
export {
  errorCodeOf,
  type HttpAnswer,
  type HttpFailure,
  type HttpRequestOptions,
  type HttpResult,
  httpRequest,
  parseJson,
} from "./http.js";
export {
  KV_CLI,
  type KvNodeSpec,
  type KvStatus,
  kvCliMissing,
  kvNodeArgs,
  startKvNode,
} from "./kv-process.js";
export { ephemeralLow, freePorts } from "./ports.js";
export { type CommandResult, type RunCommandOptions, runCommand } from "./run-command.js";
export { type ExitStatus, ServerProcess, type ServerProcessOptions } from "./server-process.js";
export { type WsFrameLayout, wsFrameLayout, wsPayload } from "./ws-frame.js";
