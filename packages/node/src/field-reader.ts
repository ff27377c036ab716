/**
 * A cursor over the protobuf fields of the node's own small records: the WAL's snapshot marker
 * (wal/record.ts) and the `.snap` file's envelope (snap/snapshotter.ts). The raftpb codec has its
 * own reader; these records are a few fields each, read by hand with their own errors.
 */
import { getVarint } from "@tsraft/raft/raftpb";

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
