/**
 * What replaying records builds up (etcd's ReadAll loop): the metadata, the last HardState, the
 * entries after the snapshot the WAL was opened at, and the snapshot markers. Fed frame by frame by
 * {@link scanSegment}; a complaint thrown here becomes a WalCorruptError naming the record's offset.
 */
import { decodeEntry, decodeHardState, type Entry, type HardState } from "@tsraft/raft/raftpb";
import { WalError } from "./errors.js";
import { decodeSnapshotMarker, RecordType, type SnapshotMarker } from "./record.js";

/** The state replayed so far. */
export class Replay {
  metadata: Uint8Array | undefined;
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  /** Invariant: entries[i].index === start.index + 1 + i. */
  readonly entries: Entry[] = [];
  readonly snapshots: SnapshotMarker[] = [];
  /** Whether the marker of the start snapshot was seen. */
  found = false;
  /** The index of the last entry (or marker, if higher) read: etcd's enti, naming the next segment. */
  lastIndex = 0;

  constructor(private readonly start: { readonly index: number; readonly term: number }) {}

  /** Applies one valid record. Throws on content that cannot be right (a decode error, a gap...). */
  readonly visit = (type: RecordType, payload: Uint8Array): void => {
    switch (type) {
      case RecordType.Entry: {
        const e = decodeEntry(payload);
        const start = this.start.index;
        if (e.index > start) {
          // A later record at an index already read replaces it and everything after (figure 7).
          const at = e.index - start - 1;
          if (at > this.entries.length) {
            throw new Error(`entry ${e.index} leaves a gap after index ${start + this.entries.length}`);
          }
          this.entries.length = at;
          this.entries.push(e);
        }
        this.lastIndex = e.index;
        break;
      }
      case RecordType.HardState:
        this.hardState = decodeHardState(payload);
        break;
      case RecordType.Metadata:
        if (this.metadata !== undefined && !bytesEqual(this.metadata, payload)) {
          throw new Error("metadata differs from the earlier segments'");
        }
        this.metadata ??= new Uint8Array(payload);
        break;
      case RecordType.Snapshot: {
        const m = decodeSnapshotMarker(payload);
        this.snapshots.push(m);
        if (m.index === this.start.index) {
          if (m.term !== this.start.term) {
            throw new WalError(
              "SnapshotMismatch",
              `wal: snapshot at index ${m.index} has term ${m.term} in the WAL, not ${this.start.term}`,
            );
          }
          this.found = true;
        }
        if (m.index > this.lastIndex) this.lastIndex = m.index;
        break;
      }
      case RecordType.CrcSeed:
        break;
    }
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
