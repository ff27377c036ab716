import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests run against the TypeScript sources (no build step needed); the published
// packages resolve to dist/ through their `exports` maps.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@tsraft\/raft\/raftpb$/, replacement: src("./packages/raft/src/raftpb/index.ts") },
      {
        find: /^@tsraft\/raft\/rafttest\/fast-check$/,
        replacement: src("./packages/raft/src/rafttest/fast-check.ts"),
      },
      { find: /^@tsraft\/raft\/rafttest$/, replacement: src("./packages/raft/src/rafttest/index.ts") },
      { find: /^@tsraft\/raft$/, replacement: src("./packages/raft/src/index.ts") },
      { find: /^@tsraft\/node$/, replacement: src("./packages/node/src/index.ts") },
      { find: /^@tsraft\/kv$/, replacement: src("./packages/kv/src/index.ts") },
      { find: /^@tsraft\/chaos\/lincheck$/, replacement: src("./packages/chaos/src/lincheck/index.ts") },
      { find: /^@tsraft\/chaos$/, replacement: src("./packages/chaos/src/index.ts") },
    ],
  },
  test: {
    include: ["packages/*/src/**/*.test.ts", "packages/*/examples/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
