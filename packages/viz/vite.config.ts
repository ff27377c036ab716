// Builds the visualizer page (index.html + src/main.ts) into dist/page. The simulator and the core
// are bundled from their TypeScript sources (the same files the Node tests run), so the page needs
// no prior `tsc -b` and runs exactly the code the property tests run.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const raft = (p: string) => fileURLToPath(new URL(`../raft/src/${p}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: {
    alias: [
      { find: /^@tsraft\/raft\/rafttest$/, replacement: raft("rafttest/index.ts") },
      { find: /^@tsraft\/raft\/raftpb$/, replacement: raft("raftpb/index.ts") },
      { find: /^@tsraft\/raft$/, replacement: raft("index.ts") },
    ],
  },
  build: {
    outDir: "dist/page",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
  },
});
