import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../test/fc.js";
import {
  IMAGE_MAGIC,
  ImageDecoder,
  type ImageDecoderOptions,
  ImageEncoder,
  type ImageHeader,
  type ImageSummary,
  isImageError,
} from "./image.js";

const SEED = 0x1a6e;

/** Encodes `records` (sorted here) into one byte array. */
function encode(header: ImageHeader, records: [Uint8Array, Uint8Array][], chunkBytes = 64): Buffer {
  const enc = new ImageEncoder(header, chunkBytes);
  const chunks: Uint8Array[] = [];
  for (const [k, v] of records) {
    enc.add(k, v);
    chunks.push(...enc.take());
  }
  chunks.push(...enc.finish());
  expect(chunks.slice(0, -1).filter((c) => c.length !== chunkBytes)).toEqual([]);
  return Buffer.concat(chunks);
}

/** Decodes the chunks, copying every record out (views die at the next push). */
function decode(
  chunks: Iterable<Uint8Array>,
  options: ImageDecoderOptions = {},
): { header: ImageHeader | undefined; records: [Buffer, Buffer][]; summary: ImageSummary } {
  const dec = new ImageDecoder(options);
  const records: [Buffer, Buffer][] = [];
  for (const c of chunks) {
    dec.push(c);
    for (let r = dec.next(); r !== undefined; r = dec.next()) {
      records.push([Buffer.from(r.key), Buffer.from(r.value)]);
    }
  }
  const summary = dec.finish();
  return { header: dec.header, records, summary };
}

/** `bytes` cut at the given (sorted, deduplicated) offsets. */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

const sortedUnique = (records: [Uint8Array, Uint8Array][]) => {
  const byKey = new Map<string, [Uint8Array, Uint8Array]>();
  for (const r of records) byKey.set(Buffer.from(r[0]).toString("hex"), r);
  return [...byKey.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
};

const arbImage = fc.record({
  header: fc.record({
    appliedIndex: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    revision: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  }),
  records: fc
    .array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 40 })
    .map(sortedUnique),
  chunkBytes: fc.integer({ min: 64, max: 700 }),
  cuts: fc.array(fc.nat(), { maxLength: 30 }),
});

