/** Which of a Ready's messages may leave when (docs/architecture.md, "The Ready loop"). */
import { type Message, MessageType } from "@tsraft/raft/raftpb";

/** Messages that promise the sender's log or vote is durable: never sent before the write. */
export function needsDurability(m: Message): boolean {
  return (
    m.type === MessageType.MsgAppResp ||
    m.type === MessageType.MsgVoteResp ||
    m.type === MessageType.MsgPreVoteResp
  );
}

/**
 * The peers whose only messages in `msgs` are MsgApps without entries — a new commit index, which
 * nothing waits for on the follower's side but its own apply — or undefined if there are none. A
 * leader sends those after answering the requests its Ready commits.
 */
export function commitOnlyPeers(msgs: readonly Message[]): Set<number> | undefined {
  const only = new Set<number>();
  const other = new Set<number>();
  for (const m of msgs) {
    if (m.type === MessageType.MsgApp && m.entries.length === 0) only.add(m.to);
    else other.add(m.to);
  }
  for (const id of other) only.delete(id);
  return only.size > 0 ? only : undefined;
}
