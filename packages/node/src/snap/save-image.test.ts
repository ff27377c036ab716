import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/storage-helpers.js";
import { type DigestedStream, tagDigestedChunk } from "./digested-chunks.js";
import { imageFileName, Snapshotter } from "./snapshotter.js";

let tmp: { path: string; cleanup: () => Promise<void> };
let dir: string;
beforeEach(async () => {
  tmp = await tempDir("tsraft-save-image-");
  dir = join(tmp.path, "snap");
});
afterEach(async () => {
  await tmp.cleanup();
});

const sha = (...parts: Uint8Array[]): string => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

/** A stream that reports `sha256` over `size` bytes in `chunks` chunks, whatever it handed out. */
function stream(size: number, sha256: string, chunks: number): DigestedStream {
  return { digest: () => ({ size, sha256, chunks }) };
}

/** A digest no real content has: a producer's claim saveImage either takes or checks. */
const CLAIMED = "ab".repeat(32);

describe("Snapshotter.saveImage", () => {
  it("writes the chunks and returns their size and SHA-256 (untagged: hashed here)", async () => {
    const parts = [randomBytes(1000), randomBytes(1), randomBytes(70_000)];
    const s = new Snapshotter(dir);
    const d = await s.saveImage(2, 10, parts);
    expect(d).toEqual({ size: 71_001, sha256: sha(...parts) });
    expect(Buffer.compare(await readFile(join(dir, imageFileName(2, 10))), Buffer.concat(parts))).toBe(0);
  });

  it("an empty image: size 0, the SHA-256 of nothing", async () => {
    expect(await new Snapshotter(dir).saveImage(2, 10, [])).toEqual({ size: 0, sha256: sha() });
  });

  it("takes the digest of a stream whose tagged chunks it wrote, all and in order, without hashing them", async () => {
    const parts = [randomBytes(100), randomBytes(200), randomBytes(300)];
    const st = stream(600, CLAIMED, 3);
    for (const [i, p] of parts.entries()) tagDigestedChunk(p, st, i);
    async function* wrapped() {
      // As RaftNode.receiveSnapshot hands them on: the same chunk objects through a generator.
      for (const p of parts) yield p;
    }
    // The claim is believed (the producer's contract): proof that the bytes were not hashed here.
    expect(await new Snapshotter(dir).saveImage(2, 10, wrapped())).toEqual({ size: 600, sha256: CLAIMED });
  });

  const cases: [string, (parts: Buffer[]) => DigestedStream][] = [
    [
      "an untagged chunk after tagged ones (the bytes so far are read back)",
      (parts) => {
        const st = stream(600, CLAIMED, 3);
        tagDigestedChunk(parts[0]!, st, 0);
        tagDigestedChunk(parts[1]!, st, 1);
        return st;
      },
    ],
    [
      "a chunk out of order",
      (parts) => {
        const st = stream(600, CLAIMED, 3);
        tagDigestedChunk(parts[0]!, st, 0);
        tagDigestedChunk(parts[1]!, st, 2);
        tagDigestedChunk(parts[2]!, st, 1);
        return st;
      },
    ],
    [
      "chunks of two streams",
      (parts) => {
        const st = stream(600, CLAIMED, 3);
        tagDigestedChunk(parts[0]!, st, 0);
        tagDigestedChunk(parts[1]!, st, 1);
        tagDigestedChunk(parts[2]!, stream(600, CLAIMED, 3), 2);
        return st;
      },
    ],
    [
      "a stream that counts more chunks than were written",
      (parts) => {
        const st = stream(600, CLAIMED, 4);
        for (const [i, p] of parts.entries()) tagDigestedChunk(p, st, i);
        return st;
      },
    ],
    [
      "a stream that counts other bytes than were written",
      (parts) => {
        const st = stream(601, CLAIMED, 3);
        for (const [i, p] of parts.entries()) tagDigestedChunk(p, st, i);
        return st;
      },
    ],
    [
      "a stream with no digest (it never ended verified)",
      (parts) => {
        const st: DigestedStream = { digest: () => undefined };
        for (const [i, p] of parts.entries()) tagDigestedChunk(p, st, i);
        return st;
      },
    ],
  ];
  for (const [what, tag] of cases) {
    it(`hashes the file itself on ${what}`, async () => {
      const parts = [randomBytes(100), randomBytes(200), randomBytes(300)];
      tag(parts);
      const d = await new Snapshotter(dir).saveImage(2, 10, parts);
      expect(d).toEqual({ size: 600, sha256: sha(...parts) });
    });
  }

  it("reads back more than one read's worth when the chain breaks late", async () => {
    const parts = [randomBytes(1024 * 1024), randomBytes(700_000), randomBytes(5)];
    const st = stream(0, CLAIMED, 0);
    tagDigestedChunk(parts[0]!, st, 0);
    tagDigestedChunk(parts[1]!, st, 1);
    const d = await new Snapshotter(dir).saveImage(2, 10, parts);
    expect(d).toEqual({ size: parts.reduce((a, p) => a + p.length, 0), sha256: sha(...parts) });
  });
});
