import { describe, expect, it } from "vitest";
import { LocalAppendThread, LocalApplyThread } from "./constants.js";
import { MessageType } from "./raftpb/types.js";
import { isLocalMsg, isLocalMsgTarget, isResponseMsg, payloadsSize, voteRespMsgType } from "./util.js";

const all = Object.values(MessageType).filter((v): v is MessageType => typeof v === "number");

describe("message classification", () => {
  it("local messages are those only the node itself produces", () => {
    expect(all.filter(isLocalMsg).map((t) => MessageType[t])).toEqual([
      "MsgHup",
      "MsgBeat",
      "MsgUnreachable",
      "MsgSnapStatus",
      "MsgCheckQuorum",
      "MsgStorageAppend",
      "MsgStorageAppendResp",
      "MsgStorageApply",
      "MsgStorageApplyResp",
    ]);
  });

  it("responses", () => {
    expect(all.filter(isResponseMsg).map((t) => MessageType[t])).toEqual([
      "MsgAppResp",
      "MsgVoteResp",
      "MsgHeartbeatResp",
      "MsgUnreachable",
      "MsgReadIndexResp",
      "MsgPreVoteResp",
      "MsgStorageAppendResp",
      "MsgStorageApplyResp",
    ]);
    expect(isResponseMsg(99 as MessageType)).toBe(false);
  });

  it("local targets and vote responses", () => {
    expect([LocalAppendThread, LocalApplyThread, 1, 0].map(isLocalMsgTarget)).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(voteRespMsgType(MessageType.MsgVote)).toBe(MessageType.MsgVoteResp);
    expect(voteRespMsgType(MessageType.MsgPreVote)).toBe(MessageType.MsgPreVoteResp);
    expect(() => voteRespMsgType(MessageType.MsgApp)).toThrow("not a vote message: MsgApp");
  });

  it("payload size counts data bytes only", () => {
    const e = (n: number) => ({ term: 5, index: 9, type: 0, data: new Uint8Array(n) });
    expect(payloadsSize([e(0), e(3), e(10)])).toBe(13);
  });
});
