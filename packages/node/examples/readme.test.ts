import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

it.each(["longest-words.ts", "three-nodes.ts"])("the README shows %s verbatim", (file) => {
  const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");
  const example = readFileSync(join(import.meta.dirname, file), "utf8");
  expect(readme).toContain(example.trim());
});
