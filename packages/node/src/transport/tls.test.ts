import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageType, newMessage, newSnapshot } from "@tsraft/raft/raftpb";
import { makeCa } from "@tsraft/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TestNode } from "../../test/transport/harness.js";
import {
  app,
  count,
  RawClient,
  startNode,
  stopAll,
  testImage,
  waitFor,
} from "../../test/transport/harness.js";
import type { TransportTLS } from "./options.js";

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI; it is its own CA. */
function selfSigned(dir: string, name: string): TransportTLS {
  const ca = makeCa(dir, name, { server: true });
  const pem = readFileSync(ca.cert);
  return { key: readFileSync(ca.key), cert: pem, ca: pem };
}

let dir = "";
let good: TransportTLS;
let rogue: TransportTLS;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tsraft-tls-"));
  good = selfSigned(dir, "cluster");
  rogue = selfSigned(dir, "rogue");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let nodes: TestNode[] = [];
afterEach(async () => {
  await stopAll(nodes);
  nodes = [];
});

describe("TLS (wss)", () => {
  it("two nodes with certificates from the cluster CA exchange messages and a snapshot over wss", async () => {
    const a = await startNode(1, { listen: "wss://127.0.0.1:0", tls: good, token: "t" });
    const b = await startNode(2, { listen: "wss://127.0.0.1:0", tls: good, token: "t" });
    nodes = [a, b];
    expect(a.url.startsWith("wss://")).toBe(true);
    a.t.addPeer(2, b.url);
    b.t.addPeer(1, a.url);
    a.t.send([app(1, 2, 1), app(1, 2, 2)]);
    b.t.send([app(2, 1, 7)]);
    await waitFor(() => b.rec.processed.length === 2 && a.rec.processed.length === 1, "traffic over TLS");
    const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    const image = testImage((i) =>
      i < 3 ? data.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024) : undefined,
    );
    b.t.sendSnapshot(
      newMessage({
        type: MessageType.MsgSnap,
        from: 2,
        to: 1,
        snapshot: newSnapshot({ data: Uint8Array.of(1), metadata: { index: 9 } }),
      }),
      image.source,
    );
    await waitFor(() => b.rec.snapshots.length === 1, "the snapshot report");
    expect(b.rec.snapshots).toEqual([{ id: 1, status: "finish" }]);
    expect(a.rec.received[0]!.image!.equals(Buffer.from(data))).toBe(true);
    expect(image.releases()).toBe(1);
  });

  it("a node whose certificate the cluster CA did not sign cannot connect, in either role", async () => {
    const b = await startNode(2, { listen: "wss://127.0.0.1:0", tls: good });
    // The rogue trusts the cluster CA (so it would accept b's certificate) but presents its own.
    const r = await startNode(1, {
      listen: "wss://127.0.0.1:0",
      tls: { ...rogue, ca: [rogue.cert, good.cert] as Buffer[] },
    });
    nodes = [b, r];
    r.t.addPeer(2, b.url);
    b.t.addPeer(1, r.url);
    await waitFor(() => r.rec.unreachable.includes(2), "the rogue's dial to fail");
    r.t.send([app(1, 2, 1)]);
    expect(b.t.peers()[0]!.active).toBe(false);
    expect(b.rec.processed).toEqual([]);
    // b refuses to talk to the rogue's server too (its certificate is not from the cluster CA).
    const image = testImage((i) => (i < 1 ? Uint8Array.of(1) : undefined));
    b.t.sendSnapshot(
      newMessage({ type: MessageType.MsgSnap, from: 2, to: 1, snapshot: newSnapshot({}) }),
      image.source,
    );
    await waitFor(() => b.rec.snapshots.length === 1, "the snapshot report");
    expect(b.rec.snapshots).toEqual([{ id: 1, status: "failure" }]);
    expect(image.releases()).toBe(1);
    expect(r.rec.processed).toEqual([]);
  });

  it("a client without a certificate is refused by the TLS layer, before any handshake frame", async () => {
    const b = await startNode(2, { listen: "wss://127.0.0.1:0", tls: good });
    nodes = [b];
    b.t.addPeer(1, "wss://127.0.0.1:1");
    const raw = new RawClient(b.url, { ca: good.ca });
    await expect(raw.open()).rejects.toThrow();
    expect(await count(b.metrics.framesRejected)).toBe(0); // never got as far as a frame
  });
});
