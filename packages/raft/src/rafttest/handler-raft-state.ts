import { StateType } from "../ready.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * `raft-state`: one line per node, from that node's own view:
 * `<id>: <StateType> (Voter|Non-Voter) Term:<term> Lead:<lead>`.
 */
export function handleRaftState(env: InteractionEnv): void {
  raftState(env);
}

/** See {@link InteractionEnv.raftState}. */
export function raftState(env: InteractionEnv): void {
  for (const n of env.nodes) {
    const st = n.rawNode.status();
    const voter = st.config.voters.ids().has(st.id) ? "(Voter)" : "(Non-Voter)";
    env.output.writeString(`${st.id}: ${StateType[st.raftState]} ${voter} Term:${st.term} Lead:${st.lead}\n`);
  }
}