describe("kv image", () => {
  it("round-trips random contents through random chunk boundaries", () => {
    fc.assert(
      fc.property(arbImage, ({ header, records, chunkBytes, cuts }) => {
        const bytes = encode(header, records, chunkBytes);
        const back = decode(cut(bytes, cuts));
        expect(back.header).toEqual(header);
        expect(back.records).toEqual(records.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
        expect(back.summary).toEqual({
          header,
          records: records.length,
          bytes: bytes.length,
          checksum: createHash("sha256").update(bytes.subarray(0, -32)).digest("hex"),
        });
        // One byte at a time, too.
        expect(decode(cut(bytes, [...bytes.keys()])).records.length).toBe(records.length);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("has a fixed layout (backups and other versions read it)", () => {
    const bytes = encode({ appliedIndex: 7, revision: 3 }, [[Buffer.from("k"), Buffer.from("vv")]]);
    const expected = Buffer.concat([
      Buffer.from("TSRAFTKV"),
      Buffer.from([0, 1, 0, 0]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 7]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]),
      Buffer.from([1, 0, 0, 0, 1, 0, 0, 0, 2]),
      Buffer.from("kvv"),
      Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1]),
    ]);
    expect(bytes.subarray(0, -32)).toEqual(expected);
    expect(bytes.subarray(-32)).toEqual(createHash("sha256").update(expected).digest());
    expect(IMAGE_MAGIC).toEqual(Buffer.from("TSRAFTKV"));
  });

  it("reads an empty store", () => {
    const bytes = encode({ appliedIndex: 0, revision: 0 }, []);
    expect(bytes.length).toBe(28 + 9 + 32);
    expect(decode([bytes]).summary.records).toBe(0);
  });

  it("refuses every truncation with Truncated, at every length", () => {
    const bytes = encode({ appliedIndex: 9, revision: 4 }, [
      [Buffer.from("a"), Buffer.alloc(100, 1)],
      [Buffer.from("b"), Buffer.alloc(0)],
      [Buffer.from("c"), Buffer.alloc(50, 2)],
    ]);
    for (let n = 0; n < bytes.length; n++) {
      let err: unknown;
      try {
        decode(cut(bytes.subarray(0, n), [n >> 1]));
      } catch (e) {
        err = e;
      }
      expect(isImageError(err, "Truncated"), `length ${n}: ${String(err)}`).toBe(true);
    }
  });

  it("detects every single-byte corruption", () => {
    const bytes = encode({ appliedIndex: 9, revision: 4 }, [
      [Buffer.from("a"), Buffer.alloc(40, 1)],
      [Buffer.from("b"), Buffer.alloc(3, 2)],
    ]);
    const codes = new Set<string>();
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80]) {
        const bad = Buffer.from(bytes);
        bad[i]! ^= flip;
        let err: unknown;
        try {
          decode([bad]);
        } catch (e) {
          err = e;
        }
        expect(isImageError(err), `byte ${i} ^ ${flip}: ${String(err)}`).toBe(true);
        codes.add((err as { code: string }).code);
      }
    }
    // Which check fires depends on the byte: all of these are reached.
    for (const code of [
      "BadMagic",
      "UnsupportedVersion",
      "BadHeader",
      "UnknownRecordKind",
      "ChecksumMismatch",
    ]) {
      expect(codes).toContain(code);
    }
  });

  it("gives each kind of bad image its clear error", () => {
    const good = encode({ appliedIndex: 1, revision: 1 }, [[Buffer.from("a"), Buffer.from("1")]]);
    const expectError = (
      chunks: Uint8Array[],
      code: string,
      message: RegExp,
      options?: ImageDecoderOptions,
    ) => {
      let err: unknown;
      try {
        decode(chunks, options);
      } catch (e) {
        err = e;
      }
      expect(isImageError(err), String(err)).toBe(true);
      expect((err as { code: string }).code).toBe(code);
      expect((err as Error).message).toMatch(message);
    };
    expectError(
      [Buffer.from("PK\x03\x04 not an image at all, a zip file")],
      "BadMagic",
      /not a tsraft-kv image/,
    );
    const v2 = Buffer.from(good);
    v2[9] = 2;
    expectError([v2], "UnsupportedVersion", /format version 2 is not supported/);
    expectError([good, Buffer.from([0])], "TrailingBytes", /bytes after the trailer/);
    expectError([good.subarray(0, -1)], "Truncated", /inside the trailer's checksum, after 1 records/);
    expectError([good.subarray(0, 28)], "Truncated", /before the trailer, after 0 records/);
    expectError([good], "RecordTooLarge", /record 1 is 2 bytes, more than the 1 allowed/, {
      maxRecordBytes: 1,
    });
    // A record longer than the limit is refused from its lengths, before anything is buffered for it.
    const huge = Buffer.from(good.subarray(0, 28 + 9));
    huge.writeUInt32BE(0xffffffff, 28 + 5);
    expectError([huge], "RecordTooLarge", /4294967296 bytes/);
    // Checksummed, but not in key order: a hand-made image.
    const unordered = handMade([
      [Buffer.from("b"), Buffer.from("1")],
      [Buffer.from("a"), Buffer.from("2")],
    ]);
    expectError([unordered], "OutOfOrder", /record 2's key is not greater/);
    const duplicate = handMade([
      [Buffer.from("a"), Buffer.from("1")],
      [Buffer.from("a"), Buffer.from("2")],
    ]);
    expectError([duplicate], "OutOfOrder", /record 2/);
    const miscounted = handMade([[Buffer.from("a"), Buffer.from("1")]], 2);
    expectError([miscounted], "CountMismatch", /counts 2 records, the image holds 1/);
  });

  it("the encoder refuses keys out of order", () => {
    const enc = new ImageEncoder({ appliedIndex: 1, revision: 1 });
    enc.add(Buffer.from("b"), Buffer.from("1"));
    expect(() => enc.add(Buffer.from("a"), Buffer.from("1"))).toThrow(/strictly increasing/);
    expect(() => enc.add(Buffer.from("b"), Buffer.from("1"))).toThrow(/strictly increasing/);
  });

  it("buffers at most one record beyond the current chunk", () => {
    // A 1 MiB value fed 1 KiB at a time: the decoder assembles it in one buffer of its size.
    const value = Buffer.alloc(1 << 20, 7);
    const bytes = encode({ appliedIndex: 1, revision: 1 }, [[Buffer.from("k"), value]], 1024);
    const dec = new ImageDecoder({ maxRecordBytes: (1 << 20) + 1 });
    let got: Buffer | undefined;
    for (let i = 0; i < bytes.length; i += 1024) {
      dec.push(bytes.subarray(i, i + 1024));
      for (let r = dec.next(); r !== undefined; r = dec.next()) got = Buffer.from(r.value);
    }
    expect(dec.finish().records).toBe(1);
    expect(got?.equals(value)).toBe(true);
  });
});

/** An image with a valid checksum but records as given (order and count unchecked). */
function handMade(records: [Buffer, Buffer][], count = records.length): Buffer {
  const parts: Buffer[] = [Buffer.from("TSRAFTKV"), Buffer.from([0, 1, 0, 0]), Buffer.alloc(16)];
  for (const [k, v] of records) {
    const h = Buffer.alloc(9);
    h[0] = 1;
    h.writeUInt32BE(k.length, 1);
    h.writeUInt32BE(v.length, 5);
    parts.push(h, k, v);
  }
  const t = Buffer.alloc(9);
  t[0] = 0xff;
  t.writeBigUInt64BE(BigInt(count), 1);
  parts.push(t);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}
