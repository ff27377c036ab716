import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../test/fc.js";
import { ImageEncoder, type KeyRevisions } from "./image.js";
import { ImageDecoder, type ImageDecoderOptions } from "./image-decoder.js";
import {
  IMAGE_MAGIC,
  type ImageChangeRecord,
  type ImageHeader,
  type ImageSummary,
  isImageError,
} from "./image-format.js";

const SEED = 0x1a6e;

type Change = Omit<ImageChangeRecord, "kind">;

/** Encodes `records` (sorted), `changes` (in order) and `idempotency` (sorted) into one byte array. */
function encode(
  header: ImageHeader,
  records: [Uint8Array, Uint8Array, KeyRevisions?][],
  chunkBytes = 64,
  changes: Change[] = [],
  formatVersion: 1 | 2 = 2,
  idempotency: [Uint8Array, Uint8Array][] = [],
): Buffer {
  const enc = new ImageEncoder(header, chunkBytes, { formatVersion });
  const chunks: Uint8Array[] = [];
  for (const [k, v, r] of records) {
    enc.add(k, v, r);
    chunks.push(...enc.take());
  }
  for (const c of changes) {
    enc.addChange(c);
    chunks.push(...enc.take());
  }
  for (const [k, v] of idempotency) {
    enc.addIdempotency(k, v);
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
): {
  header: ImageHeader | undefined;
  records: [Buffer, Buffer][];
  revisions: KeyRevisions[];
  changes: Change[];
  idempotency: [Buffer, Buffer][];
  summary: ImageSummary;
} {
  const dec = new ImageDecoder(options);
  const records: [Buffer, Buffer][] = [];
  const revisions: KeyRevisions[] = [];
  const changes: Change[] = [];
  const idempotency: [Buffer, Buffer][] = [];
  const copy = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b));
  for (const c of chunks) {
    dec.push(c);
    for (let r = dec.next(); r !== undefined; r = dec.next()) {
      if (r.kind === "key") {
        records.push([Buffer.from(r.key), Buffer.from(r.value)]);
        revisions.push({ createRevision: r.createRevision, modRevision: r.modRevision, version: r.version });
      } else if (r.kind === "idempotency") {
        idempotency.push([Buffer.from(r.key), Buffer.from(r.value)]);
      } else if (r.kind !== "change") {
        throw new Error(`a ${r.kind} record in a version-1 or version-2 image`);
      } else {
        const { kind: _, ...rest } = r;
        changes.push({
          ...rest,
          key: Buffer.from(r.key),
          value: copy(r.value),
          prevValue: copy(r.prevValue),
        });
      }
    }
  }
  const summary = dec.finish();
  return { header: dec.header, records, revisions, changes, idempotency, summary };
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

const sortedUnique = <T extends [Uint8Array, ...unknown[]]>(records: T[]): T[] => {
  const byKey = new Map<string, T>();
  for (const r of records) byKey.set(Buffer.from(r[0]).toString("hex"), r);
  return [...byKey.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
};

const arbRevisions = fc.record({
  createRevision: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  modRevision: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  version: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
});

/** A history: changes at increasing (revision, sub) after `compact`, each a put or a delete. */
const arbChanges = (compact: number) =>
  fc
    .array(
      fc.record({
        gap: fc.nat({ max: 3 }),
        key: fc.uint8Array({ maxLength: 20 }),
        value: fc.option(fc.uint8Array({ maxLength: 100 }), { nil: undefined }),
        prevValue: fc.option(fc.uint8Array({ maxLength: 100 }), { nil: undefined }),
        createRevision: fc.nat({ max: 1000 }),
        version: fc.nat({ max: 1000 }),
        prevModRevision: fc.nat({ max: 1000 }),
      }),
      { maxLength: 20 },
    )
    .map((cs) => {
      let revision = compact + 1;
      let sub = 0;
      return cs.map(({ gap, ...c }): Change => {
        if (gap > 0) {
          revision += gap;
          sub = 0;
        } else sub++;
        return { ...c, revision, sub };
      });
    });

const arbImage = fc
  .record({
    appliedIndex: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    compactRevision: fc.nat({ max: 1_000_000 }),
  })
  .chain(({ appliedIndex, compactRevision }) =>
    fc.record({
      changes: arbChanges(compactRevision),
      extra: fc.nat({ max: 100 }),
      records: fc
        .array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }), arbRevisions), {
          maxLength: 40,
        })
        .map(sortedUnique),
      idempotency: fc
        .array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.uint8Array({ maxLength: 60 })), {
          maxLength: 10,
        })
        .map(sortedUnique),
      chunkBytes: fc.integer({ min: 64, max: 700 }),
      cuts: fc.array(fc.nat(), { maxLength: 30 }),
      appliedIndex: fc.constant(appliedIndex),
      compactRevision: fc.constant(compactRevision),
    }),
  )
  .map(({ changes, extra, appliedIndex, compactRevision, ...rest }) => ({
    ...rest,
    changes,
    header: {
      appliedIndex,
      compactRevision,
      revision: Math.max(compactRevision, changes.at(-1)?.revision ?? 0) + extra,
    },
  }));

