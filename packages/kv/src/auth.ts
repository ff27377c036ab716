/**
 * Client authentication and authorization of the HTTP API: bearer tokens with a role each, read
 * from `--auth-token-file` (one `token role` per line; `#` comments and blank lines allowed).
 *
 * Roles, each including the one before: `read` (GET and HEAD: values, ranges, members, status,
 * metrics), `readwrite` (every other method on the data: PUT, DELETE, POST), `admin` (membership
 * changes, `GET /backup`, `/debug/*`). `GET /health` needs no token (liveness probes), and
 * `GET /metrics` none with `--metrics-public` (Prometheus scrapers), else `read`.
 *
 * Answers: 401 `Unauthorized` (with `WWW-Authenticate: Bearer`) for a request without a token or
 * with one the file does not hold; 403 `Forbidden` for a token whose role may not do it. Tokens
 * are compared in constant time (SHA-256 digests of the presented and of every configured token,
 * all compared with `timingSafeEqual`, none skipped), and never logged: not in request lines, not
 * in errors (a malformed line of the file is named by its number).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-errors.js";

/** A token's role. */
export type Role = "read" | "readwrite" | "admin";

const RANK: Readonly<Record<Role, number>> = { read: 1, readwrite: 2, admin: 3 };

/** What a request needs: no token, or a token with at least this role. */
export type Requirement = "none" | Role;

/** The tokens of an `--auth-token-file`, by SHA-256 digest. */
export class TokenTable {
  private constructor(private readonly entries: readonly { digest: Buffer; role: Role }[]) {}

  /** Parses the file's text; throws an Error naming the bad line (by number, never its content). */
  static parse(text: string, source = "the token file"): TokenTable {
    const entries: { digest: Buffer; role: Role }[] = [];
    const seen = new Set<string>();
    text.split("\n").forEach((raw, i) => {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) return;
      const parts = line.split(/\s+/);
      const role = parts[1];
      if (parts.length !== 2 || (role !== "read" && role !== "readwrite" && role !== "admin")) {
        throw new Error(`${source}, line ${i + 1}: expected "<token> <read|readwrite|admin>"`);
      }
      if (parts[0]!.length < 16)
        throw new Error(`${source}, line ${i + 1}: a token must have at least 16 characters`);
      const digest = sha256(parts[0]!);
      const hex = digest.toString("hex");
      if (seen.has(hex)) throw new Error(`${source}, line ${i + 1}: this token is listed twice`);
      seen.add(hex);
      entries.push({ digest, role });
    });
    if (entries.length === 0) throw new Error(`${source} holds no token`);
    return new TokenTable(entries);
  }

  /** Reads and parses `path`. */
  static load(path: string): TokenTable {
    return TokenTable.parse(readFileSync(path, "utf8"), path);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The role of `token`, or undefined; the same work whatever the token (constant time). */
  roleOf(token: string): Role | undefined {
    const d = sha256(token);
    let found: Role | undefined;
    for (const e of this.entries) {
      // No early exit: every entry is compared.
      if (timingSafeEqual(d, e.digest)) found = e.role;
    }
    return found;
  }
}

function sha256(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** Routes that need `admin` whatever the method (path prefixes). */
const ADMIN_PREFIXES = ["/members", "/backup", "/debug/"];

/**
 * What `method` on `path` needs (the role table of the file comment). `/members` reads are `read`:
 * listing members is what clients do to find endpoints; changing them is `admin`.
 */
export function requirementOf(method: string, path: string, metricsPublic: boolean): Requirement {
  const read = method === "GET" || method === "HEAD";
  if (path === "/health") return "none";
  if (path === "/metrics") return metricsPublic ? "none" : "read";
  if (path === "/members" && read) return "read";
  if (ADMIN_PREFIXES.some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`)))
    return "admin";
  return read ? "read" : "readwrite";
}

/**
 * Checks `req` against `table`: returns the role it acts with, or throws 401/403. With no table
 * (auth off) everything is allowed.
 */
export function authorize(
  req: IncomingMessage,
  path: string,
  table: TokenTable | undefined,
  metricsPublic: boolean,
): Role | undefined {
  if (table === undefined) return undefined;
  const need = requirementOf(req.method ?? "GET", path, metricsPublic);
  if (need === "none") return undefined;
  const h = req.headers.authorization;
  const m = typeof h === "string" ? /^Bearer[ ]+(\S+)\s*$/i.exec(h) : null;
  const role = m === null ? undefined : table.roleOf(m[1]!);
  if (role === undefined) {
    throw new HttpError(
      401,
      "Unauthorized",
      m === null ? "this request needs an Authorization: Bearer token" : "unknown token",
      {},
      { "www-authenticate": 'Bearer realm="tsraft-kv"' },
    );
  }
  if (RANK[role] < RANK[need]) {
    throw new HttpError(403, "Forbidden", `this request needs the ${need} role; the token has ${role}`);
  }
  return role;
}
