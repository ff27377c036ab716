/**
 * The simulator drives the state machine contract of packages/raft/src/state-machine.ts: every
 * committed entry once, in order, in batches; a fresh state machine after a restart, restored from
 * the snapshot and then replayed; promises awaited between steps only when a state machine returns
 * them; and a state machine that breaks the contract is reported.
 */
import { describe, expect, it } from "vitest";
import type { ApplyEntry, ApplyEntryKind, StateMachine, StateMachineSnapshot } from "../../state-machine.js";
import { utf8Decode } from "./bytes.js";
import { ChecksumStateMachine } from "./example-state-machines.js";
import { generateCase } from "./generator.js";
import { runCase, runCaseAsync } from "./runner.js";
import { parseAction, parseCase, type SimCase } from "./schedule.js";
import { Simulation } from "./simulation.js";
import { AsyncStateMachineError } from "./state-machine-driver.js";

/** One call a state machine received. */
type Call =
  | { op: "apply"; entries: { index: number; kind: ApplyEntryKind; data: string }[] }
  | { op: "restore"; index: number; chunks: number }
  | { op: "snapshot"; index: number };

/** A ChecksumStateMachine that records its calls (one log per node, across incarnations). */
class Recording extends ChecksumStateMachine {
  constructor(readonly calls: Call[]) {
    super();
    calls.push({ op: "restore", index: -1, chunks: 0 }); // marks a new incarnation
  }
  override apply(entries: readonly ApplyEntry[]): (number | undefined)[] {
    const last = this.appliedIndex();
    for (const e of entries) {
      if (e.index <= last) throw new Error(`entry ${e.index} at or below the applied index ${last}`);
    }
    this.calls.push({
      op: "apply",
      entries: entries.map((e) => ({ index: e.index, kind: e.kind, data: utf8Decode(e.data) })),
    });
    return super.apply(entries);
  }
  override snapshot(): StateMachineSnapshot {
    this.calls.push({ op: "snapshot", index: this.appliedIndex() });
    return super.snapshot();
  }
  override restore(index: number, image: AsyncIterable<Uint8Array>) {
    const chunks = [...(image as unknown as Iterable<Uint8Array>)].length;
    this.calls.push({ op: "restore", index, chunks });
    return super.restore(index, image);
  }
}

/** The same state machine behind promises: every method resolves later; images are real streams. */
class Deferred implements StateMachine<number> {
  readonly inner = new ChecksumStateMachine();
  appliedIndex(): number {
    return this.inner.appliedIndex();
  }
  async apply(entries: readonly ApplyEntry[]): Promise<(number | undefined)[]> {
    await Promise.resolve();
    return this.inner.apply(entries);
  }
  async snapshot(): Promise<StateMachineSnapshot> {
    await Promise.resolve();
    const s = this.inner.snapshot();
    return {
      index: s.index,
      read: async function* () {
        yield* s.read() as Iterable<Uint8Array>;
      },
      release: s.release,
    };
  }
  async restore(index: number, image: AsyncIterable<Uint8Array>): Promise<void> {
    // Read it as a stream, as RaftNode's state machines do.
    const chunks: Uint8Array[] = [];
    for await (const c of { [Symbol.asyncIterator]: () => image[Symbol.asyncIterator]() }) chunks.push(c);
    await this.inner.restore(index, chunks as unknown as AsyncIterable<Uint8Array>);
  }
}

const ELECT_1 = "campaign 1; sync; flush; sync; flush; sync; flush; sync; flush; sync; flush; sync";

describe("the simulator drives the state machine contract", () => {
  it("hands every committed entry over once, in order, in batches, with its kind", () => {
    const kinds = new Map<ApplyEntryKind, number>();
    let batches = 0;
    // Until every kind was seen often enough (membership changes are rarer than commands).
    const enough = () =>
      ["normal", "empty", "conf-change"].every((k) => (kinds.get(k as ApplyEntryKind) ?? 0) > 10);
    for (let seed = 1; seed <= 80 && !enough(); seed++) {
      const logs = new Map<number, Call[]>();
      const c = generateCase(seed, { steps: 2000 });
      const run = runCase(c, {
        stateMachine: (id) => {
          if (!logs.has(id)) logs.set(id, []);
          return new Recording(logs.get(id)!);
        },
      });
      expect(run.violation, `seed ${seed}`).toBeUndefined();
      for (const [id, calls] of logs) {
        let applied = 0;
        for (const call of calls) {
          if (call.op === "restore") {
            applied = Math.max(call.index, 0); // a new incarnation (-1) starts at 0
            continue;
          }
          if (call.op === "snapshot") {
            expect(call.index, `node ${id}`).toBe(applied);
            continue;
          }
          expect(call.entries.length).toBeGreaterThan(0);
          if (call.entries.length > 1) batches++;
          for (const e of call.entries) {
            kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
            // Contiguous: nothing skipped (the bootstrap snapshot at 1 holds no state).
            expect(e.index, `node ${id} seed ${seed}`).toBe(applied === 0 ? 2 : applied + 1);
            applied = e.index;
            if (e.kind === "empty") expect(e.data).toBe("");
            if (e.kind === "normal") expect(e.data).toMatch(/^x\d+$/); // only the workload's commands
          }
        }
      }
    }
    expect(batches).toBeGreaterThan(10);
    for (const k of ["normal", "empty", "conf-change"] as const)
      expect(kinds.get(k) ?? 0, k).toBeGreaterThan(10);
  });

  it("a restarted node gets a fresh state machine, restored from its snapshot, then the log after it", () => {
    const calls: Call[] = [];
    const s = new Simulation(parseCase("sim seed=1 nodes=3 voters=1,2,3"), {
      stateMachine: (id) => (id === 2 ? new Recording(calls) : new ChecksumStateMachine()),
    });
    const run = (actions: string) => {
      for (const a of actions.split(";")) s.step(parseAction(a));
    };
    run(ELECT_1);
    run('propose 1 "a"; propose 1 "b"; sync; flush; sync; flush; sync; flush; sync; flush; sync');
    run("snapshot 2 keep=0");
    run('propose 1 "c"; sync; flush; sync; flush; sync; flush; sync; flush; sync');
    run("crash 2 torn=0; restart 2; sync; flush; sync");
    const fresh = calls.map((c, i) => (c.op === "restore" && c.index === -1 ? i : -1)).filter((i) => i >= 0);
    const restarted = calls.slice(fresh[fresh.length - 1]);
    expect(restarted.map((c) => (c.op === "apply" ? c.entries.map((e) => e.index) : c))).toEqual([
      { op: "restore", index: -1, chunks: 0 }, // fresh: appliedIndex() 0
      { op: "restore", index: 4, chunks: expect.any(Number) },
      [5],
    ]);
    expect(s.stateMachine<ChecksumStateMachine>(2).count).toBe(3);
    expect(s.stateMachine<ChecksumStateMachine>(2).hash).toBe(s.stateMachine<ChecksumStateMachine>(1).hash);
  });

  it("liveness proposes empty entries: the application's state machine sees no command of its own", () => {
    const c = generateCase(3, { steps: 200 });
    const logs: Call[] = [];
    const run = runCase(c, { stateMachine: () => new Recording(logs) });
    expect(run.violation).toBeUndefined();
    expect(run.stats.livenessTicks).toBeGreaterThanOrEqual(0);
    const normal = logs.flatMap((x) =>
      x.op === "apply" ? x.entries.filter((e) => e.kind === "normal") : [],
    );
    expect(normal.filter((e) => !/^x\d+$/.test(e.data))).toEqual([]);
  });
});

