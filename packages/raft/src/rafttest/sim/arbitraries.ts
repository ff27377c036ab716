/**
 * fast-check integration. The simulator does not depend on fast-check: pass your `fc` module in,
 * and get arbitraries of whole cases (seeded by fast-check, built by the generator, shrunk by
 * delta debugging over the schedule) and of single fault and workload actions (plain fast-check
 * combinators, for schedules of your own making).
 *
 * ```ts
 * import fc from "fast-check";
 * fc.assert(fc.property(simCaseArbitrary(fc, { nodes: 3 }), (c) => { ... }), { seed: 42 });
 * ```
 */
import type * as FastCheck from "fast-check";
import { type GenerateOptions, generateCase } from "./generator.js";
import { lastFailedStep } from "./runner.js";
import { type Action, formatCaseOneLine, type SimCase } from "./schedule.js";
import { shrinkCase } from "./shrink.js";

/** The fast-check module (`import fc from "fast-check"`). */
export type FastCheckModule = Omit<typeof FastCheck, "default">;

/** Options of {@link simCaseArbitrary}. */
export interface SimArbitraryOptions extends GenerateOptions {
  /**
   * At most this many candidates are tried while shrinking one failure (default 2000; each costs a
   * run of the property).
   */
  readonly maxShrinkRuns?: number;
}

/**
 * Cases built by {@link generateCase} from seeds fast-check draws, so that a fast-check seed
 * reproduces a whole test run. A failing case shrinks by cutting its schedule after the failing
 * step, turning options off and removing actions. Values print as their one-line text.
 */
export function simCaseArbitrary(
  fc: FastCheckModule,
  opts: SimArbitraryOptions = {},
): FastCheck.Arbitrary<SimCase> {
  const maxShrinkRuns = opts.maxShrinkRuns ?? 2000;
  const named = (c: SimCase): SimCase =>
    Object.defineProperty(c, fc.toStringMethod, { value: () => formatCaseOneLine(c), enumerable: false });

  class SimCaseArbitrary extends fc.Arbitrary<SimCase> {
    /** Candidates tried since the last fresh case (shrinking happens once per failure). */
    private tried = 0;

    generate(mrng: FastCheck.Random): FastCheck.Value<SimCase> {
      this.tried = 0;
      return new fc.Value(named(generateCase(mrng.nextInt(0, 0x7fffffff), opts)), undefined);
    }

    canShrinkWithoutContext(v: unknown): v is SimCase {
      return typeof v === "object" && v !== null && "schedule" in v && "cluster" in v && "options" in v;
    }

    shrink(c: SimCase): FastCheck.Stream<FastCheck.Value<SimCase>> {
      const self = this;
      function* candidates(): Generator<FastCheck.Value<SimCase>> {
        // Where the property's own run of `c` failed (no second run of the case).
        const failedAt = lastFailedStep(c);
        for (const cand of shrinkCase(c, failedAt)) {
          if (self.tried++ >= maxShrinkRuns) return;
          yield new fc.Value(named(cand), undefined);
        }
      }
      return new fc.Stream(candidates());
    }
  }
  return new SimCaseArbitrary();
}

/** Options of the action arbitraries. */
export interface ActionArbitraryOptions {
  /** Cluster size: actions name nodes 1..nodes. */
  readonly nodes: number;
  /** The data of proposals (default: short strings). */
  readonly command?: FastCheck.Arbitrary<string>;
}

/**
 * Fault actions as fast-check combinators: message loss, duplication, late replays and reordering,
 * partitions (symmetric and one-way, losing or holding messages, splits of joint configurations),
 * heals, crashes with torn writes, restarts, pauses, slow disks and clock skew.
 */
