/**
 * Issue 17: the published packages as a stranger gets them. `@tsraft/raft`, `@tsraft/node` and
 * `@tsraft/kv` are packed by pnpm (the release path), checked as tarballs (contents, manifests,
 * attw with the esm-only profile, publint), installed by npm into a project outside the workspace,
 * type-checked by strict tsc with `skipLibCheck: false`, imported by plain Node; the READMEs'
 * examples, read from the installed packages, compile and run; and the installed `tsraft-kv` bin
 * runs (`npx tsraft-kv --help`, `npx @tsraft/kv --help`, then a one-node cluster answering PUT and GET).
 *
 * Needs the built dist/ (`pnpm test` runs `tsc -b` first). About a minute on an idle 2-vCPU machine:
 * npm installs from its cache (`--prefer-offline`), and better-sqlite3's install script finds the
 * workspace's own build of the same version as its prebuilt binary (see `sqlitePrebuild`);
 * TSRAFT_PACKAGING_COMPILE=1 makes it compile SQLite from source instead (about 80 s more). The
 * install-dependent tests are skipped, with the reason, only when the npm registry is unreachable.
 * TSRAFT_PACKAGING_KEEP=1 keeps the temporary directory (its path is printed).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { afterAll, beforeAll, describe, expect, it, type TestContext } from "vitest";
import { ROOT, waitFor } from "../kv/cluster.js";
import { describeResult, runCommand, userEnv } from "./commands.js";
import {
  ancestorNodeModules,
  ENTRY_POINTS,
  INSTALL_TIMEOUT_MS,
  type InstallOutcome,
  installProject,
  sqlitePrebuild,
  writeExamples,
  writeProject,
} from "./consumer-project.js";
import { PUBLISHED, packAll, parsePublishDryRun, type Tarball, unexpectedEntries } from "./tarballs.js";

const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const DIST_MISSING = PUBLISHED.filter((d) => !existsSync(join(ROOT, "packages", d, "dist", "index.js")));

describe("the npm packages, packed and installed as a stranger would", () => {
  const work = mkdtempSync(join(tmpdir(), "tsraft-packaging-"));
  const tarballDir = join(work, "tarballs");
  const project = join(work, "project");
  let tarballs: Tarball[] = [];
  let install: InstallOutcome | undefined;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    if (DIST_MISSING.length > 0) {
      const missing = DIST_MISSING.map((d) => `packages/${d}/dist`).join(", ");
      throw new Error(`${missing} not built: run corepack pnpm build (pnpm test builds first)`);
    }
    mkdirSync(tarballDir);
    mkdirSync(project);
    const leak = ancestorNodeModules(project);
    if (leak)
      throw new Error(`${leak} exists: Node and tsc would resolve from it, so the test would prove nothing`);
    tarballs = await packAll(ROOT, tarballDir);
    const sqlite = await sqlitePrebuild(ROOT, join(work, "prebuilds"));
    writeProject(project, tarballs, sqlite);
    install = await installProject(project, sqlite?.env);
    if (install.kind === "installed") {
      const compiled = existsSync(
        join(project, "node_modules", "better-sqlite3", "build", "Release", "obj.target"),
      );
      const how = compiled
        ? "better-sqlite3 compiled from source"
        : `better-sqlite3 ${sqlite?.version} prebuilt, from the workspace's build`;
      console.log(`packaging: npm install took ${install.ms} ms (${how}) in ${project}`);
      const [peer, http] = await freePorts(2);
      writeExamples(project, { peer: peer!, http: http! });
    }
  }, INSTALL_TIMEOUT_MS + 180_000);

  afterAll(() => {
    for (const p of procs) p.kill("SIGKILL");
    if (process.env.TSRAFT_PACKAGING_KEEP === "1") console.log(`packaging: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });

  /** Skips (the registry is unreachable) or fails (the install failed) a test that needs the install. */
  function needInstall(ctx: TestContext): void {
    if (install?.kind === "unreachable") ctx.skip(install.reason);
    if (install?.kind !== "installed")
      throw new Error(install?.kind === "failed" ? install.message : "no install");
  }

  it("each tarball holds exactly dist/, README.md, LICENSE and package.json", () => {
    expect(tarballs.map((t) => t.name)).toEqual(["@tsraft/raft", "@tsraft/node", "@tsraft/kv"]);
    for (const t of tarballs) {
      expect(unexpectedEntries(t.entries), t.name).toEqual([]);
      for (const must of ["README.md", "LICENSE", "package.json", "dist/index.js", "dist/index.d.ts"]) {
        expect(t.entries, `${t.name} ships ${must}`).toContain(must);
      }
      // Declaration maps would point into src/, which is not shipped; the .js maps carry their sources.
      expect(
        t.entries.filter((e) => e.endsWith(".d.ts.map") || e.endsWith(".tsbuildinfo")),
        t.name,
      ).toEqual([]);
      expect(
        t.entries.filter((e) => e.endsWith(".test.js")),
        t.name,
      ).toEqual([]);
    }
  });

  it("the packed manifests name real versions (no workspace:) and carry npm's metadata", () => {
    const versions = new Map(tarballs.map((t) => [t.name, t.version]));
    for (const t of tarballs) {
      const m = t.manifest;
      expect(JSON.stringify(m), t.name).not.toContain("workspace:");
      for (const [dep, range] of Object.entries((m.dependencies ?? {}) as Record<string, string>)) {
        if (versions.has(dep)) expect(range, `${t.name} -> ${dep}`).toBe(versions.get(dep));
      }
      expect(m.license).toBe("Apache-2.0");
      expect(m.engines).toEqual({ node: ">=20" });
      expect(m.repository).toEqual({
        type: "git",
        url: "git+https://github.com/tsraft/tsraft.git",
        directory: `packages/${t.dir}`,
      });
      expect(m.homepage).toBe("https://github.com/tsraft/tsraft#readme");
      expect(m.type).toBe("module");
      expect(m).toHaveProperty("sideEffects");
      expect((m.keywords as string[]).length).toBeGreaterThan(0);
    }
    const licence = readFileSync(join(ROOT, "LICENSE"), "utf8");
    expect(licence).toContain("Apache License\n                           Version 2.0, January 2004");
    for (const d of PUBLISHED)
      expect(readFileSync(join(ROOT, "packages", d, "LICENSE"), "utf8")).toBe(licence);
    // The CLI is a bin the tarball ships.
    const kv = tarballs.find((t) => t.dir === "kv")!;
    const bins = kv.manifest.bin as Record<string, string>;
    expect(Object.keys(bins)).toEqual(["tsraft-kv"]);
    expect(kv.entries).toContain(bins["tsraft-kv"]!.replace(/^\.\//, ""));
  });

  it("`pnpm -r publish --dry-run` would publish the three packages with exactly those files", async () => {
    // --force: list the files even once this version is on the registry (which the dry run would skip).
    const r = await runCommand(
      "corepack",
      ["pnpm", "-r", "publish", "--dry-run", "--no-git-checks", "--force"],
      {
        cwd: ROOT,
        env: userEnv(),
        timeoutMs: 180_000,
      },
    );
    expect(r.status, describeResult("pnpm -r publish --dry-run", r)).toBe(0);
    const listed = parsePublishDryRun(`${r.stdout}\n${r.stderr}`);
    expect([...listed.keys()].sort()).toEqual(tarballs.map((t) => `${t.name}@${t.version}`).sort());
    for (const t of tarballs) expect(listed.get(`${t.name}@${t.version}`), t.name).toEqual(t.entries);
  }, 240_000);

  it("attw (--profile esm-only) finds no problem in any tarball", async () => {
    for (const t of tarballs) {
      const r = await runCommand(
        bin("attw"),
        [
          "--profile",
          "esm-only",
          "--no-definitely-typed",
          "--no-color",
          "--no-emoji",
          "--format",
          "ascii",
          t.file,
        ],
        { cwd: ROOT, timeoutMs: 120_000 },
      );
      expect(r.status, describeResult(`attw ${t.name}`, r)).toBe(0);
    }
  }, 300_000);

  it("publint finds nothing to report on any tarball", async () => {
    for (const t of tarballs) {
      const r = await runCommand(bin("publint"), ["run", t.file, "--level", "suggestion"], {
        cwd: tarballDir,
        timeoutMs: 120_000,
      });
      expect(r.status, describeResult(`publint ${t.name}`, r)).toBe(0);
      expect(r.stdout, describeResult(`publint ${t.name}`, r)).toContain("All good!");
    }
  }, 300_000);

  it("installs from the tarballs with npm, outside the workspace", (ctx) => {
    needInstall(ctx);
    for (const t of tarballs) {
      const installed = JSON.parse(
        readFileSync(join(project, "node_modules", ...t.name.split("/"), "package.json"), "utf8"),
      ) as { version: string };
      expect(installed.version).toBe(t.version);
    }
  });

  for (const config of ["tsconfig.json", "tsconfig.strictest.json"]) {
    it(`strict tsc (${config}: NodeNext, skipLibCheck false) type-checks every public entry point`, async (ctx) => {
      needInstall(ctx);
      const r = await runCommand(process.execPath, [TSC, "-p", config, "--listFilesOnly"], {
        cwd: project,
        timeoutMs: 120_000,
      });
      // The program holds the installed packages' declaration files, not the workspace's.
      const ours = r.stdout.split("\n").filter((f) => f.includes("/node_modules/@tsraft/"));
      expect(ours.length).toBeGreaterThan(20);
      expect(ours.every((f) => f.startsWith(project))).toBe(true);
      const check = await runCommand(process.execPath, [TSC, "-p", config], {
        cwd: project,
        timeoutMs: 120_000,
      });
      expect(check.status, describeResult(`tsc -p ${config}`, check)).toBe(0);
    }, 180_000);
  }

  it("plain Node imports every entry point", async (ctx) => {
    needInstall(ctx);
    const script = `for (const s of ${JSON.stringify(ENTRY_POINTS)}) {
  const m = await import(s);
  console.log(s, Object.keys(m).length);
}`;
    const r = await runCommand(process.execPath, ["--input-type=module", "-e", script], {
      cwd: project,
      timeoutMs: 60_000,
    });
    expect(r.status, describeResult("node -e import(...)", r)).toBe(0);
    for (const s of ENTRY_POINTS) expect(r.stdout).toMatch(new RegExp(`^${s} [1-9]\\d*$`, "m"));
  }, 90_000);

  it("the READMEs' examples, as shipped, run against the installed packages", async (ctx) => {
    needInstall(ctx);
    // Emitted inside the project, so that Node resolves their imports from its node_modules.
    const out = join(project, "out");
    const emit = await runCommand(
      process.execPath,
      [TSC, "-p", "tsconfig.json", "--noEmit", "false", "--outDir", out],
      {
        cwd: project,
        timeoutMs: 120_000,
      },
    );
    expect(emit.status, describeResult("tsc (emit)", emit)).toBe(0);
    const raft = await runCommand(process.execPath, [join(out, "examples", "raft.js")], {
      cwd: project,
      timeoutMs: 60_000,
    });
    expect(raft.status, describeResult("@tsraft/raft's README example", raft)).toBe(0);
    expect(raft.stdout.trim()).toBe("[ 'hello' ]");
    // Its data directory is relative: run it in a directory of its own.
    const kvDir = join(work, "kv-example");
    mkdirSync(kvDir);
    const kv = await runCommand(process.execPath, [join(out, "examples", "kv.js")], {
      cwd: kvDir,
      timeoutMs: 60_000,
    });
    expect(kv.status, describeResult("@tsraft/kv's README example", kv)).toBe(0);
    expect(kv.stdout.trim().split("\n")).toEqual(["204", "hello"]);
    expect(existsSync(join(kvDir, "data", "node-1", "kv", "kv.sqlite"))).toBe(true);
  }, 180_000);

  for (const command of [["tsraft-kv"], ["@tsraft/kv"]]) {
    it(`\`npx ${command.join(" ")} --help\` runs the installed bin`, async (ctx) => {
      needInstall(ctx);
      const r = await runCommand("npx", [...command, "--help"], {
        cwd: project,
        env: userEnv(),
        timeoutMs: 60_000,
      });
      expect(r.status, describeResult(`npx ${command.join(" ")} --help`, r)).toBe(0);
      for (const flag of ["--id", "--cluster", "--port", "--data-dir", "--join"])
        expect(r.stdout).toContain(flag);
    }, 90_000);
  }

  it("the installed bin serves a one-node cluster: PUT, then GET", async (ctx) => {
    needInstall(ctx);
    const [peerPort, httpPort] = await freePorts(2);
    const output: string[] = [];
    const kvBin = join(project, "node_modules", ".bin", "tsraft-kv");
    const args = ["--id", "1", "--cluster", `ws://127.0.0.1:${peerPort}`, "--port", String(httpPort)];
    args.push("--data-dir", join(work, "node-1"), "--exit-on-stdin-close", "--log-level", "warn");
    const p = spawn(kvBin, args, { cwd: project, env: userEnv(), stdio: ["pipe", "pipe", "pipe"] });
    procs.push(p);
    p.stdout.on("data", (d: Buffer) => output.push(d.toString()));
    p.stderr.on("data", (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<number | null>((resolve) => p.once("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${httpPort}/kv/greeting`;
    try {
      // Retried while the node is not listening yet or has no leader yet (503), as a client would.
      const put = await waitFor(
        "PUT on the installed tsraft-kv",
        async () => {
          const r = await fetch(url, { method: "PUT", body: "hello from npm" });
          return r.status === 503 ? undefined : r;
        },
        60_000,
      );
      expect(put.status).toBe(204);
      const get = await fetch(url);
      expect(get.status).toBe(200);
      expect(await get.text()).toBe("hello from npm");
    } catch (err) {
      console.log(output.join(""));
      throw err;
    }
    p.kill("SIGTERM");
    expect(await exited, output.join("")).toBe(0);
  }, 120_000);
});
