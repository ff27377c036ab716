/**
 * The restore worker: a worker thread that builds a KV database from an image
 * (sqlite-restore.ts `buildDatabaseFromImage`) as the event loop hands it the image's chunks
 * (sqlite-restore.ts `buildDatabaseInWorker` has the protocol). SQLite's inserts, the decoding and
 * the last check run here, at a lower CPU priority where the system allows it (restore-priority.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { type ImageSummary, isImageError } from "./image-format.js";
import { lowerThreadPriority } from "./restore-priority.js";
import { type BuildOptions, buildDatabaseFromImage } from "./sqlite-restore.js";

/** What the state machine gives the worker at its start. */
export interface RestoreWorkerData {
  readonly path: string;
  readonly index: number;
  readonly options: BuildOptions;
  /** The nice value to run at (restore-priority.ts; 0 leaves the thread's priority as it is). */
  readonly nice: number;
}

/** Messages to the worker: the image's next chunk, its end, or the end of the chunks without it (a failed read). */
export type ToRestoreWorker =
  | { readonly type: "chunk"; readonly chunk: Uint8Array }
  | { readonly type: "end" }
  | { readonly type: "abort" };

/** Messages from the worker: its priority once, a credit per chunk taken, then done or error. */
export type FromRestoreWorker =
  | { readonly type: "started"; readonly nice: number | undefined }
  | { readonly type: "taken" }
  | { readonly type: "done"; readonly summary: ImageSummary }
  | {
      readonly type: "error";
      readonly message: string;
      /** Set for an ImageError: its code and offset, to rethrow it as one. */
      readonly image?: { readonly code: string; readonly offset: number };
    };

const port = parentPort!;
const { path, index, options, nice } = workerData as RestoreWorkerData;
const post = (m: FromRestoreWorker) => port.postMessage(m);

/** Chunks received and not yet taken by the build, and who waits for the next. */
const inbox: ToRestoreWorker[] = [];
let wake: (() => void) | undefined;
port.on("message", (m: ToRestoreWorker) => {
  inbox.push(m);
  wake?.();
});

async function* chunks(): AsyncGenerator<Uint8Array> {
  for (;;) {
    while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    const m = inbox.shift()!;
    if (m.type === "end") return;
    if (m.type === "abort") throw new Error("the image could not be read to its end");
    post({ type: "taken" });
    yield m.chunk;
  }
}

post({ type: "started", nice: lowerThreadPriority(nice) });
buildDatabaseFromImage(path, index, chunks(), options).then(
  (summary) => post({ type: "done", summary }),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    post(
      isImageError(err)
        ? { type: "error", message, image: { code: err.code, offset: err.offset } }
        : { type: "error", message },
    );
  },
);
