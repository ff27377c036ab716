import { describe, expect, it } from "vitest";
import { DEFAULT_HEAP_GROWING_PERCENT, tuneHeapGrowth } from "./heap-growth.js";

describe("tuneHeapGrowth", () => {
  it("sets the default, or TSRAFT_HEAP_GROWING_PERCENT, and leaves V8 alone for 0 or a node flag", () => {
    expect(tuneHeapGrowth({}, [])).toBe(DEFAULT_HEAP_GROWING_PERCENT);
    expect(tuneHeapGrowth({ TSRAFT_HEAP_GROWING_PERCENT: "35" }, [])).toBe(35);
    expect(tuneHeapGrowth({ TSRAFT_HEAP_GROWING_PERCENT: "0" }, [])).toBeUndefined();
    expect(tuneHeapGrowth({}, ["--heap-growing-percent=50"])).toBeUndefined();
    expect(tuneHeapGrowth({ NODE_OPTIONS: "--max-old-space-size=512 --heap_growing_percent=50" }, [])).toBe(
      undefined,
    );
  });

  it("refuses a value that is not a percent, naming the variable", () => {
    for (const bad of ["-1", "abc", "1.5", "5000"]) {
      expect(() => tuneHeapGrowth({ TSRAFT_HEAP_GROWING_PERCENT: bad }, [])).toThrow(
        /TSRAFT_HEAP_GROWING_PERCENT must be an integer/,
      );
    }
  });
});
