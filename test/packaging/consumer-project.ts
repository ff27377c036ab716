/**
 * A stranger's project: a directory outside the workspace whose package.json depends on the packed
 * tarballs, installed by plain npm, with a strict tsconfig and a file importing every public entry
 * point of the published packages.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describeResult, runCommand, userEnv } from "./commands.js";
import type { Tarball } from "./tarballs.js";

/** Every public entry point (the `exports` subpaths that hold code), by import specifier. */
export const ENTRY_POINTS = [
  "@tsraft/raft",
  "@tsraft/raft/raftpb",
  "@tsraft/raft/rafttest",
  "@tsraft/raft/rafttest/fast-check",
  "@tsraft/node",
  "@tsraft/kv",
] as const;

/**
 * The file tsc checks. Importing each entry point as a namespace pulls every declaration file it
 * reaches into the program, and with `skipLibCheck: false` tsc checks them all. The `NoAny` tuple
 * fails to compile, naming the export, if any export came out as `any` (a type that silently failed
 * to resolve), so the check cannot pass on types that are not there.
 */
export const CHECK_TS = `// Every public entry point of the published tsraft packages, as a strict TypeScript user sees them.
import * as kv from "@tsraft/kv";
import * as node from "@tsraft/node";
import * as raft from "@tsraft/raft";
import * as raftpb from "@tsraft/raft/raftpb";
import * as rafttest from "@tsraft/raft/rafttest";
import * as rafttestFc from "@tsraft/raft/rafttest/fast-check";

type IsAny<T> = 0 extends 1 & T ? true : false;
type AnyExports<M> = { [K in keyof M]: IsAny<M[K]> extends true ? K : never }[keyof M];
type NoAny<M> = [AnyExports<M>] extends [never] ? true : AnyExports<M>;

export const noAnyExports: [
  NoAny<typeof raft>,
  NoAny<typeof raftpb>,
  NoAny<typeof rafttest>,
  NoAny<typeof rafttestFc>,
  NoAny<typeof node>,
  NoAny<typeof kv>,
] = [true, true, true, true, true, true];
`;

/** The compiler settings: strict, NodeNext, and the library's own .d.ts checked. */
export const TSCONFIG = {
  compilerOptions: {
    strict: true,
    module: "NodeNext",
    moduleResolution: "NodeNext",
    target: "ES2022",
    lib: ["ES2022"],
    types: ["node"],
    skipLibCheck: false,
    noEmit: true,
  },
  files: ["check.ts", "examples/raft.ts", "examples/kv.ts"],
};

/** The same with the flags this repository uses on itself, which users may have too. */
export const TSCONFIG_STRICTEST = {
  extends: "./tsconfig.json",
  compilerOptions: {
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
  },
};

/**
 * Writes the project into `dir`: the tarballs as `file:` dependencies, plus what a TypeScript user
 * of these packages has anyway: @types/node for Node 20 (the packages' `engines`), and fast-check,
 * the optional peer whose types `@tsraft/raft/rafttest/fast-check` references. `allowScripts` approves
 * better-sqlite3's native build for npm versions that gate install scripts.
 */
