import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "@tsraft/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, CLI_MISSING, ROOT } from "./cluster.js";

/** The README block: the script and the outputs it must print, in order. */
function readmeSession(): { script: string; expected: string[] } {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const marker = readme.indexOf("test/kv/operating.test.ts");
  const start = readme.indexOf("```sh\n", marker);
  const end = readme.indexOf("```\n", start + 6);
  const script = readme.slice(start + 6, end);
  const expected = script
    .split("\n")
    .filter((l) => l.startsWith("# prints: "))
    .map((l) => l.slice("# prints: ".length));
  return { script, expected };
}

const PORTS = [
  61379, 62379, 63379, 61380, 62380, 63380, 51379, 52379, 53379, 54379, 51380, 52380, 53380, 54380,
];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-operating-"));
let group: number | undefined;
afterAll(() => {
  if (group !== undefined) {
    try {
      process.kill(-group, "SIGKILL");
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(CLI_MISSING)("README: Operating a cluster", async () => {
  const busy = (await Promise.all(PORTS.map(portFree))).some((free) => !free);

  it.skipIf(busy)("runs as written and prints what it says", { timeout: 120_000 }, async () => {
    const { script, expected } = readmeSession();
    expect(expected.length).toBeGreaterThanOrEqual(5);
    const bin = join(dir, "bin");
    const work = join(dir, "work");
    mkdirSync(bin);
    mkdirSync(work);
    writeFileSync(join(bin, "tsraft-kv"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(join(bin, "tsraft-kv"), 0o755);
    writeFileSync(join(dir, "session.sh"), `set -euo pipefail\n${script}`);
    const {
      status: code,
      stdout: out,
      stderr: err,
    } = await runCommand("bash", [join(dir, "session.sh")], {
      cwd: work,
      detached: true, // its own process group: everything it started is killed with it
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      onSpawn: (p) => {
        group = p.pid;
      },
    });
    const logs = () => {
      try {
        return ["node-1.log", "restored-1.log", "forced-1.log", "node-4.log"]
          .map((f) => `---- ${f}\n${readFileSync(join(work, f), "utf8").split("\n").slice(-15).join("\n")}`)
          .join("\n");
      } catch (e) {
        return String(e);
      }
    };
    expect(code, `stdout:\n${out}\nstderr:\n${err}\n${logs()}`).toBe(0);
    console.log(out);
    let from = 0;
    for (const e of expected) {
      const at = out.indexOf(e, from);
      expect(at, `"${e}" after offset ${from} in:\n${out}`).toBeGreaterThanOrEqual(0);
      from = at + e.length;
    }
  });
});
