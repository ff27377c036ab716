/**
 * The README's "Run the cluster" transcript, executed: `scripts/start.mjs` (what `pnpm start` runs)
 * on the documented ports, then every documented request, compared with the documented answer; the
 * `node packages/kv/dist/cli.js … --join` line starts the 4th node. Then the supervisor's shutdown:
 * SIGTERM stops all three nodes, and after a kill -9 of the supervisor the nodes stop by themselves.
 * The "HTTP API" section's block (ranges, transactions, a watch) runs the same way on the same data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, CLI_MISSING, ROOT, sleep, waitFor } from "./cluster.js";

interface Step {
  command: string;
  expected: string[];
}

/**
 * The console block after the `nth` test marker in README.md (0: the quick start; 1: ranges,
 * transactions and watches), as commands and their expected output.
 */
function readmeSteps(nth = 0): Step[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  let marker = readme.indexOf("test/kv/readme.test.ts");
  for (let i = 0; i < nth; i++) marker = readme.indexOf("test/kv/readme.test.ts", marker + 1);
  if (marker < 0) throw new Error(`README.md has no test marker number ${nth}`);
  const start = readme.indexOf("```console\n", marker);
  const end = readme.indexOf("```\n", start + 11);
  const steps: Step[] = [];
  for (const line of readme.slice(start + 11, end).split("\n")) {
    if (line.startsWith("$ ")) steps.push({ command: line.slice(2), expected: [] });
    else if (line !== "") steps.at(-1)?.expected.push(line);
  }
  return steps;
}

/** Splits a command line into words: whitespace-separated, with '…' and "…" quoting. */
function words(command: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (let m = re.exec(command); m !== null; m = re.exec(command)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

interface Curl {
  url: string;
  method: string;
  body: string | undefined;
  /** `-H 'Name: value'`. */
  headers: Record<string, string>;
  showStatus: boolean;
  /** `-N`: a stream (a watch), read until the documented lines have arrived. */
  stream: boolean;
}

function parseCurl(argv: string[]): Curl {
  let url = "";
  let method: string | undefined;
  let body: string | undefined;
  let showStatus = false;
  let stream = false;
  const headers: Record<string, string> = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-i") showStatus = true;
    else if (a === "-H") {
      const h = argv[++i] ?? "";
      headers[h.slice(0, h.indexOf(":")).trim()] = h.slice(h.indexOf(":") + 1).trim();
    } else if (a === "-N") stream = true;
    else if (a === "-X") method = argv[++i];
    else if (a === "-d") body = argv[++i];
    else if (a.startsWith("-")) throw new Error(`README curl option ${a} not understood by this test`);
    else url = a;
  }
  return { url, method: method ?? (body !== undefined ? "POST" : "GET"), body, headers, showStatus, stream };
}

const PORTS = [12379, 22379, 32379, 42379, 12380, 22380, 32380, 42380];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function httpDown(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-readme-"));
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) p.kill("SIGKILL");
  await sleep(200);
  rmSync(dir, { recursive: true, force: true });
});

