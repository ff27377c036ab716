/**
 * How keys, values and revisions look in the HTTP API's JSON (range pages, transactions, watch
 * events) and headers. Keys and values are bytes; JSON carries text. A key or value that is valid
 * UTF-8 is sent as a string (`key`, `value`), anything else in base64 (`keyBase64`,
 * `valueBase64`): readable with curl for the common case, exact for every byte string. Requests
 * take either form for values; keys are UTF-8 text everywhere (as in `/kv/<key>`).
 */
import { isUtf8 } from "node:buffer";
import { HttpError } from "./http-errors.js";
import { MAX_KEY_BYTES } from "./http-io.js";
import type { KeyValue, KvChange } from "./mvcc-types.js";

/** The store's revision when an answer was made (every read and write answer carries it). */
export const REVISION_HEADER = "x-revision";

/** `GET /kv/<key>`'s headers: the store's revision and the key's revisions. */
export function revisionHeaders(revision: number, kv: KeyValue): Record<string, number> {
  return {
    [REVISION_HEADER]: revision,
    "x-create-revision": kv.createRevision,
    "x-mod-revision": kv.modRevision,
    "x-version": kv.version,
  };
}

/** A key and its value in JSON, with its revisions. */
export interface KeyValueJson {
  key?: string;
  keyBase64?: string;
  value?: string;
  valueBase64?: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

/** `bytes` as `{[name]: text}` if UTF-8, else `{[name + "Base64"]: base64}`. */
export function bytesField(name: "key" | "value", bytes: Uint8Array): Record<string, string> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8(b) ? { [name]: b.toString("utf8") } : { [`${name}Base64`]: b.toString("base64") };
}

/** `kv` as JSON; without its value if `keysOnly`. */
export function keyValueJson(kv: KeyValue, keysOnly = false): KeyValueJson {
  return {
    ...bytesField("key", kv.key),
    ...(keysOnly ? {} : bytesField("value", kv.value)),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
}

/**
 * A change as a watch event's JSON: a put carries the key's value and revisions after it, a delete
 * only the key (its mod revision is the event's revision).
 */
export function changeJson(c: KvChange): Record<string, unknown> {
  if (c.value === undefined) return { revision: c.revision, kind: "delete", ...bytesField("key", c.key) };
  return {
    revision: c.revision,
    kind: "put",
    ...bytesField("key", c.key),
    ...bytesField("value", c.value),
    createRevision: c.createRevision,
    modRevision: c.revision,
    version: c.version,
  };
}

/**
 * The bytes of field `name` of a JSON request object. A key is a string (keys are UTF-8 text, as in
 * `/kv/<key>`); a value is `o.value` (a string, taken as UTF-8) or `o.valueBase64`, exactly one
 * of them. 400 otherwise, naming `where`.
 */
export function readBytesField(o: Record<string, unknown>, name: "key" | "value", where: string): Uint8Array {
  if (name === "key") {
    if (typeof o.key !== "string") throw new HttpError(400, "InvalidKey", `${where}: key must be a string`);
    const key = Buffer.from(o.key, "utf8");
    checkKey(key, where);
    return key;
  }
  const text = o.value;
  const b64 = o.valueBase64;
  if (text !== undefined && b64 !== undefined) {
    throw new HttpError(400, "InvalidJSON", `${where}: give value or valueBase64, not both`);
  }
  if (typeof text === "string") return Buffer.from(text, "utf8");
  if (typeof b64 === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(b64) && b64.length % 4 === 0) {
    return Buffer.from(b64, "base64");
  }
  throw new HttpError(400, "InvalidJSON", `${where}: value must be a string (or valueBase64, base64)`);
}

/** 400 unless `key` is a valid key: non-empty, at most {@link MAX_KEY_BYTES} bytes. */
export function checkKey(key: Uint8Array, where: string): void {
  if (key.length === 0) throw new HttpError(400, "InvalidKey", `${where}: empty key`);
  if (key.length > MAX_KEY_BYTES) {
    throw new HttpError(
      400,
      "KeyTooLong",
      `${where}: key is ${key.length} bytes, the limit is ${MAX_KEY_BYTES}`,
    );
  }
}
