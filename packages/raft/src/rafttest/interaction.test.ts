import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CORPUS_MISSING, corpusFiles, etcdTestdataDir } from "../../../../test/corpus.js";
import { describeFailure, runTestData } from "./datadriven.js";
import { interactionDatadrivenHandler } from "./interaction-datadriven.js";

// etcd's TestInteraction: every top-level script of the corpus, each through a fresh env, must
// produce its recorded output byte for byte (log lines included).
const dir = etcdTestdataDir();
const files = corpusFiles("");

describe.skipIf(dir === undefined)(
  `etcd interaction corpus${dir === undefined ? ` (${CORPUS_MISSING})` : ""}`,
  () => {
    it("has the 28 scripts of the corpus", () => {
      expect(files.length).toBe(28);
    });
    for (const f of files) {
      it(f, () => {
        const text = readFileSync(join(dir as string, f), "utf8");
        const r = runTestData(text, interactionDatadrivenHandler(), f);
        if (r.passed !== r.cases)
          expect.fail(`${r.passed}/${r.cases} directives passed\n${describeFailure(r)}`);
      });
    }
  },
);
