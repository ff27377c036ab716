/**
 * What the typed client hands out and takes: keys as strings, values as bytes (with their text),
 * revisions as numbers; and their JSON forms (packages/kv/src/kv-json.ts is the server's side).
 */

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** A key, its value and its revisions, as read. */
export class KvEntry {
  constructor(
    readonly key: string,
    /** The value's bytes (empty for a `keysOnly` read). */
    readonly value: Uint8Array,
    readonly createRevision: number,
    readonly modRevision: number,
    /** Changes since the key was created (1 after its create). */
    readonly version: number,
  ) {}

  /** The value decoded as UTF-8 (invalid sequences replaced). */
  get text(): string {
    return utf8.decode(this.value);
  }
}

/** A change seen by a watch. `value` and the revisions are the key's after a put; a delete has none. */
export interface WatchEvent {
  readonly revision: number;
  readonly kind: "put" | "delete";
  readonly key: string;
  /** The new value (put); empty for a delete. */
  readonly value: Uint8Array;
  readonly createRevision: number | undefined;
  readonly modRevision: number;
  readonly version: number | undefined;
}

/** A value as the client takes it: text (sent as UTF-8) or bytes. */
export type KvValue = string | Uint8Array;

/** Bytes of a value. */
export function bytesOf(v: KvValue): Uint8Array {
  return typeof v === "string" ? encoder.encode(v) : v;
}

/** A value as a JSON request field: `{value}` for text, `{valueBase64}` for bytes. */
export function valueField(v: KvValue): { value: string } | { valueBase64: string } {
  return typeof v === "string" ? { value: v } : { valueBase64: toBase64(v) };
}

/** Decodes a `{value}` / `{valueBase64}` JSON field (empty if neither). */
export function valueFrom(o: { value?: unknown; valueBase64?: unknown }): Uint8Array {
  if (typeof o.value === "string") return encoder.encode(o.value);
  if (typeof o.valueBase64 === "string") return fromBase64(o.valueBase64);
  return new Uint8Array(0);
}

/** A key of a JSON answer (`key`, or `keyBase64` for bytes that are not UTF-8, decoded leniently). */
export function keyOf(o: { key?: unknown; keyBase64?: unknown }): string {
  if (typeof o.key === "string") return o.key;
  if (typeof o.keyBase64 === "string") return utf8.decode(fromBase64(o.keyBase64));
  throw new Error("kv client: an answer without a key");
}

/** A key-value of a JSON answer. */
export function entryOf(o: Record<string, unknown>): KvEntry {
  return new KvEntry(
    keyOf(o),
    valueFrom(o),
    Number(o.createRevision),
    Number(o.modRevision),
    Number(o.version),
  );
}

/** A watch event of a JSON answer. */
export function eventOf(o: Record<string, unknown>): WatchEvent {
  const revision = Number(o.revision);
  const put = o.kind === "put";
  return {
    revision,
    kind: put ? "put" : "delete",
    key: keyOf(o),
    value: valueFrom(o),
    createRevision: put ? Number(o.createRevision) : undefined,
    modRevision: revision,
    version: put ? Number(o.version) : undefined,
  };
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 without Buffer or btoa's string detour (the client runs in any JavaScript runtime). */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63]! : "=";
    out += i + 2 < bytes.length ? B64[n & 63]! : "=";
  }
  return out;
}

/** Decodes base64 (standard alphabet, padded). */
export function fromBase64(s: string): Uint8Array {
  const clean = s.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (const ch of clean) {
    const v = B64.indexOf(ch);
    if (v < 0) throw new Error("kv client: bad base64 in an answer");
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}
