/**
 * The `tsraft-kv` process itself: --help, usage errors, and the bad-input answers of a real
 * one-node server (413 above --max-request-bytes, over-long keys, bad JSON and ids), plus a clean
 * stop on SIGTERM.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CLI, CLI_MISSING, type Cluster, sharedCluster } from "./cluster.js";

describe.skipIf(CLI_MISSING)("tsraft-kv", () => {
  it("--help lists the flags and exits 0", () => {
    const r = spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    for (const flag of [
      "--id",
      "--cluster",
      "--port",
      "--join",
      "--data-dir",
      "--snapshot-count",
      "--log-level",
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain("--peer-token-file");
    expect(r.stdout).toContain("--peer-cert-file");
  });

  it("usage errors exit 2 and say what is wrong", () => {
    const r = spawnSync(process.execPath, [CLI, "--id", "9", "--cluster", "ws://127.0.0.1:1"], {
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--id 9 is not in --cluster");
    expect(spawnSync(process.execPath, [CLI, "--frobnicate"], { encoding: "utf8" }).status).toBe(2);
  });

  describe("bad input against a running server", () => {
    let c: Cluster;
    sharedCluster({ size: 1, args: ["--max-request-bytes", "1000"] }, (started) => {
      c = started;
    });

    it("refuses what it must, with JSON errors", async () => {
      const url = c.node(1).url;
      const expectError = async (res: Response, status: number, code: string) => {
        expect(res.status).toBe(status);
        expect(res.headers.get("content-type")).toBe("application/json");
        expect(((await res.json()) as { code: string }).code).toBe(code);
      };
      await expectError(
        await fetch(`${url}/kv/a`, { method: "PUT", body: "x".repeat(1001) }),
        413,
        "RequestTooLarge",
      );
      expect((await fetch(`${url}/kv/a`, { method: "PUT", body: "x".repeat(1000) })).status).toBe(204);
      await expectError(
        await fetch(`${url}/kv/${"k".repeat(4097)}`, { method: "PUT", body: "v" }),
        400,
        "KeyTooLong",
      );
      await expectError(await fetch(`${url}/kv/`), 400, "InvalidKey");
      await expectError(await fetch(`${url}/members`, { method: "POST", body: "{" }), 400, "InvalidJSON");
      await expectError(await fetch(`${url}/members/x`, { method: "DELETE" }), 400, "InvalidMemberId");
      await expectError(await fetch(`${url}/nothing/here`), 404, "NotFound");
      // Conf-change refusals from the node itself.
      await expectError(await fetch(`${url}/members/7`, { method: "DELETE" }), 404, "MemberNotFound");
      await expectError(await fetch(`${url}/members/1/promote`, { method: "POST" }), 409, "MemberNotLearner");
      // The server still works.
      expect(await c.get(1, "a")).toEqual([200, "x".repeat(1000)]);
    });

    it("stops cleanly on SIGTERM (exit 0)", async () => {
      const n = c.node(1);
      n.proc!.kill("SIGTERM");
      expect(await n.exitCode()).toBe(0);
    });
  });
});
