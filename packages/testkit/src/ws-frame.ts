/**
 * WebSocket framing (RFC 6455 §5.2) for the test tools that handle the bytes below `ws`: the chaos
 * runner's proxy (packages/chaos/src/runner/proxy.ts cuts the stream into frames to drop or delay
 * them) and the transport tests' bare client (packages/node/test/transport/harness.ts reads the
 * server's frames). It locates a frame; it validates nothing a locator does not need.
 */

/** Where the parts of one complete frame lie in a buffer that starts with it. */
export interface WsFrameLayout {
  /** The opcode (low 4 bits of the first byte): 0 continuation, 1 text, 2 binary, ≥ 8 control. */
  readonly opcode: number;
  /** Offset of the 4-byte masking key, or -1 when the payload is not masked. */
  readonly maskAt: number;
  readonly payloadAt: number;
  readonly payloadLength: number;
  /** Bytes of the whole frame: header, masking key and payload. */
  readonly size: number;
}

/** The layout of the frame at the start of `b`, or undefined while part of it has not arrived. */
export function wsFrameLayout(b: Buffer): WsFrameLayout | undefined {
  if (b.length < 2) return undefined;
  let payloadLength = b[1]! & 0x7f;
  let at = 2;
  if (payloadLength === 126) {
    if (b.length < 4) return undefined;
    payloadLength = b.readUInt16BE(2);
    at = 4;
  } else if (payloadLength === 127) {
    if (b.length < 10) return undefined;
    payloadLength = Number(b.readBigUInt64BE(2));
    at = 10;
  }
  const masked = (b[1]! & 0x80) !== 0;
  const payloadAt = masked ? at + 4 : at;
  const size = payloadAt + payloadLength;
  if (b.length < size) return undefined;
  return { opcode: b[0]! & 0x0f, maskAt: masked ? at : -1, payloadAt, payloadLength, size };
}

/** The payload of the frame `f` at the start of `b`, unmasked, as a copy. */
export function wsPayload(b: Buffer, f: WsFrameLayout): Buffer {
  const p = Buffer.from(b.subarray(f.payloadAt, f.size));
  if (f.maskAt >= 0) for (let i = 0; i < p.length; i++) p[i]! ^= b[f.maskAt + (i & 3)]!;
  return p;
}
