/**
 * The token table and the role table (auth.ts): parsing (a bad line is named by number, never
 * echoed), role lookup, and what each method and route needs.
 */
import { describe, expect, it } from "vitest";
import { requirementOf, TokenTable } from "./auth.js";

const T = "0123456789abcdef-secret";

describe("TokenTable", () => {
  it("reads `token role` lines, skipping comments and blank lines", () => {
    const t = TokenTable.parse(`# tokens\n\n${T}-r read\n${T}-w   readwrite\n\t${T}-a admin\n`);
    expect(t.size).toBe(3);
    expect([
      t.roleOf(`${T}-r`),
      t.roleOf(`${T}-w`),
      t.roleOf(`${T}-a`),
      t.roleOf(`${T}-x`),
      t.roleOf(""),
    ]).toEqual(["read", "readwrite", "admin", undefined, undefined]);
  });

  it("refuses a malformed file, naming the line but never its token", () => {
    const bad: [string, RegExp][] = [
      [`${T} superuser\n`, /line 1: expected/],
      [`${T}\n`, /line 1: expected/],
      [`# ok\n${T} read extra\n`, /line 2: expected/],
      ["short read\n", /line 1: a token must have at least 16 characters/],
      [`${T} read\n${T} admin\n`, /line 2: this token is listed twice/],
      ["# nothing\n", /holds no token/],
    ];
    for (const [text, err] of bad) {
      let message = "";
      try {
        TokenTable.parse(text, "tokens.txt");
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(err);
      expect(message).not.toContain(T);
      expect(message).not.toContain("short");
    }
  });
});

describe("requirementOf", () => {
  it("follows the role table", () => {
    const table: [string, string, boolean, string][] = [
      ["GET", "/health", false, "none"],
      ["GET", "/metrics", false, "read"],
      ["GET", "/metrics", true, "none"],
      ["GET", "/kv/a", false, "read"],
      ["HEAD", "/kv/a", false, "read"],
      ["PUT", "/kv/a", false, "readwrite"],
      ["DELETE", "/kv/a", false, "readwrite"],
      ["POST", "/txn", false, "readwrite"],
      ["GET", "/watch", false, "read"],
      ["GET", "/members", false, "read"],
      ["POST", "/members", false, "admin"],
      ["DELETE", "/members/3", false, "admin"],
      ["POST", "/members/3/promote", false, "admin"],
      ["GET", "/backup", false, "admin"],
      ["GET", "/debug/hash", false, "admin"],
      ["GET", "/membersx", false, "read"],
    ];
    for (const [method, path, pub, need] of table)
      expect(requirementOf(method, path, pub), `${method} ${path}`).toBe(need);
  });
});
