/** What the node puts in log entries: the proposal envelope and the conf-change context. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import {
  decodeConfChangeContext,
  decodeProposal,
  encodeConfChangeContext,
  encodeProposal,
} from "./proposal.js";

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

describe("conf-change context", () => {
  it("round-trips the context; anything else decodes to {}", () => {
    const ctx = { url: "ws://10.0.0.1:2380", promote: true, req: { node: 3, nonce: 99, seq: 7 } };
    expect(decodeConfChangeContext(encodeConfChangeContext(ctx))).toEqual(ctx);
    expect(decodeConfChangeContext(encodeConfChangeContext({ url: "ws://a:1" }))).toEqual({
      url: "ws://a:1",
    });
    expect(decodeConfChangeContext(new TextEncoder().encode("not json"))).toEqual({});
    expect(decodeConfChangeContext(new Uint8Array(0))).toEqual({});
  });
});
