/**
 * Segment file names: `<seq:016x>-<firstIndex:016x>.wal`, etcd's walName. `seq` counts segments from
 * 0 without gaps; `firstIndex` is the index the first entry written to the segment was expected to have
 * (the last saved entry's index + 1 when it was cut), which lets `WAL.open` start reading at the
 * segment that covers a snapshot.
 */
import { join } from "node:path";
import type { FileSystem } from "../file-system.js";
import { hexPairName, parseHexPairName } from "../hex-pair-name.js";
import { WalCorruptError } from "./errors.js";

/** One segment, as named on disk. */
export interface SegmentName {
  /** The file name (no directory). */
  readonly name: string;
  readonly seq: number;
  /** The index of the first entry the segment was cut for. */
  readonly index: number;
}

const SEGMENT_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** The file name of segment `seq` starting at entry `index`. */
export function segmentFileName(seq: number, index: number): string {
  return hexPairName(seq, index, "wal");
}

/** Parses a segment file name of the exact form (lower-case hex, safe integers), else undefined. */
export function parseSegmentName(name: string): SegmentName | undefined {
  const p = parseHexPairName(SEGMENT_RE, name);
  return p === undefined ? undefined : { name, seq: p[0], index: p[1] };
}

/** What is in a WAL directory. */
export interface WalDirListing {
  /** The segments, sorted by seq. */
  segments: SegmentName[];
  /** Leftover preallocated files of a file pipeline (`*.tmp`), safe to delete. */
  temps: string[];
}

/**
 * Lists the WAL directory. A name ending in `.wal` that is not of the exact form is refused
 * (it could be a mangled segment); `.tmp` files are reported for removal; anything else (`.broken`
 * copies, an operator's notes) is ignored.
 */
export async function listWalDir(fs: FileSystem, dir: string): Promise<WalDirListing> {
  const segments: SegmentName[] = [];
  const temps: string[] = [];
  for (const name of await fs.readdir(dir)) {
    if (name.endsWith(".wal")) {
      const s = parseSegmentName(name);
      if (s === undefined) throw new WalCorruptError(join(dir, name), 0, "not a valid WAL segment file name");
      segments.push(s);
    } else if (name.endsWith(".tmp")) {
      temps.push(name);
    }
  }
  segments.sort((a, b) => a.seq - b.seq || a.index - b.index);
  return { segments, temps };
}

/**
 * Picks the segments to read for a snapshot at `snapIndex`: from the last one whose first index is
 * ≤ snapIndex (etcd's searchIndex) to the newest, which must have consecutive seqs (a gap is a
 * missing segment, a repeat a duplicated one). Returns undefined if
 * no segment starts at or before snapIndex.
 */
export function selectSegments(
  dir: string,
  segments: readonly SegmentName[],
  snapIndex: number,
): SegmentName[] | undefined {
  let from = -1;
  for (let i = segments.length - 1; i >= 0; i--) {
    if (segments[i]!.index <= snapIndex) {
      from = i;
      break;
    }
  }
  if (from < 0) return undefined;
  const chosen = segments.slice(from);
  checkSequence(dir, chosen);
  return chosen;
}

/**
 * Throws WalCorruptError unless `segments` have consecutive seqs. (First indexes may go down: a new
 * leader can rewrite the uncommitted tail, and the next cut is named after the rewritten last index.)
 */
export function checkSequence(dir: string, segments: readonly SegmentName[]): void {
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1]!;
    const cur = segments[i]!;
    if (cur.seq !== prev.seq + 1) {
      const what = cur.seq === prev.seq ? "duplicated" : "missing";
      throw new WalCorruptError(
        join(dir, cur.name),
        0,
        `segment sequence ${what}: ${prev.name} is followed by ${cur.name}`,
      );
    }
  }
}
