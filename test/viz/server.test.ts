/**
 * The visualizer's server (packages/viz/server/serve.ts): static files from the built directory and
 * nothing outside it, and a proxy that forwards only the `tsraft-kv` routes the Live tab needs.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startVizServer, type VizServer } from "../../packages/viz/server/serve.js";

describe("the visualizer's server", () => {
  let dir: string;
  let viz: VizServer;
  let upstream: Server;
  let upstreamUrl: string;
  const seen: { method: string; url: string; body: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tsraft-viz-server-"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>viz</title>");
    writeFileSync(join(dir, "app.js"), "console.log(1)");
    viz = await startVizServer({ dir });
    // A stand-in for a tsraft-kv node.
    upstream = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        seen.push({ method: req.method ?? "", url: req.url ?? "", body });
        if (req.url === "/status") {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ id: 1, state: "StateLeader" }));
        } else {
          res.writeHead(204);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await viz.close();
    await new Promise((r) => upstream.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const proxy = (target: string, init?: RequestInit) =>
    fetch(`${viz.url}proxy?url=${encodeURIComponent(target)}`, init);

  it("listens on 127.0.0.1 and serves the page, nothing outside its directory", async () => {
    expect(viz.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await fetch(viz.url);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toContain("text/html");
    expect((await fetch(`${viz.url}app.js`)).headers.get("content-type")).toContain("text/javascript");
    expect((await fetch(`${viz.url}missing.js`)).status).toBe(404);
    expect((await fetch(`${viz.url}%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
    expect((await fetch(viz.url, { method: "POST" })).status).toBe(405);
  });

  it("forwards GET /status and PUT /kv/... with its body", async () => {
    const st = await proxy(`${upstreamUrl}/status`);
    expect(st.status).toBe(200);
    expect(await st.json()).toEqual({ id: 1, state: "StateLeader" });
    const put = await proxy(`${upstreamUrl}/kv/a%20key`, { method: "PUT", body: "value" });
    expect(put.status).toBe(204);
    expect(seen.at(-1)).toEqual({ method: "PUT", url: "/kv/a%20key", body: "value" });
  });

  it("refuses other routes, methods and schemes, and reports unreachable nodes", async () => {
    const n = seen.length;
    expect((await proxy(`${upstreamUrl}/metrics`)).status).toBe(403);
    expect((await proxy(`${upstreamUrl}/members`, { method: "POST", body: "{}" })).status).toBe(403);
    expect((await proxy(`${upstreamUrl}/status`, { method: "PUT", body: "x" })).status).toBe(405);
    expect((await proxy("file:///etc/passwd")).status).toBe(403);
    expect((await proxy("not a url")).status).toBe(400);
    expect(seen.length).toBe(n);
    const [closed] = await freePorts(1);
    const down = await proxy(`http://127.0.0.1:${closed}/status`);
    expect(down.status).toBe(502);
    expect(((await down.json()) as { error: string }).error).toContain("unreachable");
  });
});
