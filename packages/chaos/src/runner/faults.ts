/**
 * The faults a chaos run can inject, one per run, chosen and parameterized by the run's seed, and
 * how each is carried out on a {@link ChaosCluster}.
 *
 * | kind | how |
 * |---|---|
 * | kill-leader / kill-follower / kill-any | SIGKILL the process, restart it (same data) 0.5–2.5 s later |
 * | pause | SIGSTOP for 1–5 s, then SIGCONT |
 * | partition | the proxies drop every message between one node and the rest, both ways, 2–4 s |
 * | one-way-drop | the proxies drop one node's outgoing (or incoming) messages only, 2–4 s |
 * | delay | every peer link delays messages by 75 ± 50 ms, 3–5 s |
 * | loss | every peer link drops 50% of messages, 3–5 s |
 * | crash-before-fsync / crash-after-fsync | restart a node with `wal-before-fsync` / `wal-after-fsync=crash@N`; it SIGKILLs itself at its N-th WAL fsync; restarted clean |
 * | crash-before-snapshot / crash-after-snapshot | the same with `snap-before-save` / `snap-after-save=crash@1` (snapshots every 50 entries) |
 * | enospc | restart a node with `wal-write=enospc@N+` (the disk stays full): it fail-stops and exits 1; 1–2.5 s after it fires, kill it if still running and restart clean (disk freed) |
 * | replace-member | remove a member (DELETE /members), stop it, add a fresh one (POST /members) that joins with an empty data directory |
 */
import { readFileSync, statSync } from "node:fs";
import type { Rng } from "../random.js";
import type { ChaosCluster } from "./cluster.js";
import { HEALTHY, type Network } from "./proxy.js";
import { sleep } from "./workload.js";

/** Every fault kind, in the order seeds cycle through them. */
export const FAULT_KINDS = [
  "kill-leader",
  "kill-follower",
  "kill-any",
  "pause",
  "partition",
  "one-way-drop",
  "delay",
  "loss",
  "crash-before-fsync",
  "crash-after-fsync",
  "crash-before-snapshot",
  "crash-after-snapshot",
  "enospc",
  "replace-member",
] as const;

/** One kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The kinds that make sense on a one-node cluster (no peers to cut off, nobody to replace with). */
export const SINGLE_NODE_FAULTS: readonly FaultKind[] = [
  "kill-any",
  "pause",
  "crash-before-fsync",
  "crash-after-fsync",
  "crash-before-snapshot",
  "crash-after-snapshot",
  "enospc",
];

/** Which node a fault hits, resolved when it strikes. */
export type Victim = "leader" | "follower" | "any";

/** A fault with its parameters, all drawn from the seed before the run starts. */
export interface FaultPlan {
  readonly kind: FaultKind;
  readonly victim: Victim;
  /** Tie-breaker among candidate victims (an index into the sorted candidates, modulo their count). */
  readonly pick: number;
  /** How long the fault lasts before it is healed (ms). */
  readonly durationMs: number;
  /** Failpoint spec for the failpoint kinds. */
  readonly failpoints: string | undefined;
  /** one-way-drop: the victim's outgoing (true) or incoming messages. */
  readonly outgoing: boolean;
  /** Node flags this fault needs on every node (snapshot frequency). */
  readonly nodeArgs: readonly string[];
}

