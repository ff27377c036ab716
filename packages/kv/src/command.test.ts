import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcRuns as runs } from "../../../test/fc.js";
import { type Command, CommandDecodeError, decodeCommand, encodeCommand } from "./command.js";

const SEED = 0x6b76;
const bytes = (s: string) => new TextEncoder().encode(s);

describe("command encoding", () => {
  it("round-trips every op, with and without prev", () => {
    const arbBytes = fc.uint8Array({ maxLength: 300 });
    const arbCmd: fc.Arbitrary<Command> = fc.oneof(
      fc.record({ op: fc.constant("put" as const), key: arbBytes, value: arbBytes }),
      fc.record({ op: fc.constant("put" as const), key: arbBytes, value: arbBytes, prev: arbBytes }),
      fc.record({ op: fc.constant("delete" as const), key: arbBytes }),
      fc.record({ op: fc.constant("delete" as const), key: arbBytes, prev: arbBytes }),
    );
    fc.assert(
      fc.property(arbCmd, (cmd) => {
        const back = decodeCommand(encodeCommand(cmd));
        expect(back).toEqual(cmd);
      }),
      { seed: SEED, numRuns: runs(300) },
    );
  });

  it("has a fixed layout (it is part of the WAL format)", () => {
    expect([...encodeCommand({ op: "put", key: bytes("k"), value: bytes("vv") })]).toEqual([
      1, 1, 0, 1, 0x6b, 2, 0x76, 0x76,
    ]);
    expect([...encodeCommand({ op: "delete", key: bytes("k"), prev: bytes("") })]).toEqual([
      1, 2, 1, 1, 0x6b, 0,
    ]);
    // A length of 200 takes a two-byte varint.
    const long = encodeCommand({ op: "delete", key: new Uint8Array(200) });
    expect([...long.subarray(0, 5)]).toEqual([1, 2, 0, 0xc8, 0x01]);
  });

  it("refuses malformed data with a CommandDecodeError", () => {
    const good = encodeCommand({ op: "put", key: bytes("key"), value: bytes("value"), prev: bytes("p") });
    const cases: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["unknown version", Uint8Array.of(2, ...good.subarray(1))],
      ["unknown op", Uint8Array.of(1, 9, 0, 0)],
      ["unknown flag", Uint8Array.of(1, 2, 2, 0)],
      ["truncated", good.subarray(0, good.length - 1)],
      ["trailing byte", Uint8Array.of(...good, 0)],
      ["length past the end", Uint8Array.of(1, 2, 0, 5, 1)],
      ["unterminated varint", Uint8Array.of(1, 2, 0, 0x80, 0x80)],
    ];
    for (const [what, data] of cases) {
      expect(() => decodeCommand(data), what).toThrow(CommandDecodeError);
    }
  });
});
