import { describe, expect, it } from "vitest";
import { FNV1A_OFFSET, fnv1a, fnv1aString, fnv1aUnit } from "./fnv1a.js";

describe("fnv1a", () => {
  it("matches the published FNV-1a 32-bit test vectors", () => {
    const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
    // From the FNV reference test suite (Fowler, Noll, Vo: fnv_test.c).
    expect(fnv1a(ascii(""))).toBe(0x811c9dc5);
    expect(fnv1a(ascii("a"))).toBe(0xe40c292c);
    expect(fnv1a(ascii("foobar"))).toBe(0xbf9cf968);
    expect(fnv1aString("foobar")).toBe(0xbf9cf968);
  });

  it("chains: hashing in parts equals hashing the whole", () => {
    const b = Uint8Array.of(1, 2, 3, 250, 251);
    expect(fnv1a(b.subarray(2), fnv1a(b.subarray(0, 2)))).toBe(fnv1a(b));
    expect(fnv1aString("cd", fnv1aString("ab"))).toBe(fnv1aString("abcd"));
    expect(fnv1aUnit(0x64, fnv1aString("abc"))).toBe(fnv1aString("abcd"));
  });

  it("a separator tells the boundaries of chained strings apart", () => {
    const pair = (a: string, b: string) => fnv1aString(b, fnv1aUnit(0xffff, fnv1aString(a)));
    expect(pair("a", "bc")).not.toBe(pair("ab", "c"));
    expect(fnv1aString("", FNV1A_OFFSET)).toBe(FNV1A_OFFSET);
  });
});