const CHANGES: Change[] = [
  {
    revision: 2,
    sub: 0,
    key: Buffer.from("a"),
    value: Buffer.alloc(30, 1),
    createRevision: 2,
    version: 1,
    prevModRevision: 0,
    prevValue: undefined,
  },
  {
    revision: 3,
    sub: 0,
    key: Buffer.from("z"),
    value: undefined,
    createRevision: 1,
    version: 1,
    prevModRevision: 1,
    prevValue: Buffer.alloc(5, 3),
  },
];

describe("kv image, format versions 1 and 2 (what older releases wrote)", () => {
  it("round-trips random contents through random chunk boundaries", () => {
    fc.assert(
      fc.property(arbImage, ({ header, records, changes, idempotency, chunkBytes, cuts }) => {
        const bytes = encode(header, records, chunkBytes, changes, 2, idempotency);
        const back = decode(cut(bytes, cuts));
        expect(back.header).toEqual(header);
        expect(back.records).toEqual(records.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
        expect(back.revisions).toEqual(records.map(([, , r]) => r));
        const copy = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b));
        expect(back.changes).toEqual(
          changes.map((c) => ({
            ...c,
            key: Buffer.from(c.key),
            value: copy(c.value),
            prevValue: copy(c.prevValue),
          })),
        );
        expect(back.idempotency).toEqual(idempotency.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]));
        expect(back.summary).toEqual({
          header,
          formatVersion: 2,
          records: records.length + changes.length + idempotency.length,
          keys: records.length,
          changes: changes.length,
          idempotencyRecords: idempotency.length,
          bytes: bytes.length,
          checksum: createHash("sha256").update(bytes.subarray(0, -32)).digest("hex"),
        });
        // One byte at a time, too.
        const bytewise = decode(cut(bytes, [...bytes.keys()]));
        expect(bytewise.records.length + bytewise.changes.length + bytewise.idempotency.length).toBe(
          records.length + changes.length + idempotency.length,
        );
        // And the same keys written as a version-1 image: revisions 0, 0, 1, no history.
        const v1 = decode(
          cut(encode({ ...header, compactRevision: header.revision }, records, chunkBytes, [], 1), cuts),
        );
        expect(v1.records).toEqual(back.records);
        expect(
          v1.revisions.every((r) => r.createRevision === 0 && r.modRevision === 0 && r.version === 1),
        ).toBe(true);
        expect(v1.header).toEqual({ ...header, compactRevision: header.revision });
        expect(v1.summary.formatVersion).toBe(1);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("has a fixed layout (backups and other versions read it)", () => {
    const u64 = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(n));
      return b;
    };
    const bytes = encode(
      { appliedIndex: 7, revision: 5, compactRevision: 3 },
      [[Buffer.from("k"), Buffer.from("vv"), { createRevision: 2, modRevision: 4, version: 3 }]],
      64,
      [
        {
          revision: 4,
          sub: 0,
          key: Buffer.from("k"),
          value: Buffer.from("vv"),
          createRevision: 2,
          version: 3,
          prevModRevision: 3,
          prevValue: Buffer.from("v"),
        },
        {
          revision: 5,
          sub: 1,
          key: Buffer.from("x"),
          value: undefined,
          createRevision: 1,
          version: 1,
          prevModRevision: 1,
          prevValue: Buffer.from(""),
        },
      ],
      2,
      [[Buffer.from("id"), Buffer.from("rec")]],
    );
    const expected = Buffer.concat([
      Buffer.from("TSRAFTKV"),
      Buffer.from([0, 2, 0, 0]),
      u64(7),
      u64(5),
      u64(3),
      Buffer.from([2, 0, 0, 0, 1, 0, 0, 0, 2]),
      u64(2),
      u64(4),
      u64(3),
      Buffer.from("kvv"),
      Buffer.from([3]),
      u64(4),
      Buffer.from([0, 0, 3]),
      u64(2),
      u64(3),
      u64(3),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1]),
      Buffer.from("kvvv"),
      Buffer.from([3]),
      u64(5),
      Buffer.from([0, 1, 2]),
      u64(1),
      u64(1),
      u64(1),
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from("x"),
      Buffer.from([4, 0, 0, 0, 2, 0, 0, 0, 3]),
      Buffer.from("idrec"),
      Buffer.from([0xff]),
      u64(4),
    ]);
    expect(bytes.subarray(0, -32)).toEqual(expected);
    expect(bytes.subarray(-32)).toEqual(createHash("sha256").update(expected).digest());
    expect(IMAGE_MAGIC).toEqual(Buffer.from("TSRAFTKV"));
  });

  it("still reads version 1's fixed layout (images written before revisions)", () => {
    const v1 = Buffer.concat([
      Buffer.from("TSRAFTKV"),
      Buffer.from([0, 1, 0, 0]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 7]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]),
      Buffer.from([1, 0, 0, 0, 1, 0, 0, 0, 2]),
      Buffer.from("kvv"),
      Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1]),
    ]);
    const bytes = Buffer.concat([v1, createHash("sha256").update(v1).digest()]);
    expect(
      encode(
        { appliedIndex: 7, revision: 3, compactRevision: 3 },
        [[Buffer.from("k"), Buffer.from("vv")]],
        64,
        [],
        1,
      ),
    ).toEqual(bytes);
    const back = decode([bytes]);
    expect(back.header).toEqual({ appliedIndex: 7, revision: 3, compactRevision: 3 });
    expect(back.records).toEqual([[Buffer.from("k"), Buffer.from("vv")]]);
    expect(back.revisions).toEqual([{ createRevision: 0, modRevision: 0, version: 1 }]);
    expect(back.summary.formatVersion).toBe(1);
  });

  it("reads an empty store", () => {
    const bytes = encode({ appliedIndex: 0, revision: 0, compactRevision: 0 }, []);
    expect(bytes.length).toBe(36 + 9 + 32);
    expect(decode([bytes]).summary.records).toBe(0);
  });

  it("refuses every truncation with Truncated, at every length", () => {
    const bytes = encode(
      { appliedIndex: 9, revision: 4, compactRevision: 1 },
      [
        [Buffer.from("a"), Buffer.alloc(100, 1)],
        [Buffer.from("b"), Buffer.alloc(0)],
        [Buffer.from("c"), Buffer.alloc(50, 2)],
      ],
      64,
      CHANGES,
    );
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
    const bytes = encode(
      { appliedIndex: 9, revision: 4, compactRevision: 1 },
      [
        [Buffer.from("a"), Buffer.alloc(40, 1)],
        [Buffer.from("b"), Buffer.alloc(3, 2)],
      ],
      64,
      CHANGES,
    );
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
      "BadRecord",
      "ChecksumMismatch",
    ]) {
      expect(codes).toContain(code);
    }
  });

  it("gives each kind of bad image its clear error", () => {
    const good = encode({ appliedIndex: 1, revision: 1, compactRevision: 0 }, [
      [Buffer.from("a"), Buffer.from("1")],
    ]);
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
    const v4 = Buffer.from(good);
    v4[9] = 4;
    expectError(
      [v4],
      "UnsupportedVersion",
      /format version 4 is not supported \(this tsraft-kv reads 1 to 3\)/,
    );
    expectError([good, Buffer.from([0])], "TrailingBytes", /bytes after the trailer/);
    expectError([good.subarray(0, -1)], "Truncated", /inside the trailer's checksum, after 1 records/);
    expectError([good.subarray(0, 36)], "Truncated", /before the trailer, after 0 records/);
    expectError([good.subarray(0, 30)], "Truncated", /inside the header/);
    expectError([good], "RecordTooLarge", /record 1 is 2 bytes, more than the 1 allowed/, {
      maxRecordBytes: 1,
    });
    // A record longer than the limit is refused from its lengths, before anything is buffered for it.
    const huge = Buffer.from(good.subarray(0, 36 + 33));
    huge.writeUInt32BE(0xffffffff, 36 + 5);
    expectError([huge], "RecordTooLarge", /4294967296 bytes/);
    // Checksummed, but breaking the rules of version 2: hand-made images.
    const header = { appliedIndex: 1, revision: 5, compactRevision: 1 };
    expectError(
      [handMadeV2(header, [rawKeyV1("a", "1")])],
      "UnknownRecordKind",
      /unknown record kind 1 in a version-2 image/,
    );
    const change = (revision: number, sub: number, flags = 1) => rawChange(revision, sub, flags);
    expectError([handMadeV2(header, [change(3, 0), rawKey("a")])], "OutOfOrder", /a key after the changes/);
    expectError(
      [handMadeV2(header, [rawIdempotency("k"), rawKey("a")])],
      "OutOfOrder",
      /a key after the idempotency records/,
    );
    expectError(
      [handMadeV2(header, [rawIdempotency("k"), change(3, 0)])],
      "OutOfOrder",
      /a change after the idempotency records/,
    );
    expectError(
      [handMadeV2(header, [rawIdempotency("k2"), rawIdempotency("k1")])],
      "OutOfOrder",
      /record 2's idempotency key is not greater/,
    );
    expectError(
      [handMadeV2(header, [rawIdempotency("k"), rawIdempotency("k")])],
      "OutOfOrder",
      /idempotency key is not greater/,
    );
    // A version-1 image holds keys only: an idempotency record in one, of either kind number (an
    // unreleased development branch wrote them as kind 3 in version 1), is refused.
    for (const kind of [3, 4]) {
      const v1 = handMade([[Buffer.from("a"), Buffer.from("1")]]);
      const withIdem = Buffer.from(v1.subarray(0, 28 + 9 + 2));
      const rec = rawIdempotency("k");
      rec[0] = kind;
      const body = Buffer.concat([withIdem, rec, Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 2])]);
      expectError(
        [Buffer.concat([body, createHash("sha256").update(body).digest()])],
        "UnknownRecordKind",
        new RegExp(`unknown record kind ${kind} in a version-1 image`),
      );
    }
    expectError(
      [handMadeV2(header, [change(3, 1), change(3, 0)])],
      "OutOfOrder",
      /not after the previous change \(3.1\)/,
    );
    expectError(
      [handMadeV2(header, [change(3, 0), change(3, 0)])],
      "OutOfOrder",
      /not after the previous change/,
    );
    expectError([handMadeV2(header, [change(1, 0)])], "BadRecord", /revision 1.0 is outside \(1, 5\]/);
    expectError([handMadeV2(header, [change(6, 0)])], "BadRecord", /revision 6.0 is outside/);
    expectError([handMadeV2(header, [change(2, 0, 4)])], "BadRecord", /unknown flags 4/);
    const badHeader = handMadeV2({ appliedIndex: 1, revision: 1, compactRevision: 2 }, []);
    expectError([badHeader], "BadHeader", /compact revision 2 is above the revision 1/);
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

  it("the encoder refuses keys out of order, changes out of order or range, keys after changes, and idempotency records out of order or before anything else", () => {
    const enc = new ImageEncoder({ appliedIndex: 1, revision: 3, compactRevision: 1 }, 64, {
      formatVersion: 2,
    });
    enc.add(Buffer.from("b"), Buffer.from("1"));
    expect(() => enc.add(Buffer.from("a"), Buffer.from("1"))).toThrow(/strictly increasing/);
    expect(() => enc.add(Buffer.from("b"), Buffer.from("1"))).toThrow(/strictly increasing/);
    const c = { ...CHANGES[0]!, revision: 2, sub: 1 };
    expect(() => enc.addChange({ ...c, revision: 1 })).toThrow(/outside \(1, 3\]/);
    expect(() => enc.addChange({ ...c, revision: 4 })).toThrow(/outside \(1, 3\]/);
    expect(() => enc.addChange({ ...c, sub: 1024 })).toThrow(/sub 1024/);
    enc.addChange(c);
    expect(() => enc.addChange({ ...c, sub: 0 })).toThrow(/strictly increasing \(revision, sub\)/);
    expect(() => enc.add(Buffer.from("c"), Buffer.from("1"))).toThrow(/keys must come before the changes/);
    enc.addIdempotency(Buffer.from("k2"), Buffer.from("r"));
    expect(() => enc.addIdempotency(Buffer.from("k1"), Buffer.from("r"))).toThrow(/strictly increasing key/);
    expect(() => enc.addIdempotency(Buffer.from("k2"), Buffer.from("r"))).toThrow(/strictly increasing key/);
    expect(() => enc.addChange({ ...c, revision: 3 })).toThrow(/before the idempotency records/);
    expect(() => enc.add(Buffer.from("d"), Buffer.from("1"))).toThrow(
      /before the changes and the idempotency/,
    );
    const v1 = new ImageEncoder({ appliedIndex: 1, revision: 3, compactRevision: 1 }, 64, {
      formatVersion: 1,
    });
    expect(() => v1.addChange(c)).toThrow(/version 1 has no change records/);
    expect(() => v1.addIdempotency(Buffer.from("k"), Buffer.from("r"))).toThrow(
      /version 1 has no idempotency records/,
    );
    expect(() => new ImageEncoder({ appliedIndex: 1, revision: 1, compactRevision: 2 })).toThrow(
      /above the revision/,
    );
  });

  it("buffers at most one record beyond the current chunk", () => {
    // A 1 MiB value fed 1 KiB at a time: the decoder assembles it in one buffer of its size.
    const value = Buffer.alloc(1 << 20, 7);
    const bytes = encode(
      { appliedIndex: 1, revision: 1, compactRevision: 0 },
      [[Buffer.from("k"), value]],
      1024,
    );
    const dec = new ImageDecoder({ maxRecordBytes: (1 << 20) + 1 });
    let got: Buffer | undefined;
    for (let i = 0; i < bytes.length; i += 1024) {
      dec.push(bytes.subarray(i, i + 1024));
      for (let r = dec.next(); r !== undefined; r = dec.next())
        if (r.kind === "key") got = Buffer.from(r.value);
    }
    expect(dec.finish().records).toBe(1);
    expect(got?.equals(value)).toBe(true);
  });
});

