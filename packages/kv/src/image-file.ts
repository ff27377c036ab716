/**
 * An image (image.ts) in a file, as `tsraft-kv backup` writes it and `tsraft-kv restore` reads it:
 * verified by streaming it through the decoder, a chunk at a time, never held in memory.
 */
import { createReadStream } from "node:fs";
import { ImageDecoder } from "./image-decoder.js";
import type { ImageSummary } from "./image-format.js";

/**
 * Reads the image file at `path` to its end and verifies it (header, record order and count, the
 * trailer's SHA-256): resolves with its summary, or rejects with an ImageError saying what is wrong
 * and where (a truncated file: Truncated; a changed byte: ChecksumMismatch...), or the read's error.
 */
export async function verifyImageFile(path: string, maxRecordBytes?: number): Promise<ImageSummary> {
  const decoder = new ImageDecoder(maxRecordBytes === undefined ? {} : { maxRecordBytes });
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    decoder.push(chunk as Buffer);
    while (decoder.next() !== undefined) {}
  }
  return decoder.finish();
}

/** The chunks of the image file at `path`, for building a database from it. */
export function readImageFile(path: string): AsyncIterable<Uint8Array> {
  return createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>;
}
