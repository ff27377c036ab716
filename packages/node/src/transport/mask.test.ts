/**
 * The dialer's frames are masked with a zero key (see `zeroMask` in transport.ts): still well-formed
 * RFC 6455 client frames (mask bit set, a 4-byte key), but with nothing for either side to XOR. Read
 * off the wire: the first bytes the dialer sends after the upgrade.
 */
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { Recorder } from "../../test/transport/harness.js";
import { FrameKind } from "./frame.js";
import { Transport } from "./transport.js";

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/**
 * A WebSocket server that completes one upgrade and resolves with the raw bytes the client sent
 * after it (read from the TCP socket alongside ws, before ws unmasks anything).
 */
function rawAcceptor(): Promise<{ port: number; firstFrame: Promise<Buffer> }> {
  let resolveFrame: (b: Buffer) => void;
  const firstFrame = new Promise<Buffer>((r) => {
    resolveFrame = r;
  });
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  server.on("upgrade", (req, socket: Socket, head) => {
    socket.on("data", (d: Buffer) => resolveFrame(d));
    wss.handleUpgrade(req, socket, head, (ws) => cleanup.push(async () => ws.terminate()));
  });
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ port: (server.address() as AddressInfo).port, firstFrame });
    });
  });
}

describe("client frames", () => {
  it("are masked with the key 0, so their payload is sent as is", async () => {
    const acceptor = await rawAcceptor();
    const t = new Transport({
      id: 1,
      clusterId: 9,
      listen: "ws://127.0.0.1:0",
      peers: new Map([[2, `ws://127.0.0.1:${acceptor.port}`]]),
      handler: new Recorder().handler,
    });
    await t.start();
    cleanup.push(() => t.stop());
    const frame = await acceptor.firstFrame;
    // Byte 0: FIN + binary opcode; byte 1: the mask bit and a 7-bit length (the Hello is short).
    expect(frame[0]).toBe(0x82);
    expect(frame[1]! & 0x80).toBe(0x80);
    const len = frame[1]! & 0x7f;
    expect(len).toBeLessThan(126);
    expect([...frame.subarray(2, 6)]).toEqual([0, 0, 0, 0]);
    // Unmasked as it stands: the payload is the Hello frame itself.
    expect(frame[6]).toBe(FrameKind.Hello);
  });
});
