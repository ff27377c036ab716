import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { ephemeralLow, freePorts } from "./ports.js";

describe("freePorts", () => {
  it("gives distinct ports below the ephemeral range that a server can listen on", async () => {
    const ports = await freePorts(8);
    expect(new Set(ports).size).toBe(8);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(ephemeralLow());
      await new Promise<void>((resolve, reject) => {
        const s = createServer();
        s.once("error", reject);
        s.listen(p, "127.0.0.1", () => s.close(() => resolve()));
      });
    }
  });
});
