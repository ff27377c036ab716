import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

it("the README shows the simulation example (kv-simulation.test.ts) verbatim", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
  const example = readFileSync(join(import.meta.dirname, "kv-simulation.test.ts"), "utf8");
  expect(readme).toContain(example.trim());
  // The example is a complete test file of about 30 lines.
  expect(example.trim().split("\n").length).toBeLessThanOrEqual(32);
});