/** Draws the parameters of a fault of `kind`. */
export function planFault(kind: FaultKind, rng: Rng): FaultPlan {
  const victims: Victim[] = ["leader", "follower", "any"];
  const base = {
    kind,
    victim: rng.pick(victims),
    pick: rng.int(0, 1000),
    durationMs: rng.int(2000, 4000),
    failpoints: undefined as string | undefined,
    outgoing: rng.chance(0.5),
    nodeArgs: [] as string[],
  };
  switch (kind) {
    case "kill-leader":
      return { ...base, victim: "leader", durationMs: rng.int(500, 2500) };
    case "kill-follower":
      return { ...base, victim: "follower", durationMs: rng.int(500, 2500) };
    case "kill-any":
      return { ...base, victim: "any", durationMs: rng.int(500, 2500) };
    case "pause":
      return { ...base, durationMs: rng.int(1000, 5000) };
    case "partition":
    case "one-way-drop":
      return base;
    case "delay":
    case "loss":
      return { ...base, durationMs: rng.int(3000, 5000) };
    case "crash-before-fsync":
      return { ...base, failpoints: `wal-before-fsync=crash@${rng.int(5, 60)}` };
    case "crash-after-fsync":
      return { ...base, failpoints: `wal-after-fsync=crash@${rng.int(5, 60)}` };
    case "crash-before-snapshot":
      return { ...base, failpoints: "snap-before-save=crash@1", nodeArgs: ["--snapshot-count", "50"] };
    case "crash-after-snapshot":
      return { ...base, failpoints: "snap-after-save=crash@1", nodeArgs: ["--snapshot-count", "50"] };
    case "enospc":
      return { ...base, failpoints: `wal-write=enospc@${rng.int(5, 30)}+`, durationMs: rng.int(1000, 2500) };
    case "replace-member":
      return { ...base, victim: rng.chance(0.5) ? "follower" : "any" };
  }
}

/** What the runner needs from the fault while it runs. */
export interface FaultContext {
  readonly cluster: ChaosCluster;
  readonly network: Network;
  /** Appends a timestamped line to the run's fault log. */
  readonly log: (line: string) => void;
  /** The identity a replacement member takes. */
  readonly spareId: number;
}

/** Picks the victim among the running members. */
async function chooseVictim(plan: FaultPlan, ctx: FaultContext): Promise<number> {
  const members = [...ctx.cluster.members()].sort((a, b) => a - b);
  const lead = await ctx.cluster.leader().catch(() => undefined);
  let candidates = members;
  if (plan.victim === "leader" && lead !== undefined) candidates = [lead];
  if (plan.victim === "follower" && members.length > 1) candidates = members.filter((m) => m !== lead);
  const v = candidates[plan.pick % candidates.length]!;
  ctx.log(`victim ${v} (${plan.victim}; leader was ${lead ?? "unknown"})`);
  return v;
}

/** Restarts `id` clean (no failpoints) unless it is running. */
async function restartClean(ctx: FaultContext, id: number): Promise<void> {
  if (ctx.cluster.isRunning(id)) return;
  ctx.cluster.start(id);
  ctx.log(`restarted node ${id}`);
}

/** What {@link injectFault} observed. */
export interface FaultOutcome {
  /** For failpoint kinds: whether the failpoint fired (its mark is in the node's log). */
  readonly fired: boolean | undefined;
}

/** The line a fired failpoint leaves in the node's log (failpoints.ts, or the node's fatal error). */
function failpointMark(plan: FaultPlan): string {
  const point = plan.failpoints!.split("=")[0]!;
  return plan.kind === "enospc" ? `(failpoint ${point})` : `failpoint ${point}: crash`;
}

/**
 * Injects `plan` now, and heals it: on return, every member runs without failpoints and every link
 * is healthy.
 */
