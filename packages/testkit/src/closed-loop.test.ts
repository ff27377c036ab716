import { describe, expect, it } from "vitest";
import { runClosedLoop } from "./closed-loop.js";

/** An operation the test finishes by hand. */
interface Held {
  readonly client: number;
  readonly seq: number;
  finish(pauseMs?: number): void;
}

/** Clients whose operations wait until the test finishes them; `held` lists the ones in flight. */
function heldClients(clients: number, o: { until?: () => boolean } = {}) {
  const held: Held[] = [];
  const started: string[] = [];
  let wake: (() => void) | undefined;
  const loop = runClosedLoop({
    clients,
    until: o.until,
    client: (client) => (seq) =>
      new Promise<number | undefined>((resolve) => {
        started.push(`c${client}:${seq}`);
        held.push({ client, seq, finish: (pauseMs) => resolve(pauseMs) });
        wake?.();
      }),
  });
  /** Resolves once `n` operations are in flight. */
  const inFlight = async (n: number): Promise<Held[]> => {
    while (held.length < n) await new Promise<void>((r) => (wake = r));
    return held.splice(0, n);
  };
  return { loop, started, inFlight };
}

describe("runClosedLoop", () => {
  it("keeps one operation in flight per client, numbering each client's operations from 0", async () => {
    const { loop, started, inFlight } = heldClients(3);
    const first = await inFlight(3);
    expect(first.map((h) => `c${h.client}:${h.seq}`)).toEqual(["c0:0", "c1:0", "c2:0"]);
    // Client 1's next operation starts only once its first has finished; the others wait on theirs.
    first[1]!.finish();
    const [next] = await inFlight(1);
    expect([next!.client, next!.seq]).toEqual([1, 1]);
    expect(started).toEqual(["c0:0", "c1:0", "c2:0", "c1:1"]);
    // stop() lets the operations in flight finish, counts them, and starts no more.
    const stopped = loop.stop();
    for (const h of [first[0]!, first[2]!, next!]) h.finish();
    expect(await stopped).toEqual([1, 2, 1]);
    expect(await loop.finished).toEqual([1, 2, 1]);
    expect(started).toHaveLength(4);
  });

  it("checks `until` before each operation", async () => {
    let done = false;
    const { loop, inFlight } = heldClients(2, { until: () => done });
    const first = await inFlight(2);
    first[0]!.finish();
    await inFlight(1).then(([h]) => {
      done = true;
      h!.finish();
    });
    first[1]!.finish();
    expect(await loop.finished).toEqual([2, 1]);
  });

  it("waits the pause a step asks for before the client's next operation", async () => {
    const starts: number[] = [];
    const loop = runClosedLoop({
      clients: 1,
      until: () => starts.length === 2,
      client: () => async () => {
        starts.push(performance.now());
        return 30;
      },
    });
    expect(await loop.finished).toEqual([2]);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(29);
  });

  it("ends after durationMs: no operation starts later, the last one is awaited", async () => {
    const t0 = performance.now();
    let lastStart = 0;
    const loop = runClosedLoop({
      clients: 2,
      durationMs: 50,
      client: () => async () => {
        lastStart = performance.now();
        await new Promise((r) => setTimeout(r, 5));
        return undefined;
      },
    });
    const t1 = performance.now();
    const counts = await loop.finished;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(50);
    expect(lastStart).toBeLessThan(t1 + 50);
    expect(counts.every((n) => n >= 1)).toBe(true);
    expect(await runClosedLoop({ clients: 2, durationMs: 0, client: () => async () => 0 }).finished).toEqual([
      0, 0,
    ]);
  });
});
