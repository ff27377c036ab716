import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { HEALTHY, Network, PeerProxy } from "./proxy.js";

// A dialer (node 1) talks to an acceptor (node 2) through the proxy in front of node 2. The dialer's
// first binary message is a transport Hello naming it (kind 1, field 3 = from), as the real
// transport's is; then numbered messages (kind 3, a batch) flow both ways.

const hello = (from: number) => new Uint8Array([1, 0x08, 1, 0x18, from, 0x20, 2]);
const msg = (n: number) => new Uint8Array([3, n & 0xff, n >> 8]);
const num = (d: Buffer) => d[1]! | (d[2]! << 8);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function setup(network: Network) {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  await new Promise((r) => wss.once("listening", r));
  const atServer: number[] = [];
  let serverSide: WebSocket | undefined;
  wss.on("connection", (ws) => {
    serverSide = ws;
    ws.on("message", (d: Buffer) => {
      if (d[0] === 3) atServer.push(num(d));
    });
  });
  const proxy = new PeerProxy({
    nodeId: 2,
    listenPort: 0,
    targetPort: (wss.address() as AddressInfo).port,
    network,
  });
  await proxy.start();
  const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/raft`, { perMessageDeflate: false });
  const atClient: number[] = [];
  client.on("message", (d: Buffer) => {
    if (d[0] === 3) atClient.push(num(d));
  });
  await new Promise((r) => client.once("open", r));
  client.send(hello(1));
  await sleep(50);
  cleanup.push(async () => {
    client.terminate();
    await proxy.stop();
    await new Promise((r) => wss.close(r));
  });
  return { client, server: () => serverSide!, atServer, atClient };
}

describe("PeerProxy", () => {
  it("passes messages both ways when healthy, in order", async () => {
    const net = new Network(1);
    const s = await setup(net);
    for (let i = 0; i < 100; i++) s.client.send(msg(i));
    for (let i = 0; i < 100; i++) s.server().send(msg(i));
    await sleep(100);
    expect(s.atServer).toEqual([...Array(100).keys()]);
    expect(s.atClient).toEqual([...Array(100).keys()]);
  });

  it("drops one direction only (one-way drop), then heals", async () => {
    const net = new Network(1);
    const s = await setup(net);
    net.set(1, 2, { ...HEALTHY, drop: true });
    for (let i = 0; i < 10; i++) s.client.send(msg(i));
    for (let i = 0; i < 10; i++) s.server().send(msg(i));
    await sleep(100);
    expect(s.atServer).toEqual([]);
    expect(s.atClient).toHaveLength(10);
    net.heal();
    s.client.send(msg(99));
    await sleep(50);
    expect(s.atServer).toEqual([99]);
  });

  it("loses about the given fraction of messages, the rest in order", async () => {
    const net = new Network(7);
    const s = await setup(net);
    net.set(1, 2, { ...HEALTHY, loss: 0.5 });
    for (let i = 0; i < 400; i++) s.client.send(msg(i));
    await sleep(200);
    expect(s.atServer.length).toBeGreaterThan(140);
    expect(s.atServer.length).toBeLessThan(260);
    expect([...s.atServer].sort((a, b) => a - b)).toEqual(s.atServer);
  });

  it("delays messages by delay ± jitter, keeping their order", async () => {
    const net = new Network(3);
    const s = await setup(net);
    net.set(2, 1, { ...HEALTHY, delayMs: 75, jitterMs: 50 });
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) s.server().send(msg(i));
    while (s.atClient.length < 20 && performance.now() - t0 < 2000) await sleep(5);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(s.atClient).toEqual([...Array(20).keys()]);
    expect(net.counters.delayed).toBeGreaterThanOrEqual(20);
  });
});
