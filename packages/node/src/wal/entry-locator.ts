/**
 * Where each entry the WAL saved in this run sits: its segment, the frame's offset and size, and its
 * term. With it the WAL reads back entries MemoryStorage no longer holds — for a
 * follower that catches up after a snapshot — synchronously, as the core's Storage interface needs
 * (a pread of data written moments ago, normally from the page cache).
 */
import { decodeEntry, type Entry, entrySize } from "@tsraft/raft/raftpb";
import type { FileHandleLike } from "../file-system.js";
import { FRAME_HEADER_SIZE, RecordType } from "./record.js";

/** A run of frames in one segment: `length` bytes at `offset`. */
export interface EntrySpan {
  readonly seq: number;
  readonly offset: number;
  length: number;
}

export class EntryLocator {
  /** The index of the entry at position 0; meaningless while empty. */
  private first = 0;
  private readonly terms: number[] = [];
  private readonly segs: number[] = [];
  private readonly offsets: number[] = [];
  private readonly sizes: number[] = [];

  /** The located range, or undefined if empty. */
  range(): { first: number; last: number } | undefined {
    const n = this.terms.length;
    return n === 0 ? undefined : { first: this.first, last: this.first + n - 1 };
  }

  /** The term of located entry `index` (undefined if it is not located). */
  term(index: number): number | undefined {
    const i = index - this.first;
    return i >= 0 && i < this.terms.length ? this.terms[i] : undefined;
  }

  /**
   * Records that entry `index` (term `term`) was written to segment `seq` at `offset`, in a frame
   * of `size` bytes. An index at or below the last one located replaces it and
   * forgets everything after it (a new leader overwrote an uncommitted suffix); a gap forgets all.
   */
  add(index: number, term: number, seq: number, offset: number, size: number): void {
    const n = this.terms.length;
    if (n > 0 && (index < this.first || index > this.first + n)) this.clear();
    else if (n > 0 && index < this.first + n) this.truncate(index - this.first);
    if (this.terms.length === 0) this.first = index;
    this.terms.push(term);
    this.segs.push(seq);
    this.offsets.push(offset);
    this.sizes.push(size);
  }

  /** Forgets the entries in segments below `seq` (released). */
  dropSegmentsBelow(seq: number): void {
    let k = 0;
    while (k < this.segs.length && this.segs[k]! < seq) k++;
    if (k === 0) return;
    this.terms.splice(0, k);
    this.segs.splice(0, k);
    this.offsets.splice(0, k);
    this.sizes.splice(0, k);
    this.first += k;
  }

  /**
   * Reads the located entries [lo, hi), stopping once their total size would exceed `maxSize` (but
   * at least one). Throws if one is not located, or its frame does not hold it.
   */
  read(
    lo: number,
    hi: number,
    maxSize: number,
    segment: (seq: number) => FileHandleLike | undefined,
  ): Entry[] {
    const out: Entry[] = [];
    let size = 0;
    for (let index = lo; index < hi; index++) {
      const i = index - this.first;
      if (i < 0 || i >= this.terms.length) throw new Error(`wal: entry ${index} is not in the WAL's index`);
      const handle = segment(this.segs[i]!);
      if (handle === undefined) throw new Error(`wal: entry ${index}'s segment is closed`);
      const frame = new Uint8Array(this.sizes[i]!);
      const n = handle.readSync(frame, 0, frame.length, this.offsets[i]!);
      if (n !== frame.length) throw new Error(`wal: short read of entry ${index}`);
      const len = new DataView(frame.buffer).getUint32(0, true);
      if (frame[FRAME_HEADER_SIZE] !== RecordType.Entry || FRAME_HEADER_SIZE + len > frame.length) {
        throw new Error(`wal: entry ${index}'s frame is not an entry record`);
      }
      const e = decodeEntry(frame.subarray(FRAME_HEADER_SIZE + 1, FRAME_HEADER_SIZE + len));
      if (e.index !== index || e.term !== this.terms[i]) {
        throw new Error(`wal: entry ${index}'s frame holds entry ${e.index} of term ${e.term}`);
      }
      size += entrySize(e);
      if (out.length > 0 && size > maxSize) break;
      out.push(e);
    }
    return out;
  }

  /**
   * Where the located entries from `from` on lie, up to about `maxBytes` of frames in all (at least
   * one entry): byte spans, adjacent frames of one segment merged; and the index after the last
   * entry covered. No spans if `from` is not located.
   */
  spans(from: number, maxBytes: number): { spans: EntrySpan[]; end: number } {
    const spans: EntrySpan[] = [];
    let bytes = 0;
    let i = from - this.first;
    if (i < 0) return { spans, end: from };
    for (; i < this.terms.length && bytes < maxBytes; i++) {
      const seq = this.segs[i]!;
      const offset = this.offsets[i]!;
      const size = this.sizes[i]!;
      const last = spans[spans.length - 1];
      if (last !== undefined && last.seq === seq && last.offset + last.length === offset) last.length += size;
      else spans.push({ seq, offset, length: size });
      bytes += size;
    }
    return { spans, end: this.first + i };
  }

  /** Forgets everything. */
  clear(): void {
    this.truncate(0);
  }

  private truncate(keep: number): void {
    this.terms.length = keep;
    this.segs.length = keep;
    this.offsets.length = keep;
    this.sizes.length = keep;
  }
}
