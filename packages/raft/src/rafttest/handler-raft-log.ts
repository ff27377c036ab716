import { NO_LIMIT } from "../constants.js";
import { defaultEntryFormatter, describeEntries } from "../describe.js";
import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, nodeAt } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `raft-log <id>`: prints the entries in the node's log storage. */
export function handleRaftLog(env: InteractionEnv, d: TestData): void {
  raftLog(env, firstAsNodeIdx(d));
}

/** See {@link InteractionEnv.raftLog}. */
export function raftLog(env: InteractionEnv, idx: number): void {
  const s = nodeAt(env, idx).storage;
  const fi = s.firstIndex();
  const li = s.lastIndex();
  if (li < fi) {
    // What MemoryStorage reports for an empty log.
    env.output.writeString(`log is empty: first index=${fi}, last index=${li}`);
    return;
  }
  env.output.writeString(describeEntries(s.entries(fi, li + 1, NO_LIMIT), defaultEntryFormatter));
}
