import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { expect, it } from "vitest";
import { threeNodes } from "./three-nodes.js";

it("three RaftNodes agree on the three longest words", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tsraft-longest-"));
  try {
    const { node1, node3 } = await threeNodes(dir, await freePorts(3));
    expect(node1).toEqual(["consensus", "machines", "sequence"]);
    expect(node3).toEqual(node1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
