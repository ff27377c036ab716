import { describe, expect, it } from "vitest";
import { confchangeDatadrivenHandler } from "./confchange-datadriven.js";
import { runTestData } from "./datadriven.js";

describe("confchangeDatadrivenHandler", () => {
  const run = (script: string) =>
    runTestData(script, confchangeDatadrivenHandler()).results.map((r) => r.error ?? r.actual);

  it("prints bad tokens, unknown commands and input to leave-joint as output", () => {
    expect(
      run("simple\nx1\n----\n\nsimple\nv\n----\n\nsimple\nvx\n----\n\nfoo\n----\n\nleave-joint\nv1\n----\n"),
    ).toEqual([
      "unknown input: x1\n",
      "unknown token v\n",
      'strconv.ParseUint: parsing "x": invalid syntax\n',
      "unknown command\n",
      "this command takes no input\n",
    ]);
  });

  it("starts each handler from an empty configuration, and counts the last index per directive", () => {
    const script = "simple\nv1\n----\n\nsimple\nl2\n----\n";
    const out = [
      "voters=(1)\n1: StateProbe match=0 next=1\n",
      "voters=(1) learners=(2)\n1: StateProbe match=0 next=1\n2: StateProbe match=0 next=1 learner\n",
    ];
    expect(run(script)).toEqual(out);
    expect(run(script)).toEqual(out);
    // The third directive creates its progress with last index 2.
    expect(run(`${script}\nsimple\nv3\n----\n`)[2]).toMatch(/^3: StateProbe match=0 next=2$/m);
  });

  it("fails (rather than prints) a malformed autoleave argument", () => {
    const r = run("simple\nv1\n----\n\nenter-joint autoleave=maybe\nv2\n----\n");
    expect(String(r[1])).toMatch(/strconv.ParseBool: parsing "maybe"/);
  });
});
