import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CORPUS_MISSING, corpusFiles, etcdTestdataDir } from "../../../../test/corpus.js";
import { describeFailure, runTestData } from "./datadriven.js";
import { quorumDatadrivenHandler } from "./quorum-datadriven.js";

const dir = etcdTestdataDir();

describe.skipIf(dir === undefined)(
  `etcd corpus: quorum/ (${dir === undefined ? CORPUS_MISSING : "present"})`,
  () => {
    const files = corpusFiles("quorum");
    it("has the four quorum scripts", () => {
      expect(files).toEqual([
        "joint_commit.txt",
        "joint_vote.txt",
        "majority_commit.txt",
        "majority_vote.txt",
      ]);
    });
    it.each(files)("%s matches byte for byte", (f) => {
      const text = readFileSync(join(dir as string, "quorum", f), "utf8");
      const r = runTestData(text, quorumDatadrivenHandler(), `quorum/${f}`);
      expect(r.cases).toBeGreaterThan(0);
      expect(r.passed, describeFailure(r)).toBe(r.cases);
    });
  },
);

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
