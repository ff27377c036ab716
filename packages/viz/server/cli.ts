/**
 * `pnpm viz`: builds the visualizer page and serves it on 127.0.0.1, printing the URL.
 *
 *     pnpm viz [--port 5380] [--host 127.0.0.1] [--no-build]
 *
 * Then open the URL: the Simulate tab runs a cluster in the page; the Replay tab takes what a
 * failing simulation test printed; the Live tab polls a running `tsraft-kv` cluster (`pnpm start`).
 */
import { parseArgs } from "node:util";
import { buildViz, DEFAULT_OUT_DIR, startVizServer } from "./serve.js";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5380" },
    host: { type: "string", default: "127.0.0.1" },
    "no-build": { type: "boolean", default: false },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad --port ${values.port}`);
  process.exit(2);
}
if (!values["no-build"]) {
  console.log("building the page (vite)...");
  await buildViz(DEFAULT_OUT_DIR);
}
const s = await startVizServer({ dir: DEFAULT_OUT_DIR, host: values.host, port });
console.log(`tsraft viz: ${s.url}`);
console.log(
  `  replay a failing seed: ${s.url}?replay=seed:123,nodes=5   (or paste the test's output in the Replay tab)`,
);
console.log(
  `  watch \`pnpm start\`'s cluster: ${s.url}?live=127.0.0.1:12380,127.0.0.1:22380,127.0.0.1:32380`,
);
console.log("Ctrl-C to stop");
const stop = () => {
  void s.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
