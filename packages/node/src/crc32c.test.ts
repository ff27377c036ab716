import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../test/fc.js";
import { crc32c, crc32cImplementation, crc32cNative, crc32cSoftware, NATIVE_MIN_BYTES } from "./crc32c.js";

const SEED = 20261207;

/** Platforms `@node-rs/crc32` ships a prebuilt binary for that CI and developers use. */
const PREBUILT = ["linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64", "win32-x64", "win32-arm64"];

/** Every implementation this platform has, by name: the dispatching entry point first. */
type Crc = (crc: number, buf: Uint8Array, start?: number, end?: number) => number;
const IMPLS: [string, Crc][] = [
  ["crc32c", crc32c],
  ["software", crc32cSoftware],
];
if (crc32cNative !== undefined) IMPLS.push(["native", crc32cNative]);

describe("crc32c implementations", () => {
  it("the native one loads where a prebuilt binary exists (else every length runs in JS)", () => {
    const platform = `${process.platform}-${process.arch}`;
    if (PREBUILT.includes(platform)) expect(crc32cImplementation).toBe("native");
    expect(crc32cImplementation === "native").toBe(crc32cNative !== undefined);
  });

  it("falls back to the JS tables, with the same values, where the native binary cannot load", () => {
    // The built package in a plain Node process whose napi-rs loader is pointed at a missing binary
    // (`pnpm test` builds dist/ first).
    const script = `import { crc32c } from "@tsraft/node";
import { crc32cImplementation } from "@tsraft/node/testing";
const big = new Uint8Array(100000).map((_, i) => i * 7);
console.log(JSON.stringify([crc32cImplementation, crc32c(0, big), crc32c(5, big, 3, 700)]));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: join(dirname(fileURLToPath(import.meta.url)), ".."),
      env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: "/nonexistent/crc32.node" },
      encoding: "utf8",
    });
    const big = new Uint8Array(100000).map((_, i) => i * 7);
    expect(JSON.parse(out)).toEqual(["software", crc32cSoftware(0, big), crc32cSoftware(5, big, 3, 700)]);
  });

  it.each(IMPLS)("%s: standard check values, short and long", (_name, f) => {
    const ascii = new TextEncoder().encode("123456789");
    expect(f(0, ascii)).toBe(0xe3069283);
    expect(f(crc32c(0, ascii.subarray(0, 4)), ascii.subarray(4))).toBe(0xe3069283);
    expect(f(0, new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(f(0, new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43); // RFC 3720 B.4: 32 bytes of 0xff
    // The same 9 bytes at an offset of a larger buffer (a Node Buffer, as the WAL's may be).
    const big = Buffer.alloc(4096, 0x5a);
    big.set(ascii, 1000);
    expect(f(0, big, 1000, 1009)).toBe(0xe3069283);
    expect(f(7, big, 500, 500)).toBe(7); // an empty range leaves the running value as it is
  });

  it("all agree on any range of any buffer, from any running value, across the native threshold", () => {
    const len = fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.integer({ min: NATIVE_MIN_BYTES - 9, max: NATIVE_MIN_BYTES + 9 }),
      fc.integer({ min: 0, max: 70_000 }),
    );
    fc.assert(
      fc.property(
        len.chain((n) => fc.tuple(fc.uint8Array({ minLength: n, maxLength: n }), fc.nat(n), fc.nat(n))),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        ([buf, a, b], seed) => {
          const start = Math.min(a, b);
          const end = Math.max(a, b);
          const want = crc32cSoftware(seed, buf.slice(start, end));
          for (const [name, f] of IMPLS) {
            expect([name, f(seed, buf, start, end)]).toEqual([name, want]);
          }
        },
      ),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("chains like Go's crc32.Update: crc32c(crc32c(c, a), b) === crc32c(c, a ++ b)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 40_000 }).chain((buf) => fc.tuple(fc.constant(buf), fc.nat(buf.length))),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        ([buf, split], seed) => {
          for (const [name, f] of IMPLS) {
            const chained = f(f(seed, buf, 0, split), buf, split, buf.length);
            expect([name, chained]).toEqual([name, f(seed, buf)]);
          }
        },
      ),
      { seed: SEED + 1, numRuns: runs(200) },
    );
  });
});
