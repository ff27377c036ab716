import { mkdtempSync, rmSync } from "node:fs";
import { request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Member, RaftNodeStatus, RequestOptions as WaitOptions } from "@tsraft/node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKvHttpServer, type KvNode } from "./http.js";
import { MAX_KEY_BYTES } from "./http-io.js";
import { type ApplyResult, SqliteStateMachine } from "./sqlite-state-machine.js";

/**
 * A stand-in for RaftNode: proposals apply at once to a real SQLite state machine, unless `mode`
 * makes them fail like the real node does (no leader, timeout) or hang until the caller aborts.
 */
class FakeNode implements KvNode {
  readonly id = 1;
  mode: "apply" | "no-leader" | "timeout" | "hang" = "apply";
  reads = 0;
  index = 0;
  readonly aborted: string[] = [];
  readonly calls: string[] = [];
  memberList: Member[] = [{ id: 1, url: "ws://127.0.0.1:1", learner: false }];
  constructor(private readonly sm: SqliteStateMachine) {}

  private async wait(what: string, opts?: WaitOptions): Promise<void> {
    switch (this.mode) {
      case "apply":
        return;
      case "no-leader":
        throw Object.assign(new Error("no leader"), { code: "NoLeader" });
      case "timeout":
        throw Object.assign(new Error("timed out"), { code: "Timeout" });
      case "hang":
        return new Promise((_, reject) => {
          opts?.signal?.addEventListener("abort", () => {
            this.aborted.push(what);
            reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
          });
        });
    }
  }
  async propose(data: Uint8Array, opts?: WaitOptions): Promise<ApplyResult> {
    await this.wait("propose", opts);
    const [result] = await this.sm.apply([{ index: ++this.index, term: 1, kind: "normal", data }]);
    if (result === undefined) throw new Error("a normal entry has a result");
    return result;
  }
  async linearizableRead(opts?: WaitOptions): Promise<void> {
    await this.wait("read", opts);
    this.reads++;
  }
  async addMember(id: number, url: string, opts?: { learner?: boolean }): Promise<void> {
    this.calls.push(`add ${id} ${url} ${opts?.learner}`);
  }
  async removeMember(id: number): Promise<void> {
    this.calls.push(`remove ${id}`);
  }
  async promoteMember(id: number): Promise<void> {
    this.calls.push(`promote ${id}`);
  }
  members(): Member[] {
    return this.memberList;
  }
  status(): RaftNodeStatus {
    const self = {
      match: 3,
      next: 4,
      state: "StateReplicate",
      learner: false,
      recentActive: true,
      paused: false,
    };
    return {
      id: 1,
      term: 2,
      vote: 1,
      commit: 3,
      applied: 3,
      lead: 1,
      state: "StateLeader",
      leadTransferee: 0,
      snapshotIndex: 0,
      progress: { "1": self },
      members: this.memberList,
    };
  }
  leader(): number {
    return 1;
  }
}

const LIMIT = 1024;
let dir: string;
let sm: SqliteStateMachine;
let node: FakeNode;
let server: Server;
let base: string;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tsraft-kv-http-"));
  sm = SqliteStateMachine.open(dir);
  node = new FakeNode(sm);
  server = createKvHttpServer({
    node,
    store: sm,
    logger: pino({ level: "silent" }),
    registry: new Registry(),
    maxRequestBytes: LIMIT,
    requestTimeoutMs: 1000,
    headersTimeoutMs: 300,
    bodyTimeoutMs: 600,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  sm.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  node.mode = "apply";
});

async function json(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get("content-type")).toBe("application/json");
  return (await res.json()) as Record<string, unknown>;
}

