import { describe, expect, it } from "vitest";
import { digestedChunkOrigin } from "../snap/digested-chunks.js";
import { IncomingImage, SnapshotTransferError } from "./incoming-image.js";

const hooks = { drained: () => {}, abandoned: () => {} };

describe("IncomingImage", () => {
  it("tags each chunk with its position and reports the checked digest with the chunk count once ended", async () => {
    const img = new IncomingImage(hooks);
    const chunks = [Uint8Array.of(1), Uint8Array.of(2, 3), Uint8Array.of(4)];
    for (const c of chunks) img.push(c);
    expect(img.digest()).toBeUndefined();
    img.end({ size: 4, sha256: "cd".repeat(32) });
    expect(img.digest()).toEqual({ size: 4, sha256: "cd".repeat(32), chunks: 3 });
    const got: Uint8Array[] = [];
    for await (const c of img) got.push(c);
    expect(got).toEqual(chunks);
    for (const [i, c] of got.entries()) expect(digestedChunkOrigin(c)).toEqual({ stream: img, seq: i });
  });

  it("has no digest when the transfer fails before the end", async () => {
    const img = new IncomingImage(hooks);
    img.push(Uint8Array.of(1));
    img.fail(new SnapshotTransferError("snapshot-truncated", "gone"));
    img.end({ size: 1, sha256: "cd".repeat(32) });
    expect(img.digest()).toBeUndefined();
    await expect(img.next()).rejects.toThrow("gone");
  });
});
