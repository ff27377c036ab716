import { describe, expect, it } from "vitest";
import { runCommand } from "./run-command.js";

describe("runCommand", () => {
  it("gives the exit status and all of stdout and stderr, with the environment and cwd given", async () => {
    let pid: number | undefined;
    const r = await runCommand(
      process.execPath,
      [
        "-e",
        "process.stdout.write('a'.repeat(100000) + process.cwd()); console.error(process.env.RC_V); process.exit(3)",
      ],
      { cwd: "/", env: { ...process.env, RC_V: "v" }, onSpawn: (p) => (pid = p.pid) },
    );
    expect(r.status).toBe(3);
    expect(r.stdout).toBe(`${"a".repeat(100000)}/`);
    expect(r.stderr).toBe("v\n");
    expect(pid).toBeGreaterThan(0);
  });

  it("kills a command past its timeout and says so on stderr", async () => {
    const r = await runCommand(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { timeoutMs: 200 });
    expect(r.status).toBeNull();
    expect(r.stderr).toContain("[killed after 200 ms]");
  });

  it("rejects when the command cannot be spawned", async () => {
    await expect(runCommand("/nonexistent/command", [])).rejects.toThrow(/ENOENT/);
  });
});
