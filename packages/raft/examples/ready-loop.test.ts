import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { runReadyLoop } from "./ready-loop.js";

it("the README's Ready loop elects a leader and applies a proposal on every node", () => {
  const states = runReadyLoop();
  expect(states).toHaveLength(3);
  for (const kv of states) expect(kv.get("greeting")).toBe("hello");
});

it("the README shows the example verbatim", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
  const example = readFileSync(join(import.meta.dirname, "ready-loop.ts"), "utf8");
  expect(readme).toContain(example.trim());
});
