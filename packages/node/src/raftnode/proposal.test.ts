/**
 * The node's encodings (proposal envelope, conf-change context, snapshot data, WAL metadata) and
 * the membership rules conf changes are validated by when they apply.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import {
  decodeConfChangeContext,
  decodeProposal,
  decodeSnapshotData,
  decodeWalMetadata,
  encodeConfChangeContext,
  encodeProposal,
  encodeSnapshotData,
  encodeWalMetadata,
} from "./envelope.js";
import { Membership } from "./membership.js";

const SEED = 0x5eed;

describe("proposal envelope", () => {
  it("round-trips any request id and payload", () => {
    const id = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(id, id, id, fc.uint8Array({ maxLength: 64 }), (node, nonce, seq, payload) => {
        const d = decodeProposal(encodeProposal({ node, nonce, seq }, payload));
        expect(d?.id).toEqual({ node, nonce, seq });
        expect([...(d?.payload ?? [])]).toEqual([...payload]);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("is not mistaken for foreign or truncated data", () => {
    expect(decodeProposal(new Uint8Array(0))).toBeUndefined();
    expect(decodeProposal(new TextEncoder().encode("k=v"))).toBeUndefined(); // first byte 'k'
    expect(decodeProposal(Uint8Array.of(1, 0x80))).toBeUndefined(); // truncated varint
    expect(decodeProposal(Uint8Array.of(1, 1, 2))).toBeUndefined(); // seq missing
  });
});

describe("conf-change context and snapshot data", () => {
  it("round-trips the context; anything else decodes to {}", () => {
    const ctx = { url: "ws://10.0.0.1:2380", promote: true, req: { node: 3, nonce: 99, seq: 7 } };
    expect(decodeConfChangeContext(encodeConfChangeContext(ctx))).toEqual(ctx);
    expect(decodeConfChangeContext(encodeConfChangeContext({ url: "ws://a:1" }))).toEqual({
      url: "ws://a:1",
    });
    expect(decodeConfChangeContext(new TextEncoder().encode("not json"))).toEqual({});
    expect(decodeConfChangeContext(new Uint8Array(0))).toEqual({});
  });

  it("round-trips membership and the application snapshot; refuses foreign data", () => {
    const members = [
      { id: 1, url: "ws://a:1", learner: false },
      { id: 4, url: "ws://d:1", learner: true },
    ];
    const app = Uint8Array.of(0, 1, 2, 255);
    const d = decodeSnapshotData(encodeSnapshotData({ members, removed: [3] }, app));
    expect(d.members).toEqual(members);
    expect(d.removed).toEqual([3]);
    expect([...d.app]).toEqual([...app]);
    expect(() => decodeSnapshotData(app)).toThrow(/bad magic/);
    const truncated = encodeSnapshotData({ members, removed: [] }, app).slice(0, 20);
    expect(() => decodeSnapshotData(truncated)).toThrow(/runs past/);
  });

  it("round-trips WAL metadata", () => {
    expect(decodeWalMetadata(encodeWalMetadata(0xabc, 7))).toEqual({ id: 0xabc, clusterId: 7 });
    expect(decodeWalMetadata(new Uint8Array(0))).toBeUndefined();
  });
});

describe("Membership", () => {
  it("validates changes as etcd does and never reuses a removed id", () => {
    const m = new Membership();
    expect(m.check({ kind: "add", id: 1, url: "ws://a:1", learner: false })).toBeUndefined();
    m.apply({ kind: "add", id: 1, url: "ws://a:1", learner: false });
    m.apply({ kind: "add", id: 2, url: "ws://b:1", learner: true });
    expect(m.check({ kind: "add", id: 1, url: "ws://z:1", learner: false })?.code).toBe("MemberExists");
    expect(m.check({ kind: "add", id: 3, url: "ws://a:1", learner: false })?.code).toBe("UrlExists");
    expect(m.check({ kind: "promote", id: 1 })?.code).toBe("MemberNotLearner");
    expect(m.check({ kind: "promote", id: 3 })?.code).toBe("MemberNotFound");
    expect(m.check({ kind: "remove", id: 3 })?.code).toBe("MemberNotFound");
    expect(m.check({ kind: "promote", id: 2 })).toBeUndefined();
    m.apply({ kind: "promote", id: 2 });
    m.apply({ kind: "remove", id: 1 });
    expect(m.list()).toEqual([{ id: 2, url: "ws://b:1", learner: false }]);
    expect(m.check({ kind: "add", id: 1, url: "ws://a:1", learner: false })?.code).toBe("MemberRemoved");
    const copy = new Membership();
    copy.restore(m.list(), m.removed());
    expect(copy.list()).toEqual(m.list());
    expect(copy.isRemoved(1)).toBe(true);
  });
});
