/**
 * The image worker: a worker thread that pins the KV database at one applied index and produces its
 * image (image-producer.ts) as the snapshot on the event loop asks for chunks (sqlite-snapshot.ts
 * has the protocol). Reading SQLite, encoding and hashing run here, so the event loop that serves
 * writes only passes chunks on.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { imageChunks } from "./image-producer.js";
import { checkSchema, readMeta } from "./sqlite-database.js";
import { StateHasher } from "./state-hash.js";

/** What the snapshot gives the worker at its start. */
export interface ImageWorkerData {
  readonly path: string;
  /** The state the database must hold when pinned (else the worker fails). */
  readonly index: number;
  readonly revision: number;
  readonly compactRevision: number;
  readonly chunkBytes: number;
}

/** Messages to the worker: start producing (once; `hash`: also compute the state digest), or allow `n` more chunks. */
export type ToImageWorker =
  | { readonly type: "start"; readonly hash: boolean }
  | { readonly type: "credit"; readonly n: number };

/** Messages from the worker, in this order: pinned (or error), chunks, end (or error). */
export type FromImageWorker =
  | { readonly type: "pinned" }
  | { readonly type: "chunk"; readonly chunk: Uint8Array }
  | { readonly type: "end"; readonly digest: { keys: number; changes: number; hash: string } | undefined }
  | { readonly type: "error"; readonly message: string };

const port = parentPort!;
const { path, index, revision, compactRevision, chunkBytes } = workerData as ImageWorkerData;
const post = (m: FromImageWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

let db: Database.Database | undefined;
let chunks: Iterator<Uint8Array> | undefined;
let hasher: StateHasher | undefined;
let credit = 0;
let header: { appliedIndex: number; revision: number; compactRevision: number } | undefined;

try {
  db = new Database(path, { readonly: true, fileMustExist: true });
  db.prepare("BEGIN").run();
  // The read transaction starts at its first read: from here on, this connection sees this state.
  checkSchema(db);
  const meta = readMeta(db);
  if (meta.appliedIndex !== index || meta.revision !== revision || meta.compactRevision !== compactRevision) {
    throw new Error(
      `the database holds index ${meta.appliedIndex} (revision ${meta.revision}, compacted at ${meta.compactRevision}), expected ${index} (${revision}, ${compactRevision}): not committed?`,
    );
  }
  header = meta;
  post({ type: "pinned" });
} catch (err) {
  fail(err);
}

port.on("message", (m: ToImageWorker) => {
  if (db === undefined || header === undefined) return;
  try {
    if (m.type === "start") {
      if (m.hash) hasher = new StateHasher(header.revision, header.compactRevision);
      chunks = imageChunks(db, header, chunkBytes, hasher);
    } else credit += m.n;
    pump();
  } catch (err) {
    fail(err);
  }
});

/** Produces and posts chunks while there is credit; the end, after the last one. */
function pump(): void {
  while (chunks !== undefined && credit > 0) {
    const next = chunks.next();
    if (next.done) {
      chunks = undefined;
      db?.close(); // ends the read transaction
      db = undefined;
      post({ type: "end", digest: hasher?.finish() });
      port.close(); // nothing is left to do: the thread exits
      return;
    }
    credit--;
    const c = next.value;
    // A chunk that owns its whole buffer moves to the event loop's thread without a copy.
    const own = c.byteOffset === 0 && c.byteLength === c.buffer.byteLength && c.buffer instanceof ArrayBuffer;
    const chunk = own ? c : c.slice();
    post({ type: "chunk", chunk }, [chunk.buffer as ArrayBuffer]);
  }
}

function fail(err: unknown): void {
  post({ type: "error", message: err instanceof Error ? err.message : String(err) });
  try {
    db?.close();
  } catch {}
  db = undefined;
  port.close();
}
