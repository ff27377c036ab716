/**
 * The human-readable record of a run: one line per step (its number and action) followed by
 * indented lines for what happened — messages delivered or lost, writes, applies, role changes,
 * commits, crashes. Two runs of the same case produce the same transcript, character for character.
 */
import { type Message, MessageType } from "../../raftpb/types.js";
import { type Action, formatAction } from "./schedule.js";

/** The lines of a run's transcript. */
export class Transcript {
  readonly lines: string[] = [];

  /** The header of step `n` (1-based). */
  step(n: number, a: Action): void {
    this.lines.push(`${String(n).padStart(4, "0")} ${formatAction(a)}`);
  }

  /** A line about the current step (indented). */
  note(line: string): void {
    this.lines.push(`     ${line}`);
  }

  /** An unindented line (phase banners). */
  banner(line: string): void {
    this.lines.push(line);
  }

  /** The transcript as text (one line each, trailing newline). */
  toString(): string {
    return this.lines.length === 0 ? "" : `${this.lines.join("\n")}\n`;
  }
}

/** A compact one-line description of a message, e.g. `MsgApp 1→2 t3 prev 5/2 ents 6..7 commit 5`. */
export function summarizeMessage(m: Message): string {
  let s = `${MessageType[m.type] ?? m.type} ${m.from}→${m.to} t${m.term}`;
  switch (m.type) {
    case MessageType.MsgApp:
      s += ` prev ${m.index}/${m.logTerm}`;
      if (m.entries.length > 0)
        s += ` ents ${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}`;
      s += ` commit ${m.commit}`;
      break;
    case MessageType.MsgAppResp:
      s += ` index ${m.index}`;
      if (m.reject) s += ` rejected (hint ${m.rejectHint}/${m.logTerm})`;
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      s += ` last ${m.index}/${m.logTerm}`;
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      s += m.reject ? " rejected" : " granted";
      break;
    case MessageType.MsgHeartbeat:
      s += ` commit ${m.commit}`;
      break;
    case MessageType.MsgSnap:
      if (m.snapshot !== undefined) s += ` snapshot ${m.snapshot.metadata.index}/${m.snapshot.metadata.term}`;
      break;
    case MessageType.MsgReadIndexResp:
      s += ` index ${m.index}`;
      break;
    case MessageType.MsgProp:
      s += ` ${m.entries.length} entr${m.entries.length === 1 ? "y" : "ies"}`;
      break;
  }
  return s;
}