export function faultActionArbitrary(
  fc: FastCheckModule,
  o: ActionArbitraryOptions,
): FastCheck.Arbitrary<Action> {
  const node = fc.integer({ min: 1, max: o.nodes });
  const pick = fc.nat(20);
  return fc.oneof(
    pick.map((p): Action => ({ kind: "drop", pick: p })),
    pick.map((p): Action => ({ kind: "dup", pick: p })),
    pick.map((p): Action => ({ kind: "deliver", pick: p })),
    fc.array(fc.integer({ min: 0, max: 2 }), { minLength: o.nodes, maxLength: o.nodes }).map((g): Action => {
      const groups = [0, 1, 2].map((k) => g.flatMap((x, i) => (x === k ? [i + 1] : [])));
      return { kind: "partition", groups: groups.filter((x) => x.length > 0) };
    }),
    fc
      .tuple(node, node, fc.boolean())
      .map(
        ([from, to, hold]): Action => (hold ? { kind: "cut", from, to, hold } : { kind: "cut", from, to }),
      ),
    fc.nat(20).map((pick): Action => ({ kind: "replay", pick, snap: false })),
    fc.nat(3).map((pick): Action => ({ kind: "replay", pick, snap: true })),
    fc.tuple(node, fc.boolean()).map(([n, slow]): Action => ({ kind: "disk", node: n, slow })),
    fc
      .constantFrom("incoming" as const, "outgoing" as const)
      .map((half): Action => ({ kind: "splitJoint", half })),
    fc.constant<Action>({ kind: "heal" }),
    fc.tuple(node, fc.nat(4)).map(([n, torn]): Action => ({ kind: "crash", node: n, torn })),
    node.map((n): Action => ({ kind: "restart", node: n })),
    node.map((n): Action => ({ kind: "pause", node: n })),
    node.map((n): Action => ({ kind: "resume", node: n })),
    fc
      .tuple(node, fc.constantFrom(50, 100, 200))
      .map(([n, rate]): Action => ({ kind: "skew", node: n, rate })),
  );
}

/**
 * Workload and progress actions as fast-check combinators: ticks, deliveries, storage syncs,
 * proposals, conf changes, transfers, reads, snapshots and campaigns.
 */
export function workloadActionArbitrary(
  fc: FastCheckModule,
  o: ActionArbitraryOptions,
): FastCheck.Arbitrary<Action> {
  const node = fc.integer({ min: 1, max: o.nodes });
  const data = o.command ?? fc.string({ minLength: 1, maxLength: 8 });
  const op = fc.record({ op: fc.constantFrom("v" as const, "l" as const, "r" as const), node });
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant<Action>({ kind: "tick" }) },
    { weight: 10, arbitrary: fc.constant<Action>({ kind: "deliver", pick: 0 }) },
    { weight: 2, arbitrary: fc.constant<Action>({ kind: "flush" }) },
    {
      weight: 4,
      arbitrary: fc.integer({ min: 0, max: o.nodes }).map((n): Action => ({ kind: "sync", node: n })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 0, max: o.nodes }).map((n): Action => ({ kind: "apply", node: n })),
    },
    {
      weight: 3,
      arbitrary: fc.tuple(node, data).map(([n, d]): Action => ({ kind: "propose", node: n, data: d })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom("simple" as const, "joint" as const, "joint-explicit" as const, "leave" as const),
          op,
          op,
        )
        .map(
          ([mode, a, b]): Action => ({
            kind: "confChange",
            change: { mode, ops: mode === "leave" ? [] : mode === "simple" ? [a] : [a, b] },
          }),
        ),
    },
    { weight: 1, arbitrary: node.map((n): Action => ({ kind: "transfer", to: n })) },
    { weight: 1, arbitrary: node.map((n): Action => ({ kind: "read", node: n })) },
    {
      weight: 1,
      arbitrary: fc.tuple(node, fc.nat(3)).map(([n, keep]): Action => ({ kind: "snapshot", node: n, keep })),
    },
    { weight: 1, arbitrary: node.map((n): Action => ({ kind: "campaign", node: n })) },
  );
}
