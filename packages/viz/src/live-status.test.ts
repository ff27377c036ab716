import { describe, expect, it } from "vitest";
import {
  type LiveNode,
  leaderOf,
  liveRole,
  parseStatus,
  parseUrls,
  proxied,
  StatusShapeError,
} from "./live-status.js";

/** A leader's /status as tsraft-kv serves it (RaftNode.status plus members and kv). */
const LEADER = {
  id: 2,
  term: 3,
  vote: 2,
  commit: 12,
  applied: 12,
  lead: 2,
  state: "StateLeader",
  leadTransferee: 0,
  snapshotIndex: 0,
  members: [
    { id: 1, url: "ws://127.0.0.1:12379", learner: false },
    { id: 2, url: "ws://127.0.0.1:22379", learner: false },
  ],
  progress: {
    "2": { match: 12, next: 13, state: "StateReplicate", learner: false, recentActive: true, paused: false },
    "1": { match: 11, next: 12, state: "StateProbe", learner: false, recentActive: false, paused: true },
  },
  kv: { appliedIndex: 12, revision: 4, keys: 3 },
};

describe("live status", () => {
  it("parses /status, progress in id order", () => {
    const s = parseStatus(LEADER);
    expect(s).toMatchObject({ id: 2, term: 3, state: "StateLeader", commit: 12, kv: { keys: 3 } });
    expect(s.progress?.map((p) => [p.id, p.state, p.paused])).toEqual([
      [1, "StateProbe", true],
      [2, "StateReplicate", false],
    ]);
    const { progress: _, ...follower } = { ...LEADER, id: 1, state: "StateFollower" };
    expect(parseStatus(follower).progress).toBeUndefined();
  });

  it("refuses another shape", () => {
    expect(() => parseStatus({ ...LEADER, term: "3" })).toThrow(StatusShapeError);
    expect(() => parseStatus([])).toThrow(StatusShapeError);
  });

  it("the leader is the reachable StateLeader of the highest term", () => {
    const node = (url: string, state: string, term: number, error?: string): LiveNode => ({
      url,
      error,
      status: parseStatus({ ...LEADER, state, term }),
    });
    const nodes = [
      node("a", "StateLeader", 2),
      node("b", "StateLeader", 3),
      node("c", "StateLeader", 4, "timeout"),
      node("d", "StateFollower", 5),
    ];
    expect(leaderOf(nodes)?.url).toBe("b");
    expect(nodes.map(liveRole)).toEqual(["leader", "leader", "down", "follower"]);
    expect(leaderOf([])).toBeUndefined();
  });

  it("reads the URL box", () => {
    expect(parseUrls("127.0.0.1:12380, http://h:2/\n https://x:3")).toEqual([
      "http://127.0.0.1:12380",
      "http://h:2",
      "https://x:3",
    ]);
    expect(proxied("http://h:1/status")).toBe("proxy?url=http%3A%2F%2Fh%3A1%2Fstatus");
  });
});
