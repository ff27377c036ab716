/**
 * The restore worker (restore-worker.ts) against the build it runs (sqlite-restore.ts): the same
 * database, the same errors, at the priority asked for.
 */
import { readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { imageOf, openSm, put, tempDir, useSqliteKit } from "../test/sqlite-kit.js";
import { ImageError } from "./image-format.js";
import { buildDatabaseFromImage, buildDatabaseInWorker } from "./sqlite-restore.js";
import { DB_FILE } from "./sqlite-state-machine.js";

useSqliteKit();

async function source() {
  const src = openSm(tempDir(), { imageChunkBytes: 4096 });
  for (let i = 1; i <= 200; i++) await src.apply([put(i, `k${i % 150}`, `value ${i}`.repeat(20))]);
  return { src, image: await imageOf(src) };
}

describe("buildDatabaseInWorker", () => {
  it("builds what the build on the event loop builds, byte for byte, at the nice value asked for", async () => {
    const { src, image } = await source();
    expect(image.chunks.length).toBeGreaterThan(8); // more chunks than the worker takes ahead
    const here = join(tempDir(), DB_FILE);
    const there = join(tempDir(), DB_FILE);
    const inLoop = await buildDatabaseFromImage(here, image.index, image.chunks);
    let nice: number | undefined | null = null;
    const inWorker = await buildDatabaseInWorker(there, image.index, image.chunks, {
      nice: 7,
      onStarted: (n) => (nice = n),
    });
    expect(inWorker).toEqual(inLoop);
    expect(readFileSync(there).equals(readFileSync(here))).toBe(true);
    if (process.platform === "linux") expect(nice).toBe(Math.max(7, getPriority()));
    else expect(nice).toBeUndefined();
    expect(getPriority()).not.toBe(7); // only the worker's thread was lowered
    const restored = openSm(join(there, ".."));
    expect(restored.stateHash()).toEqual(src.stateHash());
  });

  it("throws an invalid image's ImageError with its code and offset, and a failed read's own error", async () => {
    const { image } = await source();
    const whole = Buffer.concat(image.chunks);
    const corrupt = Buffer.from(whole);
    corrupt[Math.floor(whole.length / 2)]! ^= 0x10;
    const expected = await buildDatabaseFromImage(join(tempDir(), DB_FILE), image.index, [corrupt]).catch(
      (e: unknown) => e,
    );
    expect(expected).toBeInstanceOf(ImageError);
    const got = await buildDatabaseInWorker(join(tempDir(), DB_FILE), image.index, [corrupt]).catch(
      (e: unknown) => e,
    );
    expect(got).toBeInstanceOf(ImageError);
    const { code, offset, message } = expected as ImageError;
    expect(got).toMatchObject({ code, offset, message });

    async function* failing() {
      yield whole.subarray(0, 5000);
      throw new Error("the leader went away");
    }
    await expect(buildDatabaseInWorker(join(tempDir(), DB_FILE), image.index, failing())).rejects.toThrow(
      /^the leader went away$/,
    );
  });
});