export function writeProject(dir: string, tarballs: readonly Tarball[], sqlite?: SqlitePrebuild): void {
  const dependencies: Record<string, string> = {};
  for (const t of tarballs) dependencies[t.name] = `file:${t.file}`;
  dependencies["@types/node"] = "^20.19.0";
  dependencies["fast-check"] = "^4.0.0";
  const pkg = {
    name: "tsraft-packaging-consumer",
    private: true,
    type: "module",
    dependencies,
    allowScripts: { "better-sqlite3": true, protobufjs: false },
    ...(sqlite ? { overrides: { "better-sqlite3": sqlite.version } } : {}),
  };
  writeFileSync(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify(TSCONFIG, null, 2)}\n`);
  writeFileSync(join(dir, "tsconfig.strictest.json"), `${JSON.stringify(TSCONFIG_STRICTEST, null, 2)}\n`);
  writeFileSync(join(dir, "check.ts"), CHECK_TS);
}

/** The README line that marks the example below it as run by this test. */
export const README_EXAMPLE_MARKER =
  "test/packaging/packaging.test.ts type-checks and runs this example against the installed package";

/** The ```ts block after the marker in an installed package's README.md. */
export function readmeExample(project: string, packageName: string): string {
  const file = join(project, "node_modules", ...packageName.split("/"), "README.md");
  const readme = readFileSync(file, "utf8");
  const marker = readme.indexOf(README_EXAMPLE_MARKER);
  if (marker < 0) throw new Error(`${file} has no example marked "${README_EXAMPLE_MARKER}"`);
  const start = readme.indexOf("```ts\n", marker);
  const end = readme.indexOf("\n```", start);
  if (start < 0 || end < 0) throw new Error(`${file}: no \`\`\`ts block after the marker`);
  return readme.slice(start + 6, end + 1);
}

/**
 * Writes the READMEs' examples, as shipped, into `examples/` of the project (tsc checks them with
 * check.ts). The KV example's fixed ports (raftexample's 12379/12380) become `ports`, so the test
 * runs beside anything else on the machine.
 */
export function writeExamples(project: string, ports: { peer: number; http: number }): void {
  mkdirSync(join(project, "examples"), { recursive: true });
  writeFileSync(join(project, "examples", "raft.ts"), readmeExample(project, "@tsraft/raft"));
  const kv = readmeExample(project, "@tsraft/kv");
  for (const fixed of ["ws://127.0.0.1:12379", '"12380"']) {
    if (!kv.includes(fixed))
      throw new Error(`@tsraft/kv's README example no longer has ${fixed}: update this test`);
  }
  const movedKv = kv
    .replaceAll("ws://127.0.0.1:12379", `ws://127.0.0.1:${ports.peer}`)
    .replaceAll('"12380"', `"${ports.http}"`);
  writeFileSync(join(project, "examples", "kv.ts"), movedKv);
}

/** A `node_modules` in an ancestor of `dir`, which Node and tsc would resolve from: it would void the test. */
export function ancestorNodeModules(dir: string): string | undefined {
  for (let d = dirname(dir); ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules"))) return join(d, "node_modules");
    if (dirname(d) === d) return undefined;
  }
}

/** A prebuilt better-sqlite3 binary for prebuild-install, made from the workspace's own build. */
export interface SqlitePrebuild {
  /** The better-sqlite3 version it is for (the project pins this version with `overrides`). */
  version: string;
  /** What to add to npm's environment: prebuild-install's local prebuild directory. */
  env: NodeJS.ProcessEnv;
}

/**
 * better-sqlite3's install script is `prebuild-install || node-gyp rebuild`: it downloads a prebuilt
 * binary for the platform from GitHub, or compiles SQLite from source (about 80 s of CPU) when it
 * cannot. The workspace compiled the same binary when it was installed; packed as the prebuilt
 * prebuild-install would download, in the directory its documented
 * `npm_config_better_sqlite3_local_prebuilds` setting names, the real install script takes the
 * prebuilt path, as most users' installs do, instead of compiling again. Undefined (npm then
 * compiles) when the workspace has no build to offer or TSRAFT_PACKAGING_COMPILE=1 asks for the
 * source build.
 */
export async function sqlitePrebuild(root: string, dir: string): Promise<SqlitePrebuild | undefined> {
  if (process.env.TSRAFT_PACKAGING_COMPILE === "1") return undefined;
  const pkgJson = createRequire(join(root, "packages", "kv", "package.json")).resolve(
    "better-sqlite3/package.json",
  );
  const pkgDir = dirname(pkgJson);
  const binary = join("build", "Release", "better_sqlite3.node");
  if (!existsSync(join(pkgDir, binary))) return undefined;
  const { version } = JSON.parse(readFileSync(pkgJson, "utf8")) as { version: string };
  const glibc = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
    ?.glibcVersionRuntime;
  const libc = process.platform === "linux" && glibc === undefined ? "musl" : "";
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}${libc}-${process.arch}.tar.gz`;
  mkdirSync(dir, { recursive: true });
  const r = await runCommand("tar", ["-czf", join(dir, name), "-C", pkgDir, binary], {
    cwd: dir,
    timeoutMs: 60_000,
  });
  if (r.status !== 0) throw new Error(describeResult("tar (better-sqlite3 prebuild)", r));
  return { version, env: { npm_config_better_sqlite3_local_prebuilds: dir } };
}

/** How the install went: done, failed (a test failure), or impossible here (the registry is unreachable). */
export type InstallOutcome =
  | { kind: "installed"; ms: number }
  | { kind: "failed"; message: string }
  | { kind: "unreachable"; reason: string };

/** Budget for `npm install`: better-sqlite3 compiles from source (~80 s alone on 2 vCPUs). */
export const INSTALL_TIMEOUT_MS = 15 * 60_000;

/**
 * `npm install` in `dir`. First from npm's cache alone (`--offline`), which fails at once on
 * anything not cached; then, if the registry answers `npm ping` (one try, 20 s), from the registry
 * for what is missing (`--prefer-offline`: cached metadata is not revalidated). A registry that
 * does not answer makes the outcome "unreachable" (the tests skip with that reason) without
 * waiting through npm's retries for every package; a failure with the registry reachable is a
 * real failure.
 */
export async function installProject(dir: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<InstallOutcome> {
  const env = { ...userEnv(), ...extraEnv };
  const npmInstall = (mode: string) =>
    runCommand("npm", ["install", mode, "--no-audit", "--no-fund"], {
      cwd: dir,
      env,
      timeoutMs: INSTALL_TIMEOUT_MS,
    });
  const t0 = Date.now();
  if ((await npmInstall("--offline")).status === 0) return { kind: "installed", ms: Date.now() - t0 };
  const ping = await runCommand("npm", ["ping", "--fetch-retries=0", "--fetch-timeout=20000"], {
    cwd: dir,
    env,
    timeoutMs: 60_000,
  });
  if (ping.status !== 0) {
    // npm's first error lines say what failed: "code ECONNREFUSED", ..., "FetchError: request to ...".
    const lines = `${ping.stderr}\n${ping.stdout}`.split("\n").filter((l) => l.startsWith("npm error "));
    const why = (lines.find((l) => /Error:/.test(l)) ?? lines[0] ?? `exit ${ping.status}`).replace(
      "npm error ",
      "",
    );
    return { kind: "unreachable", reason: `the npm registry is unreachable from here (npm ping: ${why})` };
  }
  const r = await npmInstall("--prefer-offline");
  if (r.status === 0) return { kind: "installed", ms: Date.now() - t0 };
  return { kind: "failed", message: describeResult("npm install", r) };
}
