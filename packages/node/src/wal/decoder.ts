/**
 * Reading a segment back: validates every frame (header check, crc chain, trailer), hands the valid
 * ones to a visitor, and decides what a bad frame means.
 *
 * The rule (documented in packages/node/README.md, "Torn tail or corruption"): a segment other than the
 * last must be perfect to its last byte. In the last segment, a bad frame at offset p is a **torn
 * tail** (never acknowledged: truncate there) only if the file from some offset inside that frame to
 * the end of the file is all zero, or the frame runs past the end of the file; if everything from p on
 * is zero, the log simply ends at p. Anything else is **corruption** and the WAL refuses to open.
 *
 * Why that is sound under the crash model (what survives a crash is the fsynced data plus a prefix of
 * the later writes, the rest reading as the zeros the segment was preallocated with, or the file
 * being shorter): a torn frame has a zero (or missing) end. A complete frame never does, since its last
 * bytes are the 0xFF trailer, and its length cannot change unnoticed (the header holds L and ~L); so a
 * flipped bit anywhere in an acknowledged frame, even the very last one, is reported, never truncated.
 * The first two frames of a segment (crc seed, metadata) are written and fsynced before the segment's
 * name exists, so damage there is never a torn tail either.
 */
import { crc32c } from "../crc32c.js";
import { WalCorruptError, WalError } from "./errors.js";
import {
  FRAME_HEADER_SIZE,
  frameSize,
  getU32,
  MAX_BODY_SIZE,
  RecordType,
  recordTypeName,
  TRAILER_BYTE,
} from "./record.js";

/** Called for each valid frame with its type, its payload (a view into the segment) and its offset. */
export type FrameVisitor = (type: RecordType, payload: Uint8Array, offset: number) => void;

/** The outcome of {@link scanSegment}. */
export interface SegmentScan {
  /** Offset just past the last valid frame: where appending continues. */
  end: number;
  /** The crc chain value after the last valid frame. */
  crc: number;
  /** Set when the segment ends in a torn frame at `end` that must be cut off. */
  torn: string | undefined;
}

/** The options of {@link scanSegment}. */
export interface ScanOptions {
  /** The segment's path, for errors. */
  file: string;
  /** Is this the newest segment (the only one that may have a torn tail)? */
  last: boolean;
  /** The chain value the previous segment ended with; undefined for the first segment read. */
  seed: number | undefined;
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

function equalsZero(buf: Uint8Array, start: number, end: number): boolean {
  return Buffer.compare(buf.subarray(start, end), ZERO_CHUNK.subarray(0, end - start)) === 0;
}

/** The smallest z ≥ from such that buf[z..] is all zero (buf.length if the last byte is not zero). */
export function zeroSuffixStart(buf: Uint8Array, from: number): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - ZERO_CHUNK.length);
    if (!equalsZero(buf, start, end)) {
      let i = end;
      while (buf[i - 1] === 0) i--;
      return i;
    }
    end = start;
  }
  return from;
}

/**
 * Scans one segment's bytes: see the module comment for the rule. Throws {@link WalCorruptError}
 * (naming the file and offset) for anything that is not a clean end or a torn tail of the last segment,
 * including a visitor's complaint about a record's content.
 */
export function scanSegment(buf: Uint8Array, opts: ScanOptions, visit: FrameVisitor): SegmentScan {
  const n = buf.length;
  const corrupt = (offset: number, reason: string) => new WalCorruptError(opts.file, offset, reason);
  let p = 0;
  let frames = 0;
  let crc = 0;
  while (p < n) {
    let problem: string | undefined;
    let headerOk = false;
    let end = p + 8; // where the frame ends, as far as we can trust its header
    let type = 0;
    let len = 0;
    let storedCrc = 0;
    if (n - p < FRAME_HEADER_SIZE) {
      problem = "frame header cut by the end of the file";
    } else {
      len = getU32(buf, p);
      if ((len ^ getU32(buf, p + 4)) >>> 0 !== 0xffffffff) {
        problem = len === 0 && getU32(buf, p + 4) === 0 ? "zero frame header" : "bad frame header";
      } else if (len < 1 || len > MAX_BODY_SIZE) {
        throw corrupt(p, `bad frame length ${len}`); // a consistent header we never wrote: not a tear
      } else {
        headerOk = true;
        end = p + frameSize(len);
        if (end > n) {
          problem = "frame cut by the end of the file";
        } else {
          const body = p + FRAME_HEADER_SIZE;
          type = buf[body]!;
          let chain = crc;
          if (frames === 0) {
            if (type !== RecordType.CrcSeed || len !== 5) {
              throw corrupt(p, "segment does not start with a crc seed record");
            }
            chain = getU32(buf, body + 1);
          }
          storedCrc = getU32(buf, p + 8);
          if (crc32c(chain, buf, body, body + len) !== storedCrc) {
            problem = "crc mismatch";
          } else {
            for (let i = body + len; i < end; i++) {
              if (buf[i] !== TRAILER_BYTE) {
                problem = "bad frame trailer";
                break;
              }
            }
          }
        }
      }
    }

    if (problem === undefined) {
      const payload = buf.subarray(p + FRAME_HEADER_SIZE + 1, p + FRAME_HEADER_SIZE + len);
      checkPlacement(type, frames, payload, opts, p, corrupt);
      try {
        visit(type as RecordType, payload, p);
      } catch (e) {
        if (e instanceof WalError) throw e;
        const name = recordTypeName(type);
        throw corrupt(p, `bad ${name} record: ${e instanceof Error ? e.message : String(e)}`);
      }
      crc = storedCrc;
      frames++;
      p = end;
      continue;
    }

    // A bad frame at p: the end of the log, a torn tail, or corruption.
    if (!opts.last) throw corrupt(p, `${problem} (not the last segment)`);
    if (frames < 2) throw corrupt(p, `${problem} in the segment's first records (fsynced before it existed)`);
    const z = zeroSuffixStart(buf, p);
    if (z <= p) return { end: p, crc, torn: undefined };
    const torn = (headerOk && end > n) || (!headerOk && n - p < FRAME_HEADER_SIZE) || z < end;
    if (torn) return { end: p, crc, torn: problem };
    throw corrupt(p, problem);
  }
  if (frames < 2) throw corrupt(p, "segment has no metadata record");
  return { end: p, crc, torn: undefined };
}

/** Checks that a valid frame's type belongs where it is: crc seed first (continuing the chain), metadata second. */
function checkPlacement(
  type: number,
  frames: number,
  payload: Uint8Array,
  opts: ScanOptions,
  p: number,
  corrupt: (offset: number, reason: string) => WalCorruptError,
): void {
  if (frames === 0) {
    const seed = getU32(payload, 0);
    if (opts.seed !== undefined && seed !== opts.seed) {
      throw corrupt(
        p,
        `crc seed ${seed.toString(16)} does not continue the previous segment's ${opts.seed.toString(16)}` +
          " (a missing, duplicated or reordered segment?)",
      );
    }
  } else if (type === RecordType.CrcSeed) {
    throw corrupt(p, "crc seed record in the middle of a segment");
  } else if (frames === 1 && type !== RecordType.Metadata) {
    throw corrupt(p, "the second record of a segment is not its metadata");
  } else if (type < RecordType.Metadata || type > RecordType.Snapshot) {
    throw corrupt(p, `unknown record type ${type}`);
  }
}
