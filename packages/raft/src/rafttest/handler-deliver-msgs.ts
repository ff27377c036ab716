import { defaultEntryFormatter, describeMessage } from "../describe.js";
import { type Message, MessageType } from "../raftpb/types.js";
import { isLocalMsgTarget } from "../util.js";
import type { TestData } from "./datadriven.js";
import { isReportable, parseUint, scanUint, scriptError } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** A recipient of {@link deliverMsgs}: its messages are delivered, or dropped if `drop`. */
export interface Recipient {
  id: number;
  drop: boolean;
}

/**
 * `deliver-msgs <id>... [drop=(<id>,...)] [type=<MsgType>]`: delivers the in-flight messages to each
 * node listed, in order, and drops those to the nodes in `drop` (local messages, which must not be
 * lost, are never dropped); with `type`, only messages of that type. Prints each message handled
 * (`dropped: ` first if dropped), and any error the recipient's step returns; `no messages` if none.
 */
export function handleDeliverMsgs(env: InteractionEnv, d: TestData): void {
  let typ: MessageType | undefined;
  const rs: Recipient[] = [];
  for (const arg of d.cmdArgs) {
    if (arg.vals.length === 0) {
      rs.push({ id: parseRecipient(d, arg.key), drop: false });
    }
    for (let i = 0; i < arg.vals.length; i++) {
      switch (arg.key) {
        case "drop": {
          const id = scanUint(d, arg, i);
          if (rs.some((r) => r.id === id)) scriptError(d, `can't both deliver and drop msgs to ${id}`);
          rs.push({ id, drop: true });
          break;
        }
        case "type": {
          const s = arg.vals[i] as string;
          const v = (MessageType as unknown as Record<string, unknown>)[s];
          if (typeof v !== "number") scriptError(d, `unknown message type ${s}`);
          typ = v;
          break;
        }
      }
    }
  }
  if (deliverMsgs(env, typ, ...rs) === 0) env.output.writeString("no messages\n");
}

function parseRecipient(d: TestData, key: string): number {
  try {
    return parseUint(key);
  } catch (e) {
    return scriptError(d, (e as Error).message);
  }
}

/** See {@link InteractionEnv.deliverMsgs}. */
export function deliverMsgs(env: InteractionEnv, typ: MessageType | undefined, ...rs: Recipient[]): number {
  let n = 0;
  for (const r of rs) {
    const [msgs, rest] = splitMsgs(env.messages, r.id, typ, r.drop);
    env.messages = rest;
    n += msgs.length;
    for (const m of msgs) {
      if (r.drop) env.output.writeString("dropped: ");
      env.output.writeString(`${describeMessage(m, defaultEntryFormatter)}\n`);
      // Dropping needs no recipient: messages to nodes not yet added may be dropped.
      if (r.drop) continue;
      const to = env.nodes[m.to - 1];
      if (to === undefined) throw new RangeError(`message to unknown node ${m.to}`);
      try {
        to.rawNode.step(m);
      } catch (e) {
        if (!isReportable(e)) throw e;
        env.output.writeString(`${e.message}\n`);
      }
    }
  }
  return n;
}

/**
 * Splits `msgs` into those to `to` (of type `typ` if given; never local ones when dropping) and the
 * rest, both in their original order.
 */
export function splitMsgs(
  msgs: readonly Message[],
  to: number,
  typ: MessageType | undefined,
  drop: boolean,
): [Message[], Message[]] {
  const toMsgs: Message[] = [];
  const rest: Message[] = [];
  for (const m of msgs) {
    if (m.to === to && !(drop && isLocalMsg(m)) && (typ === undefined || m.type === typ)) toMsgs.push(m);
    else rest.push(m);
  }
  return [toMsgs, rest];
}

/** A message to self or to/from a local storage thread: delivery of these must be reliable. */
function isLocalMsg(m: Message): boolean {
  return m.from === m.to || isLocalMsgTarget(m.from) || isLocalMsgTarget(m.to);
}
