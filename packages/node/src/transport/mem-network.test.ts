/**
 * The in-memory network of the RaftNode tests (packages/node/test/raftnode/harness.ts) keeps the
 * snapshot contract of the real transport (snapshot.test.ts): the receiving node reads the image as
 * an async iterable, each transfer is reported exactly once and releases its image exactly once.
 */
import type { Message } from "@tsraft/raft/raftpb";
import { MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import { describe, expect, it } from "vitest";
import { MemNetwork } from "../../test/raftnode/harness.js";
import { pieceOf, Recorder, sha256Hex, testImage, waitFor } from "../../test/transport/harness.js";
import type { RaftTransport } from "../raftnode/options.js";
import type { TransportOptions } from "./options.js";

function msgSnap(from: number, to: number): Message {
  return newMessage({
    type: MessageType.MsgSnap,
    from,
    to,
    term: 2,
    snapshot: newSnapshot({ data: Uint8Array.of(7), metadata: { index: 50, term: 2 } }),
  });
}

async function twoNodes(): Promise<{
  net: MemNetwork;
  a: RaftTransport;
  b: RaftTransport;
  ra: Recorder;
  rb: Recorder;
}> {
  const net = new MemNetwork();
  const ra = new Recorder();
  const rb = new Recorder();
  const make = (id: number, rec: Recorder) =>
    net.factory({ id, clusterId: 1, handler: rec.handler } as TransportOptions);
  const a = make(1, ra);
  const b = make(2, rb);
  await a.start();
  await b.start();
  return { net, a, b, ra, rb };
}

describe("MemNetwork snapshots", () => {
  it("stream the image to processSnapshot as copies, report finish after the handler, release once", async () => {
    const { a, ra, rb } = await twoNodes();
    const shared = pieceOf(1, 0, 1000);
    const img = testImage((i) => (i < 5 ? shared : undefined)); // one buffer, yielded 5 times
    const seen: Uint8Array[] = [];
    let finishedBeforeResolve: boolean | undefined;
    rb.onSnapshot = async (m, image) => {
      expect(m).toEqual(msgSnap(1, 2));
      for await (const c of image) {
        expect(c).not.toBe(shared);
        seen.push(c);
      }
      finishedBeforeResolve = ra.snapshots.length > 0;
    };
    a.sendSnapshot(msgSnap(1, 2), img.source);
    await waitFor(() => ra.snapshots.length === 1, "the report");
    expect(ra.snapshots).toEqual([{ id: 2, status: "finish" }]);
    expect(finishedBeforeResolve).toBe(false);
    expect(sha256Hex(seen)).toBe(sha256Hex(Array(5).fill(shared)));
    expect([img.reads(), img.releases()]).toEqual([1, 1]);
  });

  it("fail when the handler rejects, returns early, or the peer is down; release once each time", async () => {
    const { a, b, ra, rb } = await twoNodes();
    const handlers = [
      async (image: AsyncIterable<Uint8Array>) => {
        for await (const _ of image) throw new Error("disk full");
      },
      async () => {},
    ];
    const imgs = [0, 1, 2].map((k) => testImage((i) => (i < 3 ? pieceOf(k, i, 10) : undefined)));
    for (const [k, h] of handlers.entries()) {
      rb.onSnapshot = (_m, image) => h(image);
      a.sendSnapshot(msgSnap(1, 2), imgs[k]!.source);
      await waitFor(() => ra.snapshots.length === k + 1, `report ${k}`);
    }
    await b.stop();
    a.sendSnapshot(msgSnap(1, 2), imgs[2]!.source);
    await waitFor(() => ra.snapshots.length === 3, "report 2");
    expect(ra.snapshots.map((s) => s.status)).toEqual(["failure", "failure", "failure"]);
    expect(ra.unreachable).toEqual([2, 2, 2]);
    expect(imgs.map((i) => i.releases())).toEqual([1, 1, 1]);
  });

  it("a cut link or a stopping sender mid-transfer: the iteration throws, failure once, release once", async () => {
    for (const how of ["cut", "stop sender"] as const) {
      const { net, a, ra, rb } = await twoNodes();
      let consumed = 0;
      let error: unknown;
      rb.onSnapshot = async (_m, image) => {
        try {
          for await (const _ of image) {
            consumed++;
            if (consumed === 2) {
              if (how === "cut") net.cut(1, 2);
              else await a.stop();
            }
          }
        } catch (err) {
          error = err;
          throw err;
        }
      };
      const img = testImage((i) => (i < 5 ? pieceOf(9, i, 10) : undefined));
      a.sendSnapshot(msgSnap(1, 2), img.source);
      await waitFor(() => error !== undefined && ra.snapshots.length === 1, `${how}: failure`);
      expect(ra.snapshots, how).toEqual([{ id: 2, status: "failure" }]);
      expect(consumed, how).toBe(2);
      await waitFor(() => img.closed(), `${how}: the generator closed`);
      expect(img.releases(), how).toBe(1);
    }
  });

  it("a MsgSnap given to send() is reported failed (it has no image)", async () => {
    const { a, ra, rb } = await twoNodes();
    a.send([msgSnap(1, 2)]);
    await waitFor(() => ra.snapshots.length === 1, "the report");
    expect(ra.snapshots).toEqual([{ id: 2, status: "failure" }]);
    expect(rb.received).toEqual([]);
  });
});
