/**
 * `tsraft-kv backup --endpoint URL --out FILE` (etcdctl snapshot save): saves `GET /backup` of a
 * running member to FILE, streamed to `FILE.part` as it arrives (never held in memory), then checked
 * (the body's SHA-256 against the server's trailer, and the image itself: complete, its own
 * checksum, at the index the server named), fsynced, and renamed to FILE. A refused request, a cut
 * connection or a bad image leaves no FILE. Prints one JSON line: the file, index, term, revision,
 * bytes, SHA-256 and state hash (what `/debug/hash` answers on a node restored from it, at its index).
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname } from "node:path";
import { BACKUP_HEADERS } from "./backup-route.js";
import { parseFlags, runJsonCommand } from "./command-line.js";
import { verifyImageFile } from "./image-file.js";
import { OperatorError } from "./operator-error.js";
import { fsyncPath } from "./sqlite-restore.js";

export const BACKUP_HELP = `tsraft-kv backup: save a consistent image of a running cluster's store.

Usage:
  tsraft-kv backup --endpoint https://127.0.0.1:12380 --out ./kv.backup [--token-file FILE]

  --endpoint URL     a member's client URL (http:// or https://)
  --out FILE         where to write the backup (must not exist)
  --token-file FILE  a file holding an admin token (or env TSRAFT_TOKEN), with --auth-token-file
  --cacert FILE      CA of the server's certificate (https)
  --cert FILE        client certificate, with --client-ca-file...
  --key FILE         ...and its key
`;

/** What a saved backup is. */
export interface BackupResult {
  readonly file: string;
  readonly index: number;
  readonly term: number;
  readonly revision: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly stateHash: string | undefined;
}

/** Options of {@link saveBackup}. */
export interface BackupOptions {
  readonly endpoint: string;
  readonly out: string;
  readonly token?: string | undefined;
  readonly ca?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
  readonly key?: Buffer | undefined;
}

/** Runs the command with `argv` (after `backup`); returns the exit code. */
export function runBackup(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return runJsonCommand("backup", BACKUP_HELP, () => parseBackupArgs(argv, env), saveBackup);
}

function parseBackupArgs(argv: readonly string[], env: NodeJS.ProcessEnv): BackupOptions | "help" {
  const str = { type: "string" } as const;
  const { values: v, positionals } = parseFlags(argv, {
    endpoint: str,
    out: str,
    "token-file": str,
    cacert: str,
    cert: str,
    key: str,
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return "help";
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}`);
  if (v.endpoint === undefined || !/^https?:\/\//.test(v.endpoint)) {
    throw new Error("--endpoint http(s)://host:port is required");
  }
  if (v.out === undefined) throw new Error("--out FILE is required");
  if ((v.cert === undefined) !== (v.key === undefined)) throw new Error("--cert and --key go together");
  const token =
    v["token-file"] !== undefined ? readFileSync(v["token-file"], "utf8").trim() : env.TSRAFT_TOKEN;
  return {
    endpoint: v.endpoint,
    out: v.out,
    token: token === "" ? undefined : token,
    ca: v.cacert === undefined ? undefined : readFileSync(v.cacert),
    cert: v.cert === undefined ? undefined : readFileSync(v.cert),
    key: v.key === undefined ? undefined : readFileSync(v.key),
  };
}

/** Saves the backup of `o.endpoint` to `o.out` (see the file comment). */
export async function saveBackup(o: BackupOptions): Promise<BackupResult> {
  if (existsSync(o.out)) throw new OperatorError(`${o.out} exists; choose another --out`);
  const part = `${o.out}.part`;
  rmSync(part, { force: true });
  try {
    const got = await download(o, part);
    await fsyncPath(part, "file");
    const summary = await verifyImageFile(part).catch((err: Error) => {
      throw new OperatorError(`the image received from ${o.endpoint} is not valid: ${err.message}`);
    });
    if (summary.header.appliedIndex !== got.index) {
      throw new OperatorError(
        `the image is at index ${summary.header.appliedIndex}, the server said ${got.index}`,
      );
    }
    renameSync(part, o.out);
    await fsyncPath(dirname(o.out), "dir");
    const { index, term, bytes, sha256, stateHash } = got;
    return { file: o.out, index, term, revision: summary.header.revision, bytes, sha256, stateHash };
  } catch (err) {
    rmSync(part, { force: true });
    throw err;
  }
}

/** GET /backup into `path`; checks the status, the headers and the body's SHA-256 trailer. */
async function download(
  o: BackupOptions,
  path: string,
): Promise<{ index: number; term: number; bytes: number; sha256: string; stateHash: string | undefined }> {
  const url = new URL("/backup", o.endpoint);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    const opts = { headers, ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert, key: o.key } : {}) };
    const req = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, opts, resolve);
    req.on("error", reject);
    req.end();
  });
  if (res.statusCode !== 200) {
    let body = "";
    for await (const c of res) body += (c as Buffer).toString("utf8");
    let detail = body.slice(0, 300);
    try {
      const j = JSON.parse(body) as { code?: string; message?: string };
      detail = `${j.code ?? ""}: ${j.message ?? ""}`;
    } catch {}
    throw new OperatorError(`${url.origin} answered ${res.statusCode} ${detail}`);
  }
  const index = Number(res.headers[BACKUP_HEADERS.index]);
  const term = Number(res.headers[BACKUP_HEADERS.term]);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term)) {
    throw new OperatorError(`${url.origin} sent no index and term: is it a tsraft-kv server?`);
  }
  const hash = createHash("sha256");
  let bytes = 0;
  const out = createWriteStream(path, { flags: "wx" });
  try {
    for await (const chunk of res) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", r));
    }
  } catch (err) {
    throw new OperatorError(
      `the response from ${url.origin} was cut short after ${bytes} bytes (${(err as Error).message})`,
    );
  } finally {
    await new Promise<void>((resolve, reject) =>
      out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
  // A response cut short (the server failed mid-way) ends without its trailers.
  const expected = res.trailers[BACKUP_HEADERS.sha256];
  if (!res.complete || expected === undefined) {
    throw new OperatorError(`the response from ${url.origin} was cut short after ${bytes} bytes`);
  }
  const sha256 = hash.digest("hex");
  if (sha256 !== expected) {
    throw new OperatorError(`received ${bytes} bytes with SHA-256 ${sha256}, the server sent ${expected}`);
  }
  return { index, term, bytes, sha256, stateHash: res.trailers[BACKUP_HEADERS.stateHash] };
}
