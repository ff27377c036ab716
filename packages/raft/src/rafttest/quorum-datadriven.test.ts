import { describe, expect, it } from "vitest";
import { runTestData } from "./datadriven.js";
import { quorumDatadrivenHandler } from "./quorum-datadriven.js";

describe("quorumDatadrivenHandler", () => {
  const run = (script: string) => runTestData(script, quorumDatadrivenHandler()).results.map((r) => r.actual);

  it("reports input that does not cover every voter", () => {
    expect(run("committed cfg=(1,2) idx=(5)\n----\n")).toEqual([
      "error: mismatched input (explicit or _) for voters map[1:{} 2:{}]: [5]\n",
    ]);
    expect(run("vote cfg=(1) cfgj=(2) votes=(y)\n----\n")).toEqual([
      "error: mismatched input (explicit or _) for voters map[1:{} 2:{}]: [2]\n",
    ]);
  });

  it("rejects 0 as an index and unknown arguments", () => {
    const r = runTestData("committed cfg=(1) idx=(0)\n----\n", quorumDatadrivenHandler());
    expect(String(r.results[0]?.error)).toMatch(/cannot use 0 as idx/);
    const r2 = runTestData("vote cfg=(1) votes=(x)\n----\n", quorumDatadrivenHandler());
    expect(String(r2.results[0]?.error)).toMatch(/unknown vote: x/);
  });
});