export async function injectFault(plan: FaultPlan, ctx: FaultContext): Promise<FaultOutcome> {
  const { cluster, network, log } = ctx;
  const victim = await chooseVictim(plan, ctx);
  const others = cluster.members().filter((m) => m !== victim);
  switch (plan.kind) {
    case "kill-leader":
    case "kill-follower":
    case "kill-any":
      await cluster.kill(victim);
      log(`SIGKILL node ${victim}; down for ${plan.durationMs} ms`);
      await sleep(plan.durationMs);
      await restartClean(ctx, victim);
      return { fired: undefined };
    case "pause":
      cluster.pause(victim);
      log(`SIGSTOP node ${victim} for ${plan.durationMs} ms`);
      await sleep(plan.durationMs);
      cluster.resume(victim);
      log(`SIGCONT node ${victim}`);
      return { fired: undefined };
    case "partition":
    case "one-way-drop": {
      for (const o of others) {
        if (plan.kind === "partition" || plan.outgoing) network.set(victim, o, { ...HEALTHY, drop: true });
        if (plan.kind === "partition" || !plan.outgoing) network.set(o, victim, { ...HEALTHY, drop: true });
      }
      const what =
        plan.kind === "partition" ? "isolated" : plan.outgoing ? "outgoing dropped" : "incoming dropped";
      log(`node ${victim} ${what} for ${plan.durationMs} ms`);
      await sleep(plan.durationMs);
      network.heal();
      log("network healed");
      return { fired: undefined };
    }
    case "delay":
    case "loss": {
      const rule =
        plan.kind === "delay" ? { ...HEALTHY, delayMs: 75, jitterMs: 50 } : { ...HEALTHY, loss: 0.5 };
      for (const a of cluster.members())
        for (const b of cluster.members()) if (a !== b) network.set(a, b, rule);
      log(
        `all peer links: ${plan.kind === "delay" ? "75±50 ms delay" : "50% loss"} for ${plan.durationMs} ms`,
      );
      await sleep(plan.durationMs);
      network.heal();
      log("network healed");
      return { fired: undefined };
    }
    case "crash-before-fsync":
    case "crash-after-fsync":
    case "crash-before-snapshot":
    case "crash-after-snapshot":
    case "enospc": {
      await cluster.stop(victim);
      const logPath = cluster.slots.get(victim)!.logPath;
      const logFrom = statSync(logPath).size;
      cluster.start(victim, { failpoints: plan.failpoints! });
      log(`restarted node ${victim} with TSRAFT_FAILPOINTS=${plan.failpoints}`);
      // Wait for the failpoint to fire (a crash ends the process; ENOSPC leaves a fail-stopped node).
      const firedIn = () =>
        readFileSync(logPath).subarray(logFrom).toString("utf8").includes(failpointMark(plan));
      // It fires after a few WAL writes or one snapshot: seconds, or tens of them on a busy machine
      // (a node process starting at a load average of 14 took most of the 8 s once allowed).
      const deadline = performance.now() + 30_000;
      while (cluster.isRunning(victim) && !firedIn() && performance.now() < deadline) await sleep(50);
      if (cluster.isRunning(victim) && plan.kind === "enospc" && firedIn()) {
        log(`node ${victim} hit ENOSPC; disk stays full for ${plan.durationMs} ms`);
        await sleep(plan.durationMs);
      }
      if (await cluster.waitExit(victim, 500))
        log(`node ${victim} exited (${cluster.slots.get(victim)!.exits.at(-1)})`);
      else {
        log(`node ${victim} still running; killing it`);
        await cluster.kill(victim);
      }
      const fired = firedIn();
      log(`failpoint ${fired ? "fired" : "did NOT fire"}`);
      // A node whose WAL fails stops its Raft node and exits 1 (fail-stop): what ENOSPC must do.
      const exits = cluster.slots.get(victim)!.exits;
      if (plan.kind === "enospc" && fired && exits.at(-1) === "code 1")
        exits[exits.length - 1] = "code 1 (expected)";
      await sleep(500);
      await restartClean(ctx, victim);
      return { fired };
    }
    case "replace-member": {
      const via = others.find((o) => cluster.isRunning(o)) ?? victim;
      const removed = await cluster.removeMember(via, victim);
      log(`DELETE /members/${victim} via ${via}: ${removed}`);
      if (removed !== "ok") return { fired: undefined };
      await sleep(500);
      await cluster.stop(victim);
      log(`stopped node ${victim}`);
      const id = ctx.spareId;
      const via2 = cluster.members().find((m) => cluster.isRunning(m))!;
      const added = await cluster.addMember(via2, id, victim);
      log(`POST /members {id: ${id}} via ${via2}: ${added}`);
      if (added !== "ok") return { fired: undefined };
      cluster.start(id, { join: true });
      log(`started node ${id} with --join and a fresh data directory`);
      await sleep(plan.durationMs);
      return { fired: undefined };
    }
  }
}