describe("asynchronous state machines", () => {
  const cases: SimCase[] = [1, 2, 3, 4, 5, 6].map((seed) => generateCase(seed, { steps: 500 }));

  it("run to the same result every time, and every member ends with the same state", async () => {
    for (const c of cases) {
      const opts = { stateMachine: () => new Deferred(), trace: true };
      const a = await runCaseAsync(c, opts);
      expect(a.violation, `seed ${c.seed}`).toBeUndefined();
      const b = await runCaseAsync(c, opts);
      expect(b.transcript).toBe(a.transcript);
      const states = a.sim.members().map((id) => {
        const sm = a.sim.stateMachine<Deferred>(id).inner;
        return `${sm.hash} ${sm.count} ${sm.appliedIndex()}`;
      });
      expect(new Set(states).size, `seed ${c.seed}: ${states.join(", ")}`).toBe(1);
    }
  });

  it("runCase refuses them with a clear error; runCaseAsync of a synchronous one equals runCase", async () => {
    expect(() => runCase(cases[0]!, { stateMachine: () => new Deferred() })).toThrow(AsyncStateMachineError);
    expect(() => runCase(cases[0]!, { stateMachine: () => new Deferred() })).toThrow(/use|runCaseAsync/);
    const sync = runCase(cases[1]!, { trace: true });
    const viaAsync = await runCaseAsync(cases[1]!, { trace: true });
    expect(viaAsync.transcript).toBe(sync.transcript);
  });
});

describe("a state machine that breaks the contract is reported", () => {
  const c = generateCase(7, { steps: 400, noFaults: true });

  it("an applied index that does not follow what it was handed", () => {
    class Stuck extends ChecksumStateMachine {
      override appliedIndex(): number {
        return Math.min(super.appliedIndex(), 3);
      }
    }
    const run = runCase(c, { stateMachine: () => new Stuck() });
    expect(run.violation?.invariant).toBe("state-machine");
    expect(run.violation?.detail).toMatch(
      /reports applied index 3 before apply\(\), but it was handed entries up to/,
    );
    expect(run.violation?.step).toBeGreaterThan(0);
  });

  it("a throw, synchronous or in a promise, and a wrong number of results", async () => {
    class Throws extends ChecksumStateMachine {
      override apply(entries: readonly ApplyEntry[]): (number | undefined)[] {
        if (entries.some((e) => e.kind === "normal")) throw new Error("disk full");
        return super.apply(entries);
      }
    }
    const thrown = runCase(c, { stateMachine: () => new Throws() });
    expect(thrown.violation?.detail).toMatch(/threw in apply\(\): Error: disk full/);
    class Rejects extends Deferred {
      override async apply(entries: readonly ApplyEntry[]): Promise<(number | undefined)[]> {
        if (entries.some((e) => e.kind === "normal")) throw new Error("lost");
        return super.apply(entries);
      }
    }
    const rejected = await runCaseAsync(c, { stateMachine: () => new Rejects() });
    expect(rejected.violation?.invariant).toBe("state-machine");
    expect(rejected.violation?.detail).toMatch(/threw in apply\(\): Error: lost/);
    expect(rejected.violation?.step).toBeGreaterThan(0);
    class Short extends ChecksumStateMachine {
      override apply(entries: readonly ApplyEntry[]): (number | undefined)[] {
        return super.apply(entries).slice(1);
      }
    }
    const short = runCase(c, { stateMachine: () => new Short() });
    expect(short.violation?.detail).toMatch(/apply\(\) of entries \d+\.\.\d+ returned \d+ results for \d+/);
  });

  it("a new state machine that is not empty", () => {
    class Durable extends ChecksumStateMachine {
      override appliedIndex(): number {
        return 7;
      }
    }
    expect(() => runCase(c, { stateMachine: () => new Durable() })).toThrow(/volatile state machines/);
  });
});