/** Reads a stream's lines (blank ones left out, as the README shows them) until `n` have arrived. */
async function streamLines(res: Response, n: number): Promise<string[]> {
  const lines: string[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  // A stream that stops short fails the comparison after 30 s instead of hanging the test.
  const timer = setTimeout(() => void reader.cancel().catch(() => {}), 30_000);
  try {
    while (lines.length < n) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += decoder.decode(chunk.value, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      lines.push(...parts.filter((l) => l !== ""));
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return lines;
}

/** Runs README steps in order: a `node …` line starts a process, a curl line is compared with its answer. */
async function runSteps(steps: Step[]): Promise<void> {
  for (const step of steps) {
    const argv = words(step.command);
    if (argv[0] === "node") {
      // The documented command, with the CLI path made absolute (the test runs in a temp dir)
      // and a lifeline so the node cannot outlive the test.
      const args = argv.slice(1).map((a) => (a === "packages/kv/dist/cli.js" ? CLI : a));
      const p = spawn(process.execPath, [...args, "--exit-on-stdin-close"], {
        cwd: dir,
        stdio: "pipe",
      });
      procs.push(p);
      continue;
    }
    expect(argv[0], step.command).toBe("curl");
    const curl = parseCurl(argv);
    // Retry only what a person would: a node not listening yet, or 503 (no leader yet).
    const res = await waitFor(
      step.command,
      async () => {
        const r = await fetch(curl.url, {
          method: curl.method,
          headers: curl.headers,
          ...(curl.body !== undefined ? { body: curl.body } : {}),
        });
        return r.status === 503 ? undefined : r;
      },
      30_000,
    );
    const got = curl.showStatus ? [`HTTP/1.1 ${res.status} ${res.statusText}`] : [];
    if (curl.stream) got.push(...(await streamLines(res, step.expected.length - got.length)));
    else {
      const body = (await res.text()).replace(/\n$/, "");
      if (body !== "") got.push(...body.split("\n"));
    }
    expect(got, step.command).toEqual(step.expected);
  }
}

/** Runs scripts/start.mjs in `dir` and waits for its "nodes up" announcement. */
async function startCluster(output: string[]): Promise<ChildProcess> {
  const sup = spawn(process.execPath, [join(ROOT, "scripts", "start.mjs")], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  procs.push(sup);
  sup.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
  sup.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
  await waitFor(
    "pnpm start to announce its cluster",
    async () => output.join("").includes("3 nodes up"),
    60_000,
  );
  return sup;
}

const exited = (p: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    p.exitCode !== null || p.signalCode !== null
      ? resolve(p.exitCode)
      : p.once("exit", (code) => resolve(code)),
  );

/**
 * Starts the README's cluster and runs `steps` (at least ten) against it, printing the cluster's
 * output if one fails; returns the supervisor process, still running.
 */
async function runDocumented(steps: ReturnType<typeof readmeSteps>, output: string[]) {
  expect(steps.length).toBeGreaterThanOrEqual(10);
  const sup = await startCluster(output);
  try {
    await runSteps(steps);
  } catch (err) {
    console.log(output.join(""));
    throw err;
  }
  return sup;
}

describe.skipIf(CLI_MISSING)("README quick start", async () => {
  const busy = (await Promise.all(PORTS.map(portFree))).some((free) => !free);
  const output: string[] = [];

  it.skipIf(busy)(
    "runs as documented: put, get, CAS, delete, add a 4th node, remove it",
    async () => {
      const steps = readmeSteps();
      const sup = await runDocumented(steps, output);
      // Ctrl-C / SIGTERM: the supervisor stops its three nodes and exits; none is left behind.
      for (const p of procs.slice(1)) p.kill("SIGTERM");
      sup.kill("SIGTERM");
      expect(await exited(sup)).toBe(0);
      for (const port of [12380, 22380, 32380]) expect(await httpDown(port)).toBe(true);
    },
    120_000,
  );

  it.skipIf(busy)(
    "the HTTP API examples run as documented: revisions, ranges, transactions, a watch",
    async () => {
      // The second block continues the session of the first (its revisions follow on from it).
      const steps = readmeSteps(1);
      const sup = await runDocumented(steps, output);
      sup.kill("SIGTERM");
      expect(await exited(sup)).toBe(0);
    },
    120_000,
  );

  it.skipIf(busy)(
    "restarts on its data, and its nodes stop by themselves when it is killed",
    async () => {
      const sup = await startCluster(output);
      // The data survived the restart (with the README's `other` = 42).
      const res = await waitFor("a read after restart", async () => {
        const r = await fetch("http://127.0.0.1:12380/kv/other");
        return r.status === 503 ? undefined : r;
      });
      expect(await res.text()).toBe("42");
      sup.kill("SIGKILL");
      await exited(sup);
      await waitFor(
        "the orphaned nodes to exit",
        async () => (await Promise.all([12380, 22380, 32380].map(httpDown))).every(Boolean),
        15_000,
      );
    },
    120_000,
  );

  it.skipIf(busy)(
    "a node killed with kill -9 leaves two serving, and its printed command restarts it; ports in use refuse a second start",
    async () => {
      const out: string[] = [];
      const sup = await startCluster(out);
      const text = out.join("");
      const m = /\[node-2\] pid (\d+); restart it by hand with: (node .+)\n/.exec(text);
      expect(m, text).not.toBeNull();
      expect(text).toMatch(/Pids: node 1 \d+, node 2 \d+, node 3 \d+/);
      process.kill(Number(m![1]), "SIGKILL");
      await waitFor("the supervisor to report node 2", async () =>
        out.join("").includes("node 2 stopped; the other 2 keep serving"),
      );
      // The other two serve writes and linearizable reads.
      const put = await waitFor("a write with node 2 down", async () => {
        const r = await fetch("http://127.0.0.1:12380/kv/after-kill", { method: "PUT", body: "still" });
        return r.status === 503 ? undefined : r;
      });
      expect(put.status).toBe(204);
      expect(await (await fetch("http://127.0.0.1:32380/kv/after-kill")).text()).toBe("still");
      // A second `pnpm start` sees the ports in use and says so before anything runs.
      const second: string[] = [];
      const other = spawn(process.execPath, [join(ROOT, "scripts", "start.mjs")], {
        cwd: dir,
        stdio: "pipe",
      });
      procs.push(other);
      other.stdout?.on("data", (d: Buffer) => second.push(d.toString()));
      other.stderr?.on("data", (d: Buffer) => second.push(d.toString()));
      expect(await exited(other)).toBe(1);
      expect(second.join("")).toMatch(/ports 12379, 12380, 32379, 32380 of 127.0.0.1 in use/);
      expect(second.join("")).not.toMatch(/nodes up/);
      // The printed restart command brings node 2 back; it catches up.
      const argv = words(m![2]!);
      const node2 = spawn(process.execPath, [...argv.slice(1), "--exit-on-stdin-close"], {
        cwd: dir,
        stdio: "pipe",
      });
      procs.push(node2);
      const got = await waitFor("node 2 back", async () => {
        const r = await fetch("http://127.0.0.1:22380/kv/after-kill");
        return r.status === 200 ? r.text() : undefined;
      });
      expect(got).toBe("still");
      node2.kill("SIGTERM");
      sup.kill("SIGTERM");
      expect(await exited(sup)).toBe(0);
      await exited(node2);
      for (const port of [12380, 22380, 32380]) expect(await httpDown(port)).toBe(true);
    },
    120_000,
  );
});
