import type { TestData } from "./datadriven.js";
import { handleAddNodes } from "./handler-add-nodes.js";
import { handleCampaign } from "./handler-campaign.js";
import { handleCompact } from "./handler-compact.js";
import { handleDeliverMsgs } from "./handler-deliver-msgs.js";
import { handleForgetLeader } from "./handler-forget-leader.js";
import { handleLogLevel } from "./handler-log-level.js";
import { handleProcessAppendThread } from "./handler-process-append-thread.js";
import { handleProcessApplyThread } from "./handler-process-apply-thread.js";
import { handleProcessReady } from "./handler-process-ready.js";
import { handlePropose } from "./handler-propose.js";
import { handleProposeConfChange } from "./handler-propose-conf-change.js";
import { handleRaftLog } from "./handler-raft-log.js";
import { handleRaftState } from "./handler-raft-state.js";
import { handleReportUnreachable } from "./handler-report-unreachable.js";
import { handleSendSnapshot } from "./handler-send-snapshot.js";
import { handleSetRandomizedElectionTimeout } from "./handler-set-randomized-election-timeout.js";
import { handleStabilize } from "./handler-stabilize.js";
import { handleStatus } from "./handler-status.js";
import { handleTickElection, handleTickHeartbeat } from "./handler-tick.js";
import { handleTransferLeadership } from "./handler-transfer-leadership.js";
import { InteractionError, isReportable } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

type Handler = (env: InteractionEnv, d: TestData) => void;

/**
 * The commands of the interaction harness (etcd's `InteractionEnv.Handle`), each in its own file:
 * see there for its arguments and output.
 */
const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  // A no-op to put a debugger breakpoint on.
  ["_breakpoint", () => {}],
  ["add-nodes", handleAddNodes],
  ["campaign", handleCampaign],
  ["compact", handleCompact],
  ["deliver-msgs", handleDeliverMsgs],
  ["process-ready", handleProcessReady],
  ["process-append-thread", handleProcessAppendThread],
  ["process-apply-thread", handleProcessApplyThread],
  ["log-level", handleLogLevel],
  ["raft-log", handleRaftLog],
  ["raft-state", handleRaftState],
  ["set-randomized-election-timeout", handleSetRandomizedElectionTimeout],
  ["stabilize", handleStabilize],
  ["status", handleStatus],
  ["tick-election", handleTickElection],
  ["tick-heartbeat", handleTickHeartbeat],
  ["transfer-leadership", handleTransferLeadership],
  ["forget-leader", handleForgetLeader],
  ["send-snapshot", handleSendSnapshot],
  ["propose", handlePropose],
  ["propose-conf-change", handleProposeConfChange],
  ["report-unreachable", handleReportUnreachable],
]);

/** The names of the harness's commands. */
export const INTERACTION_COMMANDS: readonly string[] = [...HANDLERS.keys()];

/**
 * Runs one directive: clears the output, runs the command, and returns what it printed, `ok` if
 * nothing. An error of the core (a RaftError) or of the command (an InteractionError) is printed
 * after the output so far, as etcd prints a returned `error`; at level NONE it is the whole output.
 * Anything else thrown (a RaftPanic, a malformed script, a bug) propagates.
 */
export function handle(env: InteractionEnv, d: TestData): string {
  env.output.reset();
  const handler = HANDLERS.get(d.cmd);
  let err: Error | undefined;
  try {
    if (handler === undefined) throw new InteractionError("unknown command");
    handler(env, d);
  } catch (e) {
    if (!isReportable(e)) throw e;
    err = e;
  }
  if (err !== undefined) {
    if (env.output.quiet()) return err.message;
    env.output.writeString(err.message);
  }
  return env.output.length === 0 ? "ok" : env.output.toString();
}
