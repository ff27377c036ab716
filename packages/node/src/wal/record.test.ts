import { decodeEntry, encodeEntry, entrySize } from "@tsraft/raft/raftpb";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../../test/fc.js";
import { arbConfState, arbEntry } from "../../../../test/raftpb-arbitraries.js";
import { crc32c } from "../crc32c.js";
import {
  decodeSnapshotMarker,
  encodeSnapshotMarker,
  FRAME_HEADER_SIZE,
  FrameEncoder,
  frameSize,
  getU32,
  RecordType,
} from "./record.js";

const SEED = 20240611;

describe("crc32c", () => {
  it("matches the standard check value and chains like Go's crc32.Update", () => {
    const ascii = new TextEncoder().encode("123456789");
    expect(crc32c(0, ascii)).toBe(0xe3069283);
    expect(crc32c(crc32c(0, ascii.subarray(0, 4)), ascii.subarray(4))).toBe(0xe3069283);
    expect(crc32c(0, new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(0, new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43); // RFC 3720 B.4: 32 bytes of 0xff
  });
});

describe("frames", () => {
  it("frame sizes are multiples of 8 with a 1..8 byte trailer", () => {
    for (let len = 1; len < 40; len++) {
      const size = frameSize(len);
      expect(size % 8).toBe(0);
      const trailer = size - FRAME_HEADER_SIZE - len;
      expect(trailer).toBeGreaterThanOrEqual(1);
      expect(trailer).toBeLessThanOrEqual(8);
    }
  });

  it("an entry frame's payload is exactly raftpb's encodeEntry, and the frame checks out", () => {
    fc.assert(
      fc.property(
        fc.array(arbEntry, { maxLength: 5 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (ents, seed) => {
          const enc = new FrameEncoder();
          enc.begin(seed);
          let total = 0;
          for (const e of ents) total += FrameEncoder.entryFrameSize(e);
          enc.reserve(total);
          for (const e of ents) enc.entry(e);
          const b = enc.bytes();
          expect(b.length).toBe(total);
          let p = 0;
          let crc = seed;
          for (const e of ents) {
            const len = getU32(b, p);
            expect(len).toBe(1 + entrySize(e));
            expect(getU32(b, p + 4)).toBe(~len >>> 0);
            const body = b.subarray(p + FRAME_HEADER_SIZE, p + FRAME_HEADER_SIZE + len);
            expect(body[0]).toBe(RecordType.Entry);
            expect(body.subarray(1)).toEqual(encodeEntry(e));
            expect(decodeEntry(body.subarray(1))).toEqual(e);
            crc = crc32c(crc, body);
            expect(getU32(b, p + 8)).toBe(crc);
            const end = p + frameSize(len);
            expect([...b.subarray(p + FRAME_HEADER_SIZE + len, end)].every((x) => x === 0xff)).toBe(true);
            p = end;
          }
          expect(enc.crc).toBe(crc);
          expect(enc.frames).toBe(ents.length);
        },
      ),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("refuses numbers that are not non-negative safe integers", () => {
    const enc = new FrameEncoder();
    enc.begin(0);
    expect(() =>
      FrameEncoder.entryFrameSize({ term: -1, index: 1, type: 0, data: new Uint8Array() }),
    ).toThrow(RangeError);
    expect(() =>
      FrameEncoder.entryFrameSize({ term: 1, index: 2 ** 53, type: 0, data: new Uint8Array() }),
    ).toThrow(RangeError);
  });

  it("snapshot markers round-trip (walpb.Snapshot layout)", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.maxSafeNat(), arbConfState, (index, term, confState) => {
        const m = { index, term, confState };
        expect(decodeSnapshotMarker(encodeSnapshotMarker(m))).toEqual(m);
      }),
      { seed: SEED, numRuns: runs(200) },
    );
    // index 5, term 2, empty conf_state: etcd's bytes for walpb.Snapshot{Index: 5, Term: 2, ConfState: &{}}.
    const empty = { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    expect([...encodeSnapshotMarker({ index: 5, term: 2, confState: empty })]).toEqual([
      0x08, 5, 0x10, 2, 0x1a, 0,
    ]);
  });
});
