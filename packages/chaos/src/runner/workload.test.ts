import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KvInput } from "../lincheck/kv-model.js";
import { UNKNOWN_RETURN } from "../lincheck/model.js";
import { KvClient, Workload, type WorkloadTarget } from "./workload.js";

// How HTTP outcomes become history, against a scripted server: the key names the answer.
let server: Server;
let port: number;
const answers: Record<string, [number, string] | "hang"> = {
  ok: [204, ""],
  cas: [412, JSON.stringify({ code: "CompareFailed" })],
  noleader: [503, JSON.stringify({ code: "NoLeader" })],
  dropped: [503, JSON.stringify({ code: "ProposalDropped" })],
  stopped: [503, JSON.stringify({ code: "Stopped" })],
  timeout: [504, JSON.stringify({ code: "Timeout" })],
  absent: [404, JSON.stringify({ code: "KeyNotFound" })],
  value: [200, "v1"],
  broken: [500, JSON.stringify({ code: "Internal" })],
  hang: "hang",
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const key = decodeURIComponent((req.url ?? "").slice(4).split("?")[0]!);
    const a = answers[key];
    req.resume();
    if (a === "hang" || a === undefined) return;
    res.writeHead(a[0]);
    res.end(a[1]);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const target = (p: () => number): WorkloadTarget => ({
  nodeOfSlot: () => 1,
  members: () => [1],
  httpPort: p,
});
const put = (key: string): KvInput => ({ type: "put", key, value: "x" });

describe("KvClient: HTTP outcomes to history", () => {
  it("definite answers are recorded with their output and return time", async () => {
    let t = 0;
    const c = new KvClient(
      3,
      target(() => port),
      () => ++t,
      1000,
    );
    const ok = await c.execute(1, put("ok"));
    expect(ok.kind).toBe("ok");
    expect(ok.op).toEqual({ clientId: 3, input: put("ok"), call: 1, return: 2, output: { type: "ok" } });
    const cas = await c.execute(1, { type: "cas", key: "cas", prev: "a", value: "b" });
    expect([cas.kind, cas.op?.output]).toEqual(["mismatch", { type: "mismatch" }]);
    expect((await c.execute(1, { type: "get", key: "value" })).op?.output).toEqual({
      type: "value",
      value: "v1",
    });
    expect((await c.execute(1, { type: "get", key: "absent" })).op?.output).toEqual({
      type: "value",
      value: null,
    });
    c.close();
  });

  it("503 NoLeader / ProposalDropped: not proposed, left out; 503 Stopped and 504: ambiguous", async () => {
    const c = new KvClient(
      0,
      target(() => port),
      () => performance.now(),
      1000,
    );
    for (const key of ["noleader", "dropped"]) {
      const r = await c.execute(1, put(key));
      expect([r.kind, r.op, r.detail]).toEqual(["failed", undefined, expect.stringMatching(/^503 /)]);
    }
    // Regression (chaos seed 40): a node that fail-stops answers 503 Stopped for writes that may
    // still commit through the leader, so Stopped cannot mean "not proposed".
    for (const key of ["stopped", "timeout"]) {
      const r = await c.execute(1, put(key));
      expect(r.kind).toBe("ambiguous");
      expect(r.op?.return).toBe(UNKNOWN_RETURN);
      expect(r.op?.output).toEqual({ type: "unknown" });
    }
    c.close();
  });

  it("no answer: a refused connection is not applied, a timeout is ambiguous, a read is dropped", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = new KvClient(
      0,
      target(() => dead),
      () => 0,
      1000,
    );
    expect((await refused.execute(1, put("ok"))).kind).toBe("failed");
    refused.close();
    const c = new KvClient(
      0,
      target(() => port),
      () => 0,
      100,
    );
    const hung = await c.execute(1, put("hang"));
    expect([hung.kind, hung.op?.return]).toEqual(["ambiguous", UNKNOWN_RETURN]);
    const read = await c.execute(1, { type: "get", key: "hang" });
    expect([read.kind, read.op]).toEqual(["failed", undefined]);
    c.close();
  });

  it("an answer the API does not give is unexpected (and the write stays in the history as ambiguous)", async () => {
    const c = new KvClient(
      0,
      target(() => port),
      () => 0,
      1000,
    );
    const r = await c.execute(1, put("broken"));
    expect(r.kind).toBe("unexpected");
    expect(r.op?.output).toEqual({ type: "unknown" });
    c.close();
  });

  it("the workload keeps definite failures aside, with the answer, for the report", async () => {
    const w = new Workload(
      {
        seed: 1,
        tag: "t",
        clients: 1,
        pinned: 1,
        slots: 1,
        keys: 1,
        requestTimeoutMs: 1000,
        thinkMs: [0, 0],
        now: () => 0,
      },
      target(() => port),
    );
    const c = w.extraClient();
    w.record(await c.execute(1, put("noleader")));
    w.record(await c.execute(1, put("ok")));
    expect(w.failedWrites).toEqual([{ clientId: 1, input: put("noleader"), detail: "503 NoLeader" }]);
    expect(w.history.map((o) => o.input.key)).toEqual(["ok"]);
    expect([w.stats.failed, w.stats.ok]).toEqual([1, 1]);
    c.close();
  });
});
