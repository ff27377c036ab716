import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCliArgs, startKvServer } from "@tsraft/kv";
import { KvClient } from "@tsraft/kv/client";

// A throwaway one-node cluster on free ports; with a real cluster, list every node's URL.
const dir = mkdtempSync(join(tmpdir(), "kv-client-example-"));
const flags = ["--cluster", "ws://127.0.0.1:0", "--port", "0", "--data-dir", dir, "--log-level", "error"];
const parsed = parseCliArgs(flags);
if (parsed.kind !== "run") throw new Error("bad flags");
const server = await startKvServer(parsed.config);
// Until the node has elected itself, writes answer 503 NoLeader: safe to retry, and retried.
const kv = new KvClient({ endpoints: [server.url], attempts: 40 });

await kv.put("config/db/host", "10.0.0.7");
const { revision } = await kv.put("config/db/port", "5432");
const port = await kv.get("config/db/port");
console.log(port?.text, port?.version, port?.modRevision === revision); // 5432 1 true

// Watch everything under config/ after that revision, in the background.
const ac = new AbortController();
const seen: string[] = [];
const watching = (async () => {
  for await (const e of kv.watch({ prefix: "config/", from: revision + 1, signal: ac.signal })) {
    seen.push(`${e.revision} ${e.kind} ${e.key}`);
    if (seen.length === 2) ac.abort();
  }
})();

// Optimistic concurrency: change the port only if nobody changed it since we read it.
const txn = await kv.txn({
  compare: [{ key: "config/db/port", target: "mod", value: port!.modRevision }],
  success: [
    { op: "put", key: "config/db/port", value: "6432" },
    { op: "delete", key: "config/db/host" },
  ],
});
console.log(txn.succeeded, txn.revision); // true 3

for await (const page of kv.range({ prefix: "config/", limit: 100 })) {
  for (const e of page.kvs) console.log(e.key, e.text); // config/db/port 6432
}
await watching;
console.log(seen); // [ '3 put config/db/port', '3 delete config/db/host' ]
await server.stop();