describe("KV routes", () => {
  it("puts, gets (linearizable by default), deletes", async () => {
    expect((await fetch(`${base}/kv/greeting`, { method: "PUT", body: "hello" })).status).toBe(204);
    const reads = node.reads;
    const got = await fetch(`${base}/kv/greeting`);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("application/octet-stream");
    expect(await got.text()).toBe("hello");
    expect(node.reads).toBe(reads + 1);
    const serial = await fetch(`${base}/kv/greeting?consistency=serializable`);
    expect(await serial.text()).toBe("hello");
    expect(node.reads).toBe(reads + 1); // no ReadIndex for a serializable read
    expect((await fetch(`${base}/kv/greeting`, { method: "DELETE" })).status).toBe(204);
    const gone = await fetch(`${base}/kv/greeting`);
    expect(gone.status).toBe(404);
    expect(await json(gone)).toEqual({ error: "key not found", code: "KeyNotFound" });
  });

  it("compare-and-swap: 204 on a match, 412 with the current value otherwise", async () => {
    await fetch(`${base}/kv/cas`, { method: "PUT", body: "one" });
    expect((await fetch(`${base}/kv/cas?prev=one`, { method: "PUT", body: "two" })).status).toBe(204);
    const miss = await fetch(`${base}/kv/cas?prev=one`, { method: "PUT", body: "three" });
    expect(miss.status).toBe(412);
    expect(await json(miss)).toEqual({
      error: "the current value is not prev",
      code: "CompareFailed",
      current: "two",
    });
    const absent = await fetch(`${base}/kv/never-set?prev=x`, { method: "PUT", body: "y" });
    expect(await json(absent)).toMatchObject({ code: "CompareFailed", current: null });
    expect(await (await fetch(`${base}/kv/cas`)).text()).toBe("two");
    // Compare-and-delete.
    expect((await fetch(`${base}/kv/cas?prev=one`, { method: "DELETE" })).status).toBe(412);
    expect((await fetch(`${base}/kv/cas?prev=two`, { method: "DELETE" })).status).toBe(204);
  });

  it("values are opaque bytes; keys may contain / and percent-escapes", async () => {
    const value = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect((await fetch(`${base}/kv/dir/sub%20key`, { method: "PUT", body: value })).status).toBe(204);
    const got = await fetch(`${base}/kv/dir/sub key`);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(value);
    expect((await fetch(`${base}/kv/dir%2Fsub%20key?consistency=serializable`)).status).toBe(200);
  });

  it("echoes X-Request-Id, or makes one up", async () => {
    const mine = await fetch(`${base}/health`, { headers: { "x-request-id": "abc-123" } });
    expect(mine.headers.get("x-request-id")).toBe("abc-123");
    const made = await fetch(`${base}/health`, { headers: { "x-request-id": "bad id with spaces" } });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("bad input", () => {
  const cases: [string, string, RequestInit, number, string][] = [
    ["empty key", "/kv/", {}, 400, "InvalidKey"],
    ["malformed percent-escape", "/kv/%ZZ", {}, 400, "InvalidKey"],
    ["percent-escape that is not UTF-8", "/kv/%FF", {}, 400, "InvalidKey"],
    [
      "key over the limit",
      `/kv/${"k".repeat(MAX_KEY_BYTES + 1)}`,
      { method: "PUT", body: "v" },
      400,
      "KeyTooLong",
    ],
    ["unknown path", "/nope", {}, 404, "NotFound"],
    ["unknown query parameter", "/kv/a?consistancy=serializable", {}, 400, "BadQuery"],
    ["bad consistency", "/kv/a?consistency=eventual", {}, 400, "BadQuery"],
    ["prev on a GET", "/kv/a?prev=x", {}, 400, "BadQuery"],
    ["method not allowed", "/kv/a", { method: "POST", body: "x" }, 405, "MethodNotAllowed"],
    ["members: not JSON", "/members", { method: "POST", body: "{id: 4" }, 400, "InvalidJSON"],
    ["members: not an object", "/members", { method: "POST", body: "[4]" }, 400, "InvalidMember"],
    [
      "members: id 0",
      "/members",
      { method: "POST", body: '{"id":0,"url":"ws://h:1"}' },
      400,
      "InvalidMemberId",
    ],
    [
      "members: id -1",
      "/members",
      { method: "POST", body: '{"id":-1,"url":"ws://h:1"}' },
      400,
      "InvalidMemberId",
    ],
    [
      "members: id 1.5",
      "/members",
      { method: "POST", body: '{"id":1.5,"url":"ws://h:1"}' },
      400,
      "InvalidMemberId",
    ],
    [
      "members: id a string",
      "/members",
      { method: "POST", body: '{"id":"4","url":"ws://h:1"}' },
      400,
      "InvalidMemberId",
    ],
    [
      "members: id too big",
      "/members",
      { method: "POST", body: '{"id":9007199254740993,"url":"ws://h:1"}' },
      400,
      "InvalidMemberId",
    ],
    [
      "members: http url",
      "/members",
      { method: "POST", body: '{"id":4,"url":"http://h:1"}' },
      400,
      "InvalidMember",
    ],
    [
      "members: url without port",
      "/members",
      { method: "POST", body: '{"id":4,"url":"ws://h"}' },
      400,
      "InvalidMember",
    ],
    [
      "members: learner not boolean",
      "/members",
      { method: "POST", body: '{"id":4,"url":"ws://h:1","learner":"yes"}' },
      400,
      "InvalidMember",
    ],
    [
      "members: unknown field",
      "/members",
      { method: "POST", body: '{"id":4,"url":"ws://h:1","voter":true}' },
      400,
      "InvalidMember",
    ],
    ["remove: id not a number", "/members/abc", { method: "DELETE" }, 400, "InvalidMemberId"],
    ["remove: id 0", "/members/0", { method: "DELETE" }, 400, "InvalidMemberId"],
    ["promote: bad id", "/members/x/promote", { method: "POST" }, 400, "InvalidMemberId"],
    ["members: unknown sub-route", "/members/4/demote", { method: "POST" }, 404, "NotFound"],
  ];
  for (const [what, path, init, status, code] of cases) {
    it(`${what} → ${status} ${code}`, async () => {
      const calls = node.calls.length;
      const index = node.index;
      const res = await fetch(`${base}${path}`, init);
      expect(res.status).toBe(status);
      const body = await json(res);
      expect(body.code).toBe(code);
      expect(typeof body.error).toBe("string");
      expect(node.calls.length).toBe(calls); // nothing reached the node
      expect(node.index).toBe(index);
    });
  }

  it("a key of exactly the limit is accepted", async () => {
    const key = "k".repeat(MAX_KEY_BYTES);
    expect((await fetch(`${base}/kv/${key}`, { method: "PUT", body: "v" })).status).toBe(204);
    expect(await (await fetch(`${base}/kv/${key}`)).text()).toBe("v");
  });

  it("413 for a declared body above --max-request-bytes, and the connection stays usable", async () => {
    const index = node.index;
    const res = await fetch(`${base}/kv/big`, { method: "PUT", body: "x".repeat(LIMIT + 1) });
    expect(res.status).toBe(413);
    expect(await json(res)).toMatchObject({ code: "RequestTooLarge" });
    expect(node.index).toBe(index);
    expect((await fetch(`${base}/kv/big`, { method: "PUT", body: "x".repeat(LIMIT) })).status).toBe(204);
  });

  it("413 for a streamed (chunked) body as soon as it crosses the limit, without reading the rest", async () => {
    const index = node.index;
    const { status, body, sentAfter } = await new Promise<{
      status: number;
      body: string;
      sentAfter: number;
    }>((resolve, reject) => {
      let sent = 0;
      let sentAtAnswer = -1;
      const req = request(`${base}/kv/stream`, {
        method: "PUT",
        headers: { "transfer-encoding": "chunked" },
      });
      req.on("error", () => {}); // the server cuts the socket after its grace
      req.on("response", (res) => {
        sentAtAnswer = sent;
        let body = "";
        res.on("data", (d: Buffer) => {
          body += d.toString();
        });
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body, sentAfter: sentAtAnswer });
          req.destroy();
        });
      });
      // Keep sending 256-byte chunks, slowly, for much longer than the limit.
      const timer = setInterval(() => {
        if (sentAtAnswer >= 0 || sent > 200 * LIMIT) {
          clearInterval(timer);
          if (sentAtAnswer < 0) reject(new Error("no answer while streaming"));
          return;
        }
        req.write(Buffer.alloc(256, 0x61));
        sent += 256;
      }, 5);
    });
    expect(status).toBe(413);
    expect(JSON.parse(body)).toMatchObject({ code: "RequestTooLarge" });
    expect(sentAfter).toBeLessThan(20 * LIMIT); // answered early, not at the end of the stream
    expect(node.index).toBe(index);
  });

  it("413 before the body with Expect: 100-continue", async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/kv/big`, {
        method: "PUT",
        headers: { expect: "100-continue", "content-length": String(LIMIT * 10) },
      });
      req.on("continue", () => reject(new Error("server asked for the body")));
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
  });
});

describe("node failures and slow clients", () => {
  it("503 with Retry-After without a leader, for writes and linearizable reads", async () => {
    node.mode = "no-leader";
    for (const init of [{ method: "PUT", body: "v" }, {}]) {
      const res = await fetch(`${base}/kv/x`, init);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await json(res)).toMatchObject({ code: "NoLeader" });
    }
    // A serializable read does not need the leader.
    expect((await fetch(`${base}/kv/x?consistency=serializable`)).status).toBe(404);
  });

  it("504 when the node times out waiting for the commit", async () => {
    node.mode = "timeout";
    const res = await fetch(`${base}/kv/x`, { method: "PUT", body: "v" });
    expect(res.status).toBe(504);
    expect(await json(res)).toMatchObject({ code: "Timeout" });
  });

  it("a client that goes away releases its waiter", async () => {
    node.mode = "hang";
    const before = node.aborted.length;
    for (const init of [{ method: "PUT", body: "v" }, { method: "GET" }]) {
      const ac = new AbortController();
      const p = fetch(`${base}/kv/abandoned`, { ...init, signal: ac.signal });
      await new Promise((r) => setTimeout(r, 100));
      ac.abort();
      await expect(p).rejects.toThrow();
    }
    await waitFor(() => node.aborted.length === before + 2);
    expect(node.aborted.slice(before)).toEqual(["propose", "read"]);
  });

  it("a client that never finishes its headers is cut off (slowloris)", async () => {
    const closedAfter = await rawClient("GET /kv/a HTTP/1.1\r\nHost: x\r\nX-Slow: ");
    expect(closedAfter.ms).toBeLessThan(3000);
  });

  it("a client that never finishes its body gets 408 and is cut off", async () => {
    const r = await rawClient("PUT /kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-a-bit");
    expect(r.data).toMatch(/^HTTP\/1.1 408/);
    expect(r.ms).toBeLessThan(3000);
  });
});

describe("operator surface", () => {
  it("members: list, add (learner), promote, remove", async () => {
    const list = await fetch(`${base}/members`);
    expect(await json(list)).toEqual({ members: node.memberList });
    const add = await fetch(`${base}/members`, {
      method: "POST",
      body: JSON.stringify({ id: 4, url: "ws://127.0.0.1:42379", learner: true }),
    });
    expect(add.status).toBe(201);
    expect(await json(add)).toEqual({ id: 4, url: "ws://127.0.0.1:42379", learner: true });
    expect((await fetch(`${base}/members/4/promote`, { method: "POST" })).status).toBe(204);
    expect((await fetch(`${base}/members/4`, { method: "DELETE" })).status).toBe(204);
    expect(node.calls.slice(-3)).toEqual(["add 4 ws://127.0.0.1:42379 true", "promote 4", "remove 4"]);
  });

  it("/status, /health and /metrics", async () => {
    const status = await json(await fetch(`${base}/status`));
    expect(status).toMatchObject({ id: 1, lead: 1, progress: { 1: { match: 3 } } });
    expect(status.kv).toEqual({ appliedIndex: sm.appliedIndex(), revision: sm.revision(), keys: sm.count() });
    expect(await json(await fetch(`${base}/health`))).toEqual({ health: true, id: 1, leader: 1 });
    const hash = await json(await fetch(`${base}/debug/hash`));
    expect(hash).toEqual(sm.stateHash());
    expect(hash.hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await fetch(`${base}/debug/nothing`)).status).toBe(404);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/tsraft_kv_http_requests_total\{route="kv",method="PUT",code="204"\} [1-9]/);
    expect(text).toContain("tsraft_kv_http_request_duration_seconds_bucket");
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Writes `text` on a raw socket and waits for the server to close it; returns what came back. */
function rawClient(text: string): Promise<{ data: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = connect(port, "127.0.0.1", () => s.write(text));
    let data = "";
    s.on("data", (d) => {
      data += d.toString();
    });
    s.on("error", () => {});
    s.on("close", () => resolve({ data, ms: Date.now() - started }));
    setTimeout(() => {
      s.destroy();
      reject(new Error("server kept the connection open"));
    }, 5000);
  });
}
