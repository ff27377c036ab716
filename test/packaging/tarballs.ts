/**
 * The published packages as tarballs: packed by pnpm (the release path: `pnpm pack` and `pnpm
 * publish` rewrite `workspace:*` into real versions, `npm pack` does not), then read back with tar.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describeResult, runCommand, userEnv } from "./commands.js";

/** The workspace packages published to npm, by directory under packages/. */
export const PUBLISHED = ["raft", "node", "kv"] as const;
export type PublishedDir = (typeof PUBLISHED)[number];

/** One packed package. */
export interface Tarball {
  dir: PublishedDir;
  name: string;
  version: string;
  file: string;
  /** Its entries, without tar's `package/` prefix, sorted. */
  entries: string[];
  /** The package.json inside the tarball, as published. */
  manifest: Record<string, unknown>;
}

/** The workspace's package.json of `packages/<dir>`. */
export function workspaceManifest(root: string, dir: PublishedDir): { name: string; version: string } {
  return JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8")) as {
    name: string;
    version: string;
  };
}

/** Packs each published package with `corepack pnpm pack` into `dest` and reads each tarball back. */
export async function packAll(root: string, dest: string): Promise<Tarball[]> {
  const out: Tarball[] = [];
  for (const dir of PUBLISHED) {
    const { name, version } = workspaceManifest(root, dir);
    const before = new Set(readdirSync(dest));
    const r = await runCommand("corepack", ["pnpm", "pack", "--pack-destination", dest], {
      cwd: join(root, "packages", dir),
      env: userEnv(),
      timeoutMs: 120_000,
    });
    if (r.status !== 0) throw new Error(describeResult(`pnpm pack in packages/${dir}`, r));
    const made = readdirSync(dest).filter((f) => f.endsWith(".tgz") && !before.has(f));
    if (made.length !== 1)
      throw new Error(`pnpm pack in packages/${dir} made ${made.join(", ") || "nothing"}`);
    const file = join(dest, made[0]!);
    out.push({
      dir,
      name,
      version,
      file,
      entries: await tarEntries(file),
      manifest: await tarManifest(file),
    });
  }
  return out;
}

async function tarEntries(file: string): Promise<string[]> {
  const r = await runCommand("tar", ["-tzf", file], { cwd: "/", timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(describeResult(`tar -tzf ${file}`, r));
  return r.stdout
    .split("\n")
    .filter((l) => l !== "" && !l.endsWith("/"))
    .map((l) => l.replace(/^package\//, ""))
    .sort();
}

async function tarManifest(file: string): Promise<Record<string, unknown>> {
  const r = await runCommand("tar", ["-xOzf", file, "package/package.json"], { cwd: "/", timeoutMs: 60_000 });
  if (r.status !== 0) throw new Error(describeResult(`tar -xOzf ${file} package/package.json`, r));
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** The entries outside what a package may ship: dist/**, README.md, LICENSE, package.json. */
export function unexpectedEntries(entries: readonly string[]): string[] {
  return entries.filter(
    (e) => !(e.startsWith("dist/") || e === "README.md" || e === "LICENSE" || e === "package.json"),
  );
}

/**
 * The files `pnpm -r publish --dry-run` says it would publish, per `name@version`: npm's "Tarball
 * Contents" notices (`npm notice 1.2kB dist/index.js`) under each `📦  name@version` header.
 */
export function parsePublishDryRun(output: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  let inContents = false;
  for (const line of output.split("\n")) {
    const header = /npm notice 📦\s+(\S+)/.exec(line);
    if (header) {
      current = [];
      out.set(header[1]!, current);
      inContents = false;
      continue;
    }
    if (/npm notice Tarball Contents/.test(line)) {
      inContents = true;
      continue;
    }
    if (/npm notice Tarball Details/.test(line)) {
      inContents = false;
      continue;
    }
    const file = /^npm notice [\d.]+[kMG]?B (.+)$/.exec(line.trim());
    if (inContents && current && file) current.push(file[1]!);
  }
  for (const files of out.values()) files.sort();
  return out;
}
