/**
 * The protobuf fields of the node's own small records: the WAL's snapshot marker (wal/record.ts)
 * and the `.snap` file's envelope (snap/snapshotter.ts), a few fields each, written and read here
 * with their own errors (the raftpb codec is for raft.proto's messages).
 */
import { getVarint, putVarint, varintSize } from "@tsraft/raft/raftpb";

/** A field to write: its tag, then a number (a varint field) or bytes (a length-delimited one). */
export type Field = readonly [tag: number, value: number | Uint8Array];

/** The bytes of `fields`, in order, in one allocation. */
export function encodeFields(fields: readonly Field[]): Uint8Array {
  let n = 0;
  for (const [tag, v] of fields) {
    n += varintSize(tag) + (typeof v === "number" ? varintSize(v) : varintSize(v.length) + v.length);
  }
  const out = new Uint8Array(n);
  let p = 0;
  for (const [tag, v] of fields) {
    p = putVarint(out, p, tag);
    if (typeof v === "number") p = putVarint(out, p, v);
    else {
      p = putVarint(out, p, v.length);
      out.set(v, p);
      p += v.length;
    }
  }
  return out;
}

/** Reads varints and length-delimited fields in order; throws a RangeError or Error past the end. */
export class FieldReader {
  private pos = 0;

  constructor(private readonly b: Uint8Array) {}

  /** True while bytes are left. */
  more(): boolean {
    return this.pos < this.b.length;
  }

  /** The offset of the next byte (for error messages). */
  get offset(): number {
    return this.pos;
  }

  /** The next varint (a tag or a value), as a safe integer. */
  varint(): number {
    const r = getVarint(this.b, this.pos);
    this.pos = r.end;
    return r.value;
  }

  /**
   * The bytes of a length-delimited field (a view, not a copy); throws an Error saying
   * `pastEnd` when its length runs past the end of the record.
   */
  bytes(pastEnd: string): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.b.length) throw new Error(pastEnd);
    const v = this.b.subarray(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
}
