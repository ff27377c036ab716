/**
 * Snapshot images as the simulator moves them: a state machine hands out an image as chunks
 * (`StateMachineSnapshot.read()`), the simulated disk keeps it as one byte array, and a node
 * restoring it reads it back as chunks again, cut at other places (a real transport does not keep
 * the sender's chunk boundaries either).
 */
import type { MaybePromise, StateMachineSnapshot } from "../../state-machine.js";

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
 * A snapshot of an in-memory state encoded as `image` now, at `index`: read as one chunk (as often
 * as asked), nothing to release. Later applies do not change it.
 */
export function imageSnapshot(index: number, image: Uint8Array): StateMachineSnapshot {
  return { index, read: () => [image], release: () => {} };
}

/**
 * Collects a restore image ({@link collectImage}) and hands its bytes to `load`: synchronously when
 * the image allows it, as `restore` in the simulator wants, else once it is read.
 */
export function loadImage(
  image: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  load: (bytes: Uint8Array) => void,
): MaybePromise<void> {
  const bytes = collectImage(image);
  if (bytes instanceof Promise) return bytes.then(load);
  load(bytes);
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
