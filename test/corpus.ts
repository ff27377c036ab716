import { existsSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Where etcd's conformance corpus is: `$TSRAFT_ETCD_TESTDATA`, else `../shared/etcd-raft-testdata`
 * beside the checkout. Undefined if neither exists (tests then skip, saying why).
 */
export function etcdTestdataDir(): string | undefined {
  const candidates = [process.env.TSRAFT_ETCD_TESTDATA, join(repoRoot, "..", "shared", "etcd-raft-testdata")];
  for (const c of candidates) if (c && existsSync(c)) return resolve(c);
  return undefined;
}

/** The skip reason used when the corpus is missing. */
export const CORPUS_MISSING =
  "etcd corpus not found: set TSRAFT_ETCD_TESTDATA or place it at ../shared/etcd-raft-testdata";

/** The `.txt` files of one folder of the corpus, sorted. */
export function corpusFiles(sub = ""): string[] {
  const dir = etcdTestdataDir();
  if (dir === undefined) return [];
  return readdirSync(join(dir, sub))
    .filter((f) => f.endsWith(".txt"))
    .sort();
}
