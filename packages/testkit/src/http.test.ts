import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { errorCodeOf, httpRequest, parseJson } from "./http.js";
import { freePorts } from "./ports.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A server on 127.0.0.1 answering with `handler`; its port. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return (s.address() as { port: number }).port;
}

describe("httpRequest", () => {
  it("sends the method, path, headers and body, and gives the status and body", async () => {
    const port = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.writeHead(201, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            m: req.method,
            p: req.url,
            k: req.headers["idempotency-key"],
            b: `${Buffer.concat(chunks)}`,
          }),
        );
      });
    });
    const r = await httpRequest({
      method: "PUT",
      port,
      path: "/kv/a%2Fb?x=1",
      body: "héllo",
      headers: { "idempotency-key": "k1" },
      timeoutMs: 5000,
    });
    expect(r).toMatchObject({
      kind: "answer",
      status: 201,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ m: "PUT", p: "/kv/a%2Fb?x=1", k: "k1", b: "héllo" }),
    });
    const bytes = await httpRequest({
      method: "POST",
      port,
      path: "/",
      body: Uint8Array.of(0x61, 0x62),
      timeoutMs: 5000,
    });
    expect(bytes.kind === "answer" && (parseJson(bytes.body) as { b: string }).b).toBe("ab");
  });

  it("drops the body with discardBody, keeping the status", async () => {
    const port = await serve((_req, res) => {
      res.writeHead(503);
      res.end("x".repeat(100_000));
    });
    expect(
      await httpRequest({ method: "GET", port, path: "/", timeoutMs: 5000, discardBody: true }),
    ).toMatchObject({
      kind: "answer",
      status: 503,
      body: "",
    });
  });

  it("tells a refused connection (never sent) from a timeout (may have been)", async () => {
    const [closed] = await freePorts(1);
    expect(
      await httpRequest({ method: "PUT", port: closed!, path: "/", body: "v", timeoutMs: 5000 }),
    ).toEqual({
      kind: "failure",
      refused: true,
      error: "ECONNREFUSED",
    });
    // A server that takes the request and never answers: the hard timeout ends it.
    const port = await serve(() => {});
    expect(await httpRequest({ method: "PUT", port, path: "/", body: "v", timeoutMs: 200 })).toEqual({
      kind: "failure",
      refused: false,
      error: "ETIMEDOUT",
    });
  });

  it("errorCodeOf reads tsraft-kv's error bodies, and nothing else", () => {
    expect(errorCodeOf('{"error":"no leader","code":"NoLeader"}')).toBe("NoLeader");
    expect(errorCodeOf('{"code":5}')).toBeUndefined();
    expect(errorCodeOf("not json")).toBeUndefined();
    expect(parseJson("not json")).toBeUndefined();
  });
});
