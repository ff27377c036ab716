/**
 * Snapshot images as the simulator moves them: a state machine hands out an image as chunks
 * (`StateMachineSnapshot.read()`), the simulated disk keeps it as one byte array, and a node
 * restoring it reads it back as chunks again, cut at other places (a real transport does not keep
 * the sender's chunk boundaries either).
 */
import type { MaybePromise } from "../../state-machine.js";

/** The chunks of `bytes` in one array (copied only if there are several). */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The whole of an image read from `chunks`: at once when they come from a synchronous iterable
 * (what `StateMachineSnapshot.read()` may return, and what the simulator's restore images also
 * are), else a promise. An in-memory state machine uses it in `restore` so that it restores without
 * an `await` in the simulator and still accepts a real stream from `@tsraft/node`.
 */
export function collectImage(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): MaybePromise<Uint8Array> {
  if (Symbol.iterator in chunks) return concatChunks([...chunks]);
  return (async () => {
    const all: Uint8Array[] = [];
    for await (const c of chunks) all.push(c);
    return concatChunks(all);
  })();
}

/**
 * `bytes` as a restore image: an AsyncIterable (the contract's type) that is also a synchronous
 * Iterable, cut into 1 to 4 chunks depending on `cut` (deterministic: the same image and `cut`
 * always give the same chunks). An empty image is one empty chunk.
 */
export function restoreImage(
  bytes: Uint8Array,
  cut: number,
): AsyncIterable<Uint8Array> & Iterable<Uint8Array> {
  const pieces = 1 + (Math.abs(cut) % 4);
  const size = Math.max(1, Math.ceil(bytes.length / pieces));
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  if (chunks.length === 0) chunks.push(bytes);
  return {
    [Symbol.iterator]: () => chunks[Symbol.iterator](),
    [Symbol.asyncIterator]: async function* () {
      yield* chunks;
    },
  };
}
