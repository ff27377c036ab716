/**
 * The client API's security on a real `tsraft-kv` process, with real certificates made here
 * (openssl; test/kv/certs.ts):
 *
 * - HTTPS PUT and GET with a client certificate the `--client-ca-file` CA signed; a client without
 *   a certificate, or with one of another CA, is refused in the handshake;
 * - certificates reload without a restart: on SIGHUP, and by themselves when the files change;
 * - bearer tokens: every route checked against the role table (no token, a wrong token, read,
 *   readwrite, admin: 401, 403 or served), `/health` open, `/metrics` behind `--metrics-public`;
 *   the token file reloads on SIGHUP;
 * - no token ever appears in the process's output (logs at trace level).
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, type ServerProcess, startKvNode } from "@tsraft/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Ca, type CertFiles, httpsRequest, issue, makeCa } from "./certs.js";
import { CLI_MISSING, FAST_RAFT, waitFor } from "./cluster.js";

const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-security-"));
const servers: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.map((p) => p.kill()));
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a one-node tsraft-kv with `args`, keeping all of its output. */
async function startNode(name: string, args: string[]) {
  const [peer, http] = await freePorts(2);
  const server = startKvNode(
    {
      id: 1,
      httpPort: http!,
      dataDir: join(dir, name),
      args: ["--cluster", `ws://127.0.0.1:${peer}`, ...FAST_RAFT, ...args],
    },
    { keepLines: Number.POSITIVE_INFINITY },
  );
  servers.push(server);
  return { proc: server.child, port: http!, output: server.output };
}

describe.skipIf(CLI_MISSING)("client TLS", () => {
  let ca: Ca;
  let other: Ca;
  let server: CertFiles;
  let client: CertFiles;
  let rogue: CertFiles;
  let node: Awaited<ReturnType<typeof startNode>>;
  const certFile = join(dir, "live-server.crt");
  const keyFile = join(dir, "live-server.key");
  const url = (path: string) => `https://127.0.0.1:${node.port}${path}`;

  beforeAll(async () => {
    ca = makeCa(dir, "client-api-ca");
    other = makeCa(dir, "other-ca");
    server = issue(dir, ca, "server-1", "server-one", true);
    client = issue(dir, ca, "client", "a-client", false);
    rogue = issue(dir, other, "rogue", "a-rogue", false);
    copyFileSync(server.cert, certFile);
    copyFileSync(server.key, keyFile);
    node = await startNode("tls", [
      "--cert-file",
      certFile,
      "--key-file",
      keyFile,
      "--client-ca-file",
      ca.cert,
    ]);
    await waitFor("the HTTPS API", async () => {
      const r = await httpsRequest(url("/health"), { ca: ca.cert, client });
      return "status" in r && r.status === 200;
    });
  });

  it("serves PUT and GET over HTTPS to a client whose certificate the CA signed", async () => {
    const put = await waitFor("a leader", async () => {
      const r = await httpsRequest(url("/kv/secret"), { method: "PUT", body: "s3", ca: ca.cert, client });
      return "status" in r && r.status !== 503 ? r : undefined;
    });
    expect("status" in put && put.status).toBe(204);
    const get = await httpsRequest(url("/kv/secret"), { ca: ca.cert, client });
    expect("status" in get && [get.status, get.body, get.peerCn]).toEqual([200, "s3", "server-one"]);
  });

  it("refuses a client without a certificate, or with one another CA signed", async () => {
    for (const c of [undefined, rogue]) {
      const r = await httpsRequest(url("/kv/secret"), {
        ca: ca.cert,
        ...(c === undefined ? {} : { client: c }),
      });
      expect("error" in r, JSON.stringify(r)).toBe(true);
    }
    // And a plain-HTTP request gets no answer from the API.
    const plain = await fetch(`http://127.0.0.1:${node.port}/health`).then(
      (r) => r.status,
      () => 0,
    );
    expect(plain).not.toBe(200);
  });

  it("reloads its certificate on SIGHUP and when the files change, without a restart", async () => {
    const pid = node.proc.pid;
    const two = issue(dir, ca, "server-2", "server-two", true);
    copyFileSync(two.key, keyFile);
    copyFileSync(two.cert, certFile);
    node.proc.kill("SIGHUP");
    await waitFor("the new certificate after SIGHUP", async () => {
      const r = await httpsRequest(url("/health"), { ca: ca.cert, client });
      return "peerCn" in r && r.peerCn === "server-two";
    });
    // Now without a signal: the files are watched.
    const three = issue(dir, ca, "server-3", "server-three", true);
    copyFileSync(three.key, keyFile);
    copyFileSync(three.cert, certFile);
    await waitFor("the new certificate after the files changed", async () => {
      const r = await httpsRequest(url("/health"), { ca: ca.cert, client });
      return "peerCn" in r && r.peerCn === "server-three";
    });
    // A broken pair is refused and the last good one kept.
    writeFileSync(keyFile, "not a key");
    node.proc.kill("SIGHUP");
    await waitFor("the failed reload to be logged", async () =>
      node.output.join("").includes("keeping the previous one"),
    );
    const r = await httpsRequest(url("/kv/secret"), { ca: ca.cert, client });
    expect("status" in r && [r.status, r.body, r.peerCn]).toEqual([200, "s3", "server-three"]);
    expect(node.proc.pid).toBe(pid);
    expect(node.proc.exitCode).toBeNull();
  });
});

