import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ServerProcess } from "./server-process.js";

const dir = mkdtempSync(join(tmpdir(), "testkit-proc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A Node script as a process; it prints `ready` once its handlers are installed. */
const node = (script: string, o: Partial<ConstructorParameters<typeof ServerProcess>[0]> = {}) =>
  new ServerProcess({ ...o, args: ["-e", script] });

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("ServerProcess", () => {
  it("keeps the last lines of stdout and stderr in one array across runs, and tells every line", async () => {
    const lines: string[] = [];
    const heard: string[] = [];
    const a = node("for (let i = 0; i < 5; i++) console.log('out ' + i); console.error('err');", {
      lines,
      keepLines: 4,
      onLine: (l) => heard.push(l),
    });
    expect(await a.exited).toEqual({ code: 0, signal: null });
    await until("all of a's output", () => heard.length === 6);
    const b = node("console.log('second run'); process.exit(3)", { lines, keepLines: 4 });
    expect((await b.exited).code).toBe(3);
    await until("b's line", () => lines.includes("second run"));
    expect(lines).toHaveLength(4);
    expect(lines.at(-1)).toBe("second run");
    expect(new Set(heard)).toEqual(new Set(["out 0", "out 1", "out 2", "out 3", "out 4", "err"]));
    expect(a.running).toBe(false);
  });

  it("stop escalates to SIGKILL when the signal is ignored", async () => {
    const p = node("process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);");
    await until("ready", () => p.output.includes("ready"));
    await p.stop("SIGTERM", 300);
    expect(await p.exited).toEqual({ code: null, signal: "SIGKILL" });
  });

  it("pauses and resumes; a paused process is resumed to act on a stop", async () => {
    const p = node(
      "process.on('SIGTERM', () => { console.log('bye'); process.exit(0); }); console.log('ready'); setInterval(() => console.log('tick'), 20);",
    );
    await until("ready", () => p.output.includes("ready"));
    p.pause();
    expect(p.paused).toBe(true);
    await p.stop("SIGTERM", 10_000);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.paused).toBe(false);
  });

  it("appends to a log file instead, with the environment given", async () => {
    const log = join(dir, "p.log");
    const p = node("console.log('v=' + process.env.TESTKIT_V)", {
      logFile: log,
      env: { ...process.env, TESTKIT_V: "42" },
    });
    await p.exited;
    expect(readFileSync(log, "utf8")).toBe("v=42\n");
    expect(p.output).toEqual([]);
  });
});
