/**
 * `GET /backup` (role `admin`; etcd's `etcdctl snapshot save`): the store as a tsraft-kv image
 * (image.ts, the very bytes a follower receives), consistent at one applied index that holds every
 * write acknowledged before the request (a linearizable read comes first), streamed as it is read
 * from a SQLite read transaction: writes go on meanwhile, and neither side holds the image in
 * memory (the response is written only as fast as the client reads it).
 *
 * Headers: `X-Tsraft-Index` and `X-Tsraft-Term` (the applied index and its term), `X-Tsraft-Revision`.
 * Trailers: `X-Tsraft-Sha256`, the SHA-256 of the whole body, and `X-Tsraft-State-Hash`, the digest
 * `/debug/hash` answers for this state (state-hash.ts, computed from the rows as they are read): a
 * node restored from the backup answers it at the backup's index. A response cut short has no
 * trailers. A client that goes away releases the read transaction. `tsraft-kv backup`
 * (backup-command.ts) saves and checks it.
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { ExportedSnapshot, RaftNode } from "@tsraft/node";
import type { Logger } from "pino";
import type { KvRoute } from "./http.js";
import { HttpError } from "./http-errors.js";
import { SqliteSnapshot } from "./sqlite-snapshot.js";
import type { ApplyResult } from "./sqlite-state-machine.js";

/** The response headers of a backup (lower case, as node:http gives them). */
export const BACKUP_HEADERS = {
  index: "x-tsraft-index",
  term: "x-tsraft-term",
  revision: "x-tsraft-revision",
  sha256: "x-tsraft-sha256",
  stateHash: "x-tsraft-state-hash",
} as const;

/** The `GET /backup` route of a server over `node`. */
export function backupRoute(
  node: Pick<RaftNode<ApplyResult>, "linearizableRead" | "exportSnapshot">,
  requestTimeoutMs: number,
  log: Logger,
): KvRoute {
  return {
    name: "backup",
    match: (path) => path === "/backup",
    async handle(c) {
      if (c.req.method !== "GET") {
        throw new HttpError(
          405,
          "MethodNotAllowed",
          `${c.req.method} not allowed on /backup`,
          {},
          { allow: "GET" },
        );
      }
      for (const k of c.query.keys())
        throw new HttpError(400, "BadQuery", `unknown query parameter ${JSON.stringify(k)}`);
      await node.linearizableRead({ timeoutMs: requestTimeoutMs, signal: c.signal });
      const image = await node.exportSnapshot();
      await stream(c.res, image, c.signal, log);
    },
  };
}

async function stream(
  res: ServerResponse,
  image: ExportedSnapshot,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const t0 = performance.now();
  const hash = createHash("sha256");
  let bytes = 0;
  const sqlite = image.snapshot instanceof SqliteSnapshot ? image.snapshot : undefined;
  try {
    sqlite?.hashState();
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="tsraft-kv-${image.index}.backup"`,
      [BACKUP_HEADERS.index]: String(image.index),
      [BACKUP_HEADERS.term]: String(image.term),
      ...(sqlite === undefined ? {} : { [BACKUP_HEADERS.revision]: String(sqlite.revision) }),
      trailer: `${BACKUP_HEADERS.sha256}, ${BACKUP_HEADERS.stateHash}`,
    });
    for await (const chunk of image.snapshot.read()) {
      if (signal.aborted || res.destroyed) throw new Error("the client went away");
      hash.update(chunk);
      bytes += chunk.length;
      if (!res.write(chunk)) await drained(res, signal);
    }
    const sha256 = hash.digest("hex");
    const state = sqlite?.stateHash;
    res.addTrailers({
      [BACKUP_HEADERS.sha256]: sha256,
      ...(state === undefined ? {} : { [BACKUP_HEADERS.stateHash]: state.hash }),
    });
    res.end();
    log.info(
      { index: image.index, term: image.term, bytes, sha256, seconds: (performance.now() - t0) / 1000 },
      "backup sent",
    );
  } catch (err) {
    // The headers are out: all that is left is to cut the response short (the client sees no trailer).
    log.warn({ index: image.index, bytes, err: (err as Error).message }, "backup not completed");
    res.destroy();
  } finally {
    image.snapshot.release();
  }
}

/** Resolves when `res` can take more, rejects if the client goes away first. */
function drained(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      signal.removeEventListener("abort", onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error("the client went away"));
    res.on("drain", onDrain);
    res.on("close", onClose);
    signal.addEventListener("abort", onClose);
  });
}
