/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum etcd's WAL and snapshots use,
 * and the one module that computes it: every caller imports {@link crc32c} from here.
 *
 * Two implementations behind it, chosen per call by length:
 * - native: `@node-rs/crc32` (a dependency with prebuilt binaries for each platform, no build step),
 *   which uses the CPU's CRC32 instruction (SSE4.2 on x86-64, the CRC extension on ARMv8): 4–6 GB/s
 *   on the 2-core x86-64 box, 3.7× the JS tables at 16 KiB and 5× at 1 MiB. A call into it costs
 *   90–150 ns whatever the length, so it only pays from {@link NATIVE_MIN_BYTES} up (`pnpm bench
 *   micro/crc32c-*` measures both side by side).
 * - software: slicing-by-8 tables in JS, eight bytes per step, 1.2–1.5 GB/s in V8; the whole path
 *   below the threshold, and the whole path on a platform where the native binary cannot load (no
 *   prebuilt binary for it, or an install that skipped optional dependencies).
 *
 * The running value has Go's `crc32.Update` convention in both: `crc32c(0, data)` is the standard CRC
 * of `data`, and `crc32c(crc32c(0, a), b) === crc32c(0, a ++ b)`, which is how the WAL chains records.
 */
import { createRequire } from "node:module";

/**
 * The shortest input handed to the native implementation. Below it, the fixed cost of a native call
 * exceeds the JS tables' time: the two cross between 200 and 300 bytes on x86-64 (`pnpm bench
 * micro/crc32c-256B`: 0.96–1.1× there, 1.3–1.8× at 512 B), so 512 leaves a margin for slower calls
 * elsewhere.
 */
export const NATIVE_MIN_BYTES = 512;

const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c;
    }
  }
  return t;
})();

/**
 * The JS implementation (slicing-by-8): continues `crc` over `buf[start..end)`. What {@link crc32c}
 * runs below {@link NATIVE_MIN_BYTES} or without the native binary; exported for tests and benches.
 */
export function crc32cSoftware(crc: number, buf: Uint8Array, start = 0, end: number = buf.length): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^
      t[512 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[hi >>> 24]!;
  }
  for (; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** `@node-rs/crc32`'s `crc32c(input, initialState)`: the same convention as ours, over all of `input`. */
type NativeCrc32c = (input: Uint8Array, initialState?: number) => number;

/**
 * The native implementation, or undefined when it cannot load here. Loaded once, at import; a
 * binary that loads but misses the standard check value is refused too, so a broken build can only
 * cost speed, never a wrong checksum.
 */
function loadNative(): NativeCrc32c | undefined {
  try {
    const mod = createRequire(import.meta.url)("@node-rs/crc32") as { crc32c?: NativeCrc32c };
    const f = mod.crc32c;
    const check = new TextEncoder().encode("123456789");
    if (typeof f !== "function" || f(check, 0) !== 0xe3069283) return undefined;
    return f;
  } catch {
    return undefined;
  }
}

const native: NativeCrc32c | undefined = loadNative();

/**
 * The native implementation over `buf[start..end)`, whatever the length, or undefined when its binary
 * cannot load on this platform. For tests and benches; callers use {@link crc32c}.
 */
export const crc32cNative:
  | ((crc: number, buf: Uint8Array, start?: number, end?: number) => number)
  | undefined =
  native === undefined
    ? undefined
    : (crc, buf, start = 0, end = buf.length) =>
        native(start === 0 && end === buf.length ? buf : buf.subarray(start, end), crc);

/** Which implementation serves inputs of {@link NATIVE_MIN_BYTES} and more: for logs and benches. */
export const crc32cImplementation: "native" | "software" = native === undefined ? "software" : "native";

/**
 * Continues the CRC-32C `crc` over `buf[start..end)` and returns the new value (unsigned): the
 * hardware instruction through `@node-rs/crc32` from {@link NATIVE_MIN_BYTES} up, the JS tables below
 * (and for every length where the native binary cannot load). Both give the same value.
 */
export function crc32c(crc: number, buf: Uint8Array, start = 0, end: number = buf.length): number {
  if (native !== undefined && end - start >= NATIVE_MIN_BYTES) {
    return native(start === 0 && end === buf.length ? buf : buf.subarray(start, end), crc);
  }
  return crc32cSoftware(crc, buf, start, end);
}
