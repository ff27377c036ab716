import { describe, expect, it } from "vitest";
import { parseLine, parseTestData, runTestData } from "./datadriven.js";

describe("parseLine", () => {
  it("parses keys, single values and parenthesised lists", () => {
    expect(parseLine("committed cfg=(1,2,3) cfgj=zero idx=(13, 100) flag")).toEqual({
      cmd: "committed",
      cmdArgs: [
        { key: "cfg", vals: ["1", "2", "3"] },
        { key: "cfgj", vals: ["zero"] },
        { key: "idx", vals: ["13", "100"] },
        { key: "flag", vals: [] },
      ],
    });
  });
  it("keeps nested parentheses inside a value and allows empty values", () => {
    expect(parseLine("cmd exprs=(a + (b + c), d) e=").cmdArgs).toEqual([
      { key: "exprs", vals: ["a + (b + c)", "d"] },
      { key: "e", vals: [""] },
    ]);
  });
  it("reports the column of a parse error", () => {
    expect(() => parseLine("cmd a=(1,2")).toThrow(/cannot parse directive at column 7: cmd a=\(1,2/);
  });
});

describe("parseTestData", () => {
  it("reads input, single-block and double-separator outputs, comments and continuations", () => {
    const text = [
      "# a comment",
      "first a=1 \\",
      "  b=2",
      "line one",
      "----",
      "out",
      "",
      "second",
      "----",
      "----",
      "x",
      "",
      "y",
      "----",
      "----",
      "",
      "third",
      "----",
      "",
    ].join("\n");
    const ds = parseTestData(text, "t");
    expect(ds.map((d) => [d.pos, d.cmd, d.input, d.expected])).toEqual([
      ["t:2", "first", "line one", "out\n"],
      ["t:8", "second", "", "x\n\ny\n"],
      ["t:17", "third", "", ""],
    ]);
    expect(ds[0]?.cmdArgs).toEqual([
      { key: "a", vals: ["1"] },
      { key: "b", vals: ["2"] },
    ]);
  });

  it("rewrites a script into itself when every output matches", () => {
    const text = "a\n----\nx\n\n# c\nb\n----\n----\nx\n\ny\n----\n----\n\nc\n----\n";
    const r = runTestData(text, (d) => d.expected);
    expect(r.passed).toBe(3);
    expect(r.rewritten).toBe(text);
  });

  it("rewrites a changed output, switching to the double separator for blank lines", () => {
    const r = runTestData("a\n----\nold\n\nb\n----\nz\n", (d) => (d.cmd === "a" ? "new\n\nlines" : "z"));
    expect(r.passed).toBe(1);
    expect(r.rewritten).toBe("a\n----\n----\nnew\n\nlines\n----\n----\n\nb\n----\nz\n");
  });
});
