/**
 * Chunks of an image whose producer has already computed the image's size and SHA-256: the
 * transport's incoming image (src/transport/incoming-image.ts), which hashes every byte to check
 * the sender's trailer. `Snapshotter.saveImage`, writing such chunks, takes that digest instead of
 * hashing the same bytes a second time (SHA-256 is the largest CPU cost of receiving a snapshot);
 * it hashes whatever else it is given as before.
 *
 * The chunks carry the tag, not the iterable, because the node hands `saveImage` a wrapper around
 * the incoming image (RaftNode.receiveSnapshot's term check before each chunk). `saveImage` uses the
 * digest only if every chunk it wrote carries a tag of the same stream, in order from the first,
 * and the stream's final digest counts exactly those chunks and bytes; otherwise it hashes the file.
 */

/** A producer of tagged chunks. */
export interface DigestedStream {
  /**
   * Size, SHA-256 (lower-case hex) and number of chunks of everything the stream handed out, once
   * it has ended with its digest checked; undefined before (or if it never will).
   */
  digest(): { readonly size: number; readonly sha256: string; readonly chunks: number } | undefined;
}

/** Where a tagged chunk came from: its stream and its position in it (0 for the first). */
export interface ChunkOrigin {
  readonly stream: DigestedStream;
  readonly seq: number;
}

const origins = new WeakMap<Uint8Array, ChunkOrigin>();

/**
 * Tags `chunk` as the `seq`-th chunk (from 0) of `stream`. The producer promises that the chunk's
 * bytes are those it hashed into the digest `stream` will report, that it tags each chunk it hands
 * out once, in order, and that nobody writes to the chunk afterwards (a consumer must not either).
 */
export function tagDigestedChunk(chunk: Uint8Array, stream: DigestedStream, seq: number): void {
  origins.set(chunk, { stream, seq });
}

/** The tag of `chunk`, if its producer tagged it. */
export function digestedChunkOrigin(chunk: Uint8Array): ChunkOrigin | undefined {
  return origins.get(chunk);
}
