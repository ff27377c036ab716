/**
 * The KV commands carried in Raft entries, and their compact binary encoding.
 *
 * An entry's data is one command. The request id that lets the proposing node answer the right
 * HTTP request is the RaftNode's business (it wraps the data), so a command is only the operation:
 *
 * ```
 * byte 0      format version (1)
 * byte 1      op: 1 put, 2 delete
 * byte 2      flags: bit 0 = `prev` present (compare-and-swap / compare-and-delete)
 * uvarint+bytes key
 * uvarint+bytes value   (put only)
 * uvarint+bytes prev    (flag bit 0 only)
 * ```
 *
 * Keys and values are opaque bytes here; the HTTP layer decides what a valid key is. The encoding is
 * part of the on-disk format (entries live in the WAL and are re-applied after a restart), so a
 * change must bump the version byte and keep decoding the old one.
 */

import { putVarint, varintSize } from "@tsraft/raft/raftpb";

/** The encoding version written by {@link encodeCommand}. */
export const COMMAND_VERSION = 1;

/** A write to the key-value store. `prev` makes it conditional on the key's current value. */
export type Command =
  | { readonly op: "put"; readonly key: Uint8Array; readonly value: Uint8Array; readonly prev?: Uint8Array }
  | { readonly op: "delete"; readonly key: Uint8Array; readonly prev?: Uint8Array };

const OP_PUT = 1;
const OP_DELETE = 2;
const FLAG_PREV = 1;

/** Thrown by {@link decodeCommand} on bytes that are not a command of a known version. */
export class CommandDecodeError extends Error {
  override readonly name = "CommandDecodeError";
}

/** Encodes `cmd` for `RaftNode.propose`. */
export function encodeCommand(cmd: Command): Uint8Array {
  const fields: Uint8Array[] = [cmd.key];
  if (cmd.op === "put") fields.push(cmd.value);
  if (cmd.prev !== undefined) fields.push(cmd.prev);
  let size = 3;
  for (const f of fields) size += varintSize(f.length) + f.length;
  const out = new Uint8Array(size);
  out[0] = COMMAND_VERSION;
  out[1] = cmd.op === "put" ? OP_PUT : OP_DELETE;
  out[2] = cmd.prev !== undefined ? FLAG_PREV : 0;
  let p = 3;
  for (const f of fields) {
    p = putVarint(out, p, f.length);
    out.set(f, p);
    p += f.length;
  }
  return out;
}

/**
 * Decodes an entry's data. Throws {@link CommandDecodeError} on anything malformed (unknown version,
 * op or flag, truncated or trailing bytes); the fields returned are views into `data`.
 */
export function decodeCommand(data: Uint8Array): Command {
  if (data.length < 3) throw new CommandDecodeError(`command too short (${data.length} bytes)`);
  if (data[0] !== COMMAND_VERSION) throw new CommandDecodeError(`unknown command version ${data[0]}`);
  const op = data[1];
  const flags = data[2]!;
  if (op !== OP_PUT && op !== OP_DELETE) throw new CommandDecodeError(`unknown command op ${op}`);
  if ((flags & ~FLAG_PREV) !== 0) throw new CommandDecodeError(`unknown command flags ${flags}`);
  let p = 3;
  const bytes = (what: string): Uint8Array => {
    let n = 0;
    let mul = 1;
    for (let shift = 0; ; shift += 7) {
      if (p >= data.length || shift > 49) throw new CommandDecodeError(`bad ${what} length`);
      const b = data[p++]!;
      n += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 128) break;
    }
    if (n > data.length - p) throw new CommandDecodeError(`${what} truncated`);
    const out = data.subarray(p, p + n);
    p += n;
    return out;
  };
  const key = bytes("key");
  const value = op === OP_PUT ? bytes("value") : undefined;
  const prev = (flags & FLAG_PREV) !== 0 ? bytes("prev") : undefined;
  if (p !== data.length) throw new CommandDecodeError(`${data.length - p} trailing bytes`);
  if (value !== undefined) {
    return prev === undefined ? { op: "put", key, value } : { op: "put", key, value, prev };
  }
  return prev === undefined ? { op: "delete", key } : { op: "delete", key, prev };
}