/** A version-2 image with a valid checksum and the raw records given (nothing checked). */
function handMadeV2(
  h: { appliedIndex: number; revision: number; compactRevision: number },
  records: Buffer[],
): Buffer {
  const head = Buffer.alloc(36);
  head.write("TSRAFTKV", 0, "latin1");
  head.writeUInt16BE(2, 8);
  head.writeBigUInt64BE(BigInt(h.appliedIndex), 12);
  head.writeBigUInt64BE(BigInt(h.revision), 20);
  head.writeBigUInt64BE(BigInt(h.compactRevision), 28);
  const t = Buffer.alloc(9);
  t[0] = 0xff;
  t.writeBigUInt64BE(BigInt(records.length), 1);
  const body = Buffer.concat([head, ...records, t]);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

function rawKeyV1(k: string, v: string): Buffer {
  const h = Buffer.alloc(9);
  h[0] = 1;
  h.writeUInt32BE(k.length, 1);
  h.writeUInt32BE(v.length, 5);
  return Buffer.concat([h, Buffer.from(k), Buffer.from(v)]);
}

/** A kind-2 record of `k` with an empty value and revisions 1, 1, 1. */
function rawKey(k: string): Buffer {
  const h = Buffer.alloc(33);
  h[0] = 2;
  h.writeUInt32BE(k.length, 1);
  h.writeBigUInt64BE(1n, 9);
  h.writeBigUInt64BE(1n, 17);
  h.writeBigUInt64BE(1n, 25);
  return Buffer.concat([h, Buffer.from(k)]);
}

/** A kind-4 record: an idempotency record of `k` with the value "r". */
function rawIdempotency(k: string): Buffer {
  const h = Buffer.alloc(9);
  h[0] = 4;
  h.writeUInt32BE(k.length, 1);
  h.writeUInt32BE(1, 5);
  return Buffer.concat([h, Buffer.from(k), Buffer.from("r")]);
}

/** A kind-3 record: a put of "k" = "v" (with flags as given) at (revision, sub). */
function rawChange(revision: number, sub: number, flags: number): Buffer {
  const h = Buffer.alloc(48);
  h[0] = 3;
  h.writeBigUInt64BE(BigInt(revision), 1);
  h.writeUInt16BE(sub, 9);
  h[11] = flags;
  h.writeUInt32BE(1, 36);
  h.writeUInt32BE(1, 40);
  return Buffer.concat([h, Buffer.from("k"), Buffer.from("v")]);
}

/** A version-1 image with a valid checksum but records as given (order and count unchecked). */
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
