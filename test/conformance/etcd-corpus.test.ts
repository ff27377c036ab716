/**
 * etcd-io/raft's conformance corpus (../shared/etcd-raft-testdata or $TSRAFT_ETCD_TESTDATA), run
 * through tsraft's harnesses: every file a named test that must match byte for byte, log lines
 * included. The top-level scripts go through the interaction harness (etcd's TestInteraction), the
 * quorum/ and confchange/ ones through their own. `pnpm conformance` runs the same files.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  confchangeDatadrivenHandler,
  type DatadrivenHandler,
  describeFailure,
  interactionDatadrivenHandler,
  quorumDatadrivenHandler,
  runTestData,
} from "@tsraft/raft/rafttest";
import { describe, expect, it } from "vitest";
import { CORPUS_MISSING, corpusFiles, etcdTestdataDir } from "../corpus.js";

const dir = etcdTestdataDir();

const folders: { sub: string; count: number; handler: () => DatadrivenHandler }[] = [
  { sub: "", count: 28, handler: () => interactionDatadrivenHandler() },
  { sub: "quorum", count: 4, handler: quorumDatadrivenHandler },
  { sub: "confchange", count: 9, handler: confchangeDatadrivenHandler },
];

describe.skipIf(dir === undefined)(`etcd corpus${dir === undefined ? ` (${CORPUS_MISSING})` : ""}`, () => {
  for (const { sub, count, handler } of folders) {
    describe(sub === "" ? "interaction scripts" : `${sub}/`, () => {
      const files = corpusFiles(sub);
      it(`has the ${count} scripts of the corpus`, () => {
        expect(files).toHaveLength(count);
      });
      for (const f of files) {
        const name = sub === "" ? f : `${sub}/${f}`;
        it(`${name} matches byte for byte`, () => {
          const text = readFileSync(join(dir as string, sub, f), "utf8");
          const r = runTestData(text, handler(), name);
          expect(r.cases).toBeGreaterThan(0);
          if (r.passed !== r.cases)
            expect.fail(`${r.passed}/${r.cases} directives passed\n${describeFailure(r)}`);
        });
        // The reader loses nothing of the format: rewriting a file with its own expected outputs
        // gives it back byte for byte (what REWRITE=1 relies on for the project's own transcripts).
        it(`${name} round-trips through the datadriven reader`, () => {
          const text = readFileSync(join(dir as string, sub, f), "utf8");
          expect(runTestData(text, (d) => d.expected, name).rewritten).toBe(text);
        });
      }
    });
  }
});
