/**
 * The client's README example (packages/kv/README.md, "Client"): the README shows client.ts
 * verbatim, `pnpm test`'s tsc checks it (tsconfig.test.json), and here it runs, printing what its
 * comments say it prints.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it, vi } from "vitest";

const source = readFileSync(join(import.meta.dirname, "client.ts"), "utf8");

it("the README shows client.ts verbatim", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
  expect(readme).toContain(`\`\`\`ts\n${source.trim()}\n\`\`\``);
});

it("client.ts runs and prints what its comments say", async () => {
  // What each console.log line is documented to print, from its trailing comment.
  const documented = source
    .split("\n")
    .filter((l) => l.includes("console.log(") && l.includes("// "))
    .map((l) => l.slice(l.lastIndexOf("// ") + 3));
  expect(documented.length).toBe(4);
  const lines: string[] = [];
  const show = (a: unknown) =>
    typeof a === "string" ? a : Array.isArray(a) ? `[ ${a.map((x) => `'${x}'`).join(", ")} ]` : String(a);
  const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    lines.push(args.map(show).join(" "));
  });
  try {
    await import("./client.js");
  } finally {
    log.mockRestore();
  }
  expect(lines).toEqual(documented);
}, 60_000);
