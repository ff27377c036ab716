import { describe, expect, it } from "vitest";
import { wsFrameLayout, wsPayload } from "./ws-frame.js";

/** A binary frame (FIN) carrying `payload`, masked with `mask` if given, as RFC 6455 §5.2 lays it out. */
function frame(payload: Buffer, mask?: Buffer): Buffer {
  const n = payload.length;
  const m = mask === undefined ? 0 : 0x80;
  let head: Buffer;
  if (n < 126) head = Buffer.from([0x82, m | n]);
  else if (n < 65536) head = Buffer.from([0x82, m | 126, n >> 8, n & 0xff]);
  else {
    head = Buffer.alloc(10);
    head[0] = 0x82;
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  if (mask === undefined) return Buffer.concat([head, payload]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

describe("wsFrameLayout", () => {
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  for (const n of [0, 5, 125, 126, 300, 65535, 65536]) {
    for (const masked of [false, true]) {
      it(`finds a ${masked ? "masked" : "plain"} frame of ${n} payload bytes, and nothing in any prefix`, () => {
        const payload = Buffer.alloc(n, 0);
        for (let i = 0; i < n; i++) payload[i] = (i * 7) & 0xff;
        const f = frame(payload, masked ? mask : undefined);
        const next = Buffer.from([0x89, 0x00]); // a ping after it: not part of the frame
        const layout = wsFrameLayout(Buffer.concat([f, next]));
        expect(layout).toMatchObject({ opcode: 2, payloadLength: n, size: f.length });
        expect(layout!.maskAt >= 0).toBe(masked);
        expect(wsPayload(f, layout!).equals(payload)).toBe(true);
        for (const cut of [0, 1, 2, 3, 9, f.length - 1]) {
          if (cut < f.length) expect(wsFrameLayout(f.subarray(0, cut)), `cut at ${cut}`).toBeUndefined();
        }
      });
    }
  }
});