/** Every route and what it needs (the README's role table). */
const ROUTES: [
  method: string,
  path: string,
  body: string | undefined,
  need: "none" | "read" | "readwrite" | "admin",
][] = [
  ["GET", "/health", undefined, "none"],
  ["GET", "/metrics", undefined, "read"],
  ["GET", "/status", undefined, "read"],
  ["GET", "/kv/a", undefined, "read"],
  ["HEAD", "/kv/a", undefined, "read"],
  ["PUT", "/kv/a", "1", "readwrite"],
  ["DELETE", "/kv/b", undefined, "readwrite"],
  ["GET", "/members", undefined, "read"],
  ["POST", "/members", "{}", "admin"],
  ["DELETE", "/members/9", undefined, "admin"],
  ["POST", "/members/9/promote", undefined, "admin"],
  ["GET", "/backup", undefined, "admin"],
  ["GET", "/debug/hash", undefined, "admin"],
  ["GET", "/no-such-route", undefined, "read"],
];
const RANK = { none: 0, read: 1, readwrite: 2, admin: 3 } as const;

describe.skipIf(CLI_MISSING)("bearer tokens", () => {
  const tokens = {
    read: "read-token-0123456789abcdef",
    readwrite: "readwrite-token-0123456789abcdef",
    admin: "admin-token-0123456789abcdef",
  };
  const wrong = "wrong-token-0123456789abcdef";
  const tokenFile = join(dir, "tokens");
  let node: Awaited<ReturnType<typeof startNode>>;
  const call = async (method: string, path: string, token: string | undefined, body?: string) => {
    const res = await fetch(`http://127.0.0.1:${node.port}${path}`, {
      method,
      ...(body === undefined ? {} : { body }),
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    return { status: res.status, body: text, auth: res.headers.get("www-authenticate") };
  };

  beforeAll(async () => {
    writeFileSync(
      tokenFile,
      `# role tokens for the test\n${tokens.read} read\n${tokens.readwrite} readwrite\n\n${tokens.admin}   admin\n`,
    );
    node = await startNode("auth", ["--auth-token-file", tokenFile, "--log-level", "trace"]);
    await waitFor("a leader", async () => (await call("PUT", "/kv/a", tokens.admin, "0")).status === 204);
  });

  it("checks every route against the role table", async () => {
    const rows: string[] = [];
    for (const [method, path, body, need] of ROUTES) {
      const as: [string, string | undefined, number][] = [
        ["no token", undefined, 0],
        ["wrong token", wrong, 0],
        ["read", tokens.read, 1],
        ["readwrite", tokens.readwrite, 2],
        ["admin", tokens.admin, 3],
      ];
      const got: string[] = [];
      for (const [who, token, rank] of as) {
        const r = await call(method, path, token, body);
        got.push(`${who} ${r.status}`);
        if (need === "none") expect(r.status, `${method} ${path} as ${who}`).not.toBeOneOf([401, 403]);
        else if (token === undefined || token === wrong) {
          expect(r.status, `${method} ${path} as ${who}`).toBe(401);
          expect(r.auth).toMatch(/^Bearer /);
        } else if (rank < RANK[need]) expect(r.status, `${method} ${path} as ${who}`).toBe(403);
        else expect(r.status, `${method} ${path} as ${who}: ${r.body}`).not.toBeOneOf([401, 403]);
      }
      rows.push(`${method} ${path} (${need}): ${got.join(", ")}`);
    }
    console.log(rows.join("\n"));
    // A read token may read what a readwrite token wrote.
    expect(await call("PUT", "/kv/x", tokens.readwrite, "v")).toMatchObject({ status: 204 });
    expect(await call("GET", "/kv/x", tokens.read)).toMatchObject({ status: 200, body: "v" });
    expect(await call("PUT", "/kv/x", tokens.read, "w")).toMatchObject({ status: 403 });
  });

  it("reloads the token file on SIGHUP", async () => {
    const fresh = "fresh-token-0123456789abcdef";
    writeFileSync(tokenFile, `${fresh} readwrite\n${tokens.admin} admin\n`);
    node.proc.kill("SIGHUP");
    await waitFor("the new token", async () => (await call("PUT", "/kv/y", fresh, "1")).status === 204);
    expect((await call("GET", "/kv/y", tokens.read)).status).toBe(401);
  });

  it("never writes a token to its output", async () => {
    const out = node.output.join("");
    expect(out.length).toBeGreaterThan(10_000); // trace level: plenty was logged
    expect(out).toContain('"status":401');
    for (const t of [...Object.values(tokens), wrong, "fresh-token-0123456789abcdef"])
      expect(out).not.toContain(t);
  });

  it("serves /metrics without a token only with --metrics-public", async () => {
    const open = await startNode("metrics", ["--auth-token-file", tokenFile, "--metrics-public"]);
    await waitFor("the API", async () => {
      const r = await fetch(`http://127.0.0.1:${open.port}/metrics`).catch(() => undefined);
      return r?.status === 200;
    });
    const status = await fetch(`http://127.0.0.1:${open.port}/status`).then((r) => r.status);
    expect(status).toBe(401);
  });
});
