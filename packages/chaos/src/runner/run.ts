/**
 * One chaos run, start to verdict: a cluster of real `tsraft-kv` processes (3 nodes, or the 1-node
 * variant), 8 clients (6 pinned to a node, 2 roaming) over 10 keys, one fault chosen by the seed, then
 * heal, write a final value, read every key from every node, stop, and check:
 *
 * 1. the committed logs of all nodes agree wherever they overlap, and no request was applied twice;
 * 2. every acknowledged write is in the committed log (independently of linearizability);
 * 3. the history, patched from the log, is linearizable (a time budget running out fails the run);
 * 4. every node reports the same state digest at the same applied index;
 * 5. no node died on its own, and the server gave no answer its API does not allow;
 * 6. the transactions and ranges on groups of keys (lincheck/kv-group-model.ts) are linearizable;
 * 7. a watch per node, from revision 1 through the fault, delivered exactly the committed history
 *    (watch-check.ts).
 *
 * A failing run keeps its directory (history, report, node logs, data directories) and says how to
 * replay its schedule.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeIdempotent, decodeKvCommand, IDEMPOTENCY_WINDOW } from "@tsraft/kv";
import { KvClient as TypedKvClient } from "@tsraft/kv/client";
import { type CheckOutcome, checkOperations } from "../lincheck/checker.js";
import { groupModel, isGroupAmbiguous } from "../lincheck/kv-group-model.js";
import { kvModel } from "../lincheck/kv-model.js";
import { checkAcknowledgedWrites, patchKvHistory } from "../lincheck/patch.js";
import { describeResult } from "../lincheck/report.js";
import { Rng } from "../random.js";
import { ChaosCluster, type StateHash } from "./cluster.js";
import { mergeCommittedLogs, readNodeLog } from "./committed-log.js";
import { FAULT_KINDS, type FaultKind, injectFault, planFault, SINGLE_NODE_FAULTS } from "./faults.js";
import { Network } from "./proxy.js";
import { settleTransactions, WatchRecorder } from "./watch-check.js";
import { sleep, Workload, workloadKeys } from "./workload.js";

/** Operations a run's history holds at least, time permitting (its workload runs on until then). */
export const MIN_OPS = 150;
/** What a seed stands for: the cluster size and the fault. */
export interface RunSpec {
  readonly seed: number;
  readonly nodes: 1 | 3;
  readonly fault: FaultKind;
  /**
   * The retrying workload: every write carries an Idempotency-Key and every ambiguous one is sent
   * again with it until its answer is definite (workload.ts).
   */
  readonly retries?: boolean;
}

/**
 * The schedule of `seed`: seeds cycle through {@link FAULT_KINDS} on 3 nodes; every 4th block of
 * 14 seeds (seeds 42–55, 98–111, ...) runs the 1-node variant with the faults that apply to it.
 * Every other parameter (victim, durations, failpoint counts, the clients' choices) comes from a
 * random stream seeded with `seed`.
 */
export function specForSeed(seed: number): RunSpec {
  const k = FAULT_KINDS.length;
  const block = Math.floor(seed / k);
  if (block % 4 === 3)
    return { seed, nodes: 1, fault: SINGLE_NODE_FAULTS[seed % SINGLE_NODE_FAULTS.length]! };
  return { seed, nodes: 3, fault: FAULT_KINDS[seed % k]! };
}

/** Options of {@link runChaos}. */
export interface RunOptions {
  /** Where run directories are made (default: the OS temp directory). */
  readonly baseDir?: string;
  /** Keep the run directory: on failure (default), always, or never. */
  readonly keep?: "failure" | "always" | "never";
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Budget of the linearizability check (default 60 s). */
  readonly checkTimeoutMs?: number;
}

/** The outcome of one run. */
export interface RunReport {
  readonly spec: RunSpec;
  readonly ok: boolean;
  /** Why it failed (empty when ok). */
  readonly failures: readonly string[];
  /** Operations in the history (before patching), single-key and multi-key. */
  readonly ops: number;
  /** Of which transactions and ranges on groups of keys. */
  readonly groupOps: number;
  /** Watch events delivered per watch, and how often a watch resumed. */
  readonly watchEvents: number;
  readonly watchResumes: number;
  readonly opsPerSec: number;
  readonly ambiguousBefore: number;
  /** Operations still ambiguous after the patch step, and their share of the patched history. */
  readonly ambiguousAfter: number;
  readonly ambiguity: number;
  readonly lincheck: CheckOutcome;
  /** Failpoint kinds: whether the failpoint fired (a run whose failpoint did not fire tested less). */
  readonly faultFired: boolean | undefined;
  readonly checkMs: number;
  /** Retrying mode: writes sent more than once, and committed entries deduplicated by their key. */
  readonly retried: number;
  readonly replays: number;
  /** Of the writes retried, the groups' transactions. */
  readonly retriedTxns: number;
  /**
   * Retrying mode: writes still ambiguous because their retries ran out of budget. Nothing else is
   * left ambiguous in this mode (the final write is retried with its key too).
   */
  readonly retryExhausted: number;
  readonly faultLog: readonly string[];
  /** The kept run directory, if any. */
  readonly dir: string | undefined;
  /** The command that replays this run's schedule. */
  readonly replay: string;
  readonly elapsedMs: number;
}

/** Raft timing for runs: 50 ms ticks, elections after 1–2 s of silence. */
const RAFT_ARGS = ["--tick-ms", "50", "--election-tick", "20", "--heartbeat-tick", "1"];
const FINAL_KEY = "final";

/** Runs the schedule of `spec` and checks the result. Never throws for a failing cluster: reports it. */
export async function runChaos(spec: RunSpec, o: RunOptions = {}): Promise<RunReport> {
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const dir = mkdtempSync(join(o.baseDir ?? tmpdir(), `tsraft-chaos-${spec.seed}-`));
  const rng = new Rng(spec.seed);
  const plan = planFault(spec.fault, rng.fork());
  const network = new Network(rng.nextU32());
  const faultLog: string[] = [];
  const log = (line: string) => {
    faultLog.push(`${(now() / 1000).toFixed(2)}s ${line}`);
    o.log?.(`  [seed ${spec.seed}] ${line}`);
  };
  const snapshotCount =
    plan.nodeArgs.length > 0 ? [] : ["--snapshot-count", String(rng.pick([100, 1000, 10000]))];
  const cluster = await ChaosCluster.create({
    dir,
    size: spec.nodes,
    spare: spec.nodes === 3 ? 1 : 0,
    network,
    args: [
      ...RAFT_ARGS,
      "--request-timeout-ms",
      "1000",
      "--log-level",
      "info",
      ...snapshotCount,
      ...plan.nodeArgs,
    ],
  });
  const workload = new Workload(
    {
      seed: rng.nextU32(),
      tag: `s${spec.seed}`,
      clients: 8,
      pinned: 6,
      slots: spec.nodes,
      keys: 10,
      groups: 2,
      requestTimeoutMs: 1500,
      thinkMs: [10, 70],
      now,
      retryAmbiguous: spec.retries === true,
    },
    cluster,
  );
  const failures: string[] = [];
  let workloadMs = 0;
  let faultFired: boolean | undefined;
  const watches = new WatchRecorder();
  let watchEvents = 0;
  let watchesChecked = false;

  try {
    for (const id of cluster.members()) cluster.start(id);
    const lead = await cluster.waitForLeader(20_000);
    log(`cluster of ${spec.nodes} up, leader ${lead}; fault plan ${JSON.stringify(plan)}`);
    watches.start(cluster.members(), (id) => cluster.httpPort(id));
    const w0 = now();
    workload.start();
    await sleep(1000);
    faultFired = (await injectFault(plan, { cluster, network, log, spareId: spec.nodes + 1 })).fired;
    await sleep(2000);
    // A run checks a history, not a duration: on a busy machine, go on (up to 20 s) until it has
    // MIN_OPS operations.
    const until = now() + 20_000;
    while (workload.history.length < MIN_OPS && now() < until) await sleep(100);
    await workload.stop();
    workloadMs = now() - w0;
    log(`workload stopped: ${workload.history.length} operations`);
    await finalPhase(cluster, workload, network, log, failures, spec.retries === true);
    const before = failures.length;
    watchEvents = await checkWatches(cluster, workload, watches, log, failures);
    watchesChecked = failures.length === before;
  } catch (e) {
    failures.push(`run aborted: ${e instanceof Error ? e.message : String(e)}`);
    await workload.stop().catch(() => {});
    await watches.close();
  } finally {
    await cluster.shutdown().catch(() => cluster.destroy());
  }
  for (const s of cluster.everStarted()) {
    // SIGKILL is the runner's or a crash failpoint's; 0 a clean stop or a removal; 1 (expected) a fail-stop on ENOSPC.
    const own = s.exits.filter(
      (x) => !["signal SIGKILL", "code 0", "signal SIGTERM", "code 1 (expected)"].includes(x),
    );
    if (own.length > 0) failures.push(`node ${s.id} exited on its own: ${own.join(", ")} (see ${s.logPath})`);
  }
  for (const u of workload.stats.unexpected) failures.push(`unexpected answer: ${u}`);

  // The committed log: agreement between nodes, then durability, then the patched history.
  const logs = await Promise.all(cluster.everStarted().map((s) => readNodeLog(s.id, s.dataDir)));
  for (const l of logs) if (l.error !== undefined) failures.push(`node ${l.id}: WAL unreadable: ${l.error}`);
  const merged = mergeCommittedLogs(
    logs,
    (payload) => {
      const cmd = decodeKvCommand(payload);
      return cmd.op === "put" || cmd.op === "delete" ? cmd : undefined;
    },
    { unwrap: decodeIdempotent, window: IDEMPOTENCY_WINDOW },
  );
  for (const d of merged.divergences) failures.push(`committed logs diverge: ${d}`);
  for (const d of merged.duplicateRequests) failures.push(`request applied twice: ${d}`);
  for (const d of merged.undecodable) failures.push(`undecodable committed entry: ${d}`);
  if (merged.gaps.length > 0)
    failures.push(`committed log has gaps no WAL covers: ${merged.gaps.join(", ")}`);
  const history = workload.history;
  const durability = checkAcknowledgedWrites(history, merged.writes);
  for (const op of durability.lostWrites)
    failures.push(
      `lost acknowledged write: ${kvModel.describeOperation(op.input, op.output)} (client ${op.clientId})`,
    );
  for (const [key, n] of durability.lostDeletes) failures.push(`lost ${n} acknowledged delete(s) of ${key}`);
  for (const v of durability.duplicated) failures.push(`value committed twice: ${v}`);
  for (const v of durability.phantoms) {
    const f = workload.failedWrites.find(
      (w) => (w.input.type === "put" || w.input.type === "cas") && w.input.value === v,
    );
    const why = f ? ` (its client was told ${f.detail}: not applied)` : "";
    failures.push(`committed value no recorded write produced: ${v}${why}`);
  }
  for (const [key, n] of durability.phantomDeletes)
    failures.push(`${n} committed delete(s) of ${key} no client sent`);
  const patched = patchKvHistory(history, merged.writes);
  const check = checkOperations(kvModel, patched.history, { timeoutMs: o.checkTimeoutMs ?? 60_000 });
  if (check.outcome !== "ok") failures.push(describeResult(kvModel, check, { timeOrigin: 0 }));
  // Ambiguous transactions settled from the watches, once those are known complete (checked above):
  // one whose values a watch delivered applied; one whose values none did changed nothing and was
  // observed by nobody, so it leaves the history.
  const groupAmbiguousBefore = workload.groupHistory.filter(isGroupAmbiguous).length;
  const groupHistory = watchesChecked
    ? settleTransactions(workload.groupHistory, (k, v) => watches.delivered(k, v))
    : workload.groupHistory;
  const groupAmbiguous = groupHistory.filter(isGroupAmbiguous).length;
  const groupCheck = checkOperations(groupModel, groupHistory, {
    timeoutMs: o.checkTimeoutMs ?? 60_000,
  });
  if (groupCheck.outcome !== "ok") failures.push(describeResult(groupModel, groupCheck, { timeOrigin: 0 }));

  const ok = failures.length === 0;
  const keep = o.keep ?? "failure";
  const kept = keep === "always" || (keep === "failure" && !ok);
  const replay = `node scripts/chaos.mjs --seed ${spec.seed}${spec.retries === true ? " --retries" : ""}`;
  if (kept) {
    writeFileSync(
      join(dir, "history.json"),
      JSON.stringify(
        {
          spec,
          plan,
          history,
          patched: patched.history,
          groupHistory: workload.groupHistory,
          groupSettled: groupHistory,
          failedWrites: workload.failedWrites,
        },
        null,
        1,
      ),
    );
    writeFileSync(join(dir, "committed-log.json"), JSON.stringify(merged, null, 1));
    writeFileSync(
      join(dir, "report.txt"),
      [
        `seed ${spec.seed}: ${spec.fault} on ${spec.nodes} node(s)${spec.retries === true ? ", retrying workload" : ""}`,
        `replay: ${replay}`,
        "",
        ...faultLog,
        "",
        ...failures,
      ].join("\n"),
    );
  } else rmSync(dir, { recursive: true, force: true });
  return {
    spec,
    ok,
    failures,
    ops: history.length + workload.groupHistory.length,
    groupOps: workload.groupHistory.length,
    watchEvents,
    watchResumes: watches.resumes,
    opsPerSec: workloadMs > 0 ? ((history.length + workload.groupHistory.length) * 1000) / workloadMs : 0,
    // Transactions are settled from the watches (above), not by the patch step.
    ambiguousBefore: patched.ambiguousBefore + groupAmbiguousBefore,
    ambiguousAfter: patched.ambiguousAfter + groupAmbiguous,
    ambiguity:
      patched.history.length + workload.groupHistory.length > 0
        ? (patched.ambiguousAfter + groupAmbiguous) / (patched.history.length + workload.groupHistory.length)
        : 0,
    lincheck: check.outcome === "ok" ? groupCheck.outcome : check.outcome,
    faultFired,
    checkMs: check.elapsedMs + groupCheck.elapsedMs,
    retried: workload.stats.retried,
    replays: merged.replays,
    retryExhausted: workload.stats.retryExhausted,
    retriedTxns: workload.stats.retriedTxns,
    faultLog,
    dir: kept ? dir : undefined,
    replay,
    elapsedMs: now(),
  };
}

/**
 * After the fault: everything healed and running, one final acknowledged write (it commits every
 * entry before it; in the retrying mode sent with its key until definite), every key read from
 * every node, and the state digests compared once every node has applied the same index.
 */
async function finalPhase(
  cluster: ChaosCluster,
  workload: Workload,
  network: Network,
  log: (line: string) => void,
  failures: string[],
  retries: boolean,
): Promise<void> {
  network.heal();
  for (const id of cluster.members()) {
    cluster.resume(id);
    if (!cluster.isRunning(id)) {
      cluster.start(id);
      log(`final: restarted node ${id}`);
    }
  }
  let lead = await cluster.waitForLeader(20_000);
  await cluster.syncMembers(lead);
  for (const id of cluster.members()) if (!cluster.isRunning(id)) cluster.start(id);
  lead = await cluster.waitForLeader(20_000);

  const client = workload.extraClient();
  const deadline = performance.now() + 20_000;
  for (let n = 0; ; n++) {
    const input = { type: "put", key: FINAL_KEY, value: `final-${n}` } as const;
    const first = lead;
    const members = cluster.members();
    const r = retries
      ? workload.countRetries(
          await client.executeWithRetries(input, {
            nodeFor: (attempt) => (attempt === 1 ? first : members[attempt % members.length]!),
            key: input.value,
            budgetMs: 10_000,
          }),
        )
      : await client.execute(lead, input);
    workload.record(r);
    if (r.kind === "ok") break;
    if (performance.now() > deadline) throw new Error(`the final write never succeeded (last: ${r.detail})`);
    await sleep(200);
    lead = (await cluster.leader()) ?? lead;
  }
  const commit = (await cluster.status(lead))?.commit ?? 0;
  log(`final write acknowledged by ${lead}; leader commit ${commit}`);

  // Every node applies up to the final write; then every key is read from every node.
  const members = [...cluster.members()];
  const applied = async (): Promise<boolean> => {
    const s = await Promise.all(members.map((id) => cluster.status(id)));
    return s.every((x) => x !== undefined && x.kv.appliedIndex >= commit);
  };
  const until = performance.now() + 20_000;
  while (!(await applied())) {
    if (performance.now() > until) throw new Error(`nodes did not all apply index ${commit} within 20 s`);
    await sleep(100);
  }
  for (const id of members) {
    for (const key of [...workloadKeys(10), FINAL_KEY])
      workload.record(await client.execute(id, { type: "get", key }));
  }

  // Same digest at the same applied index on every node.
  const hashDeadline = performance.now() + 10_000;
  for (;;) {
    const hashes = await Promise.all(members.map((id) => cluster.getJson<StateHash>(id, "/debug/hash")));
    const indexes = new Set(hashes.map((h) => h?.appliedIndex));
    if (hashes.every((h) => h !== undefined) && indexes.size === 1) {
      const digests = new Set(hashes.map((h) => h!.hash));
      if (digests.size !== 1) {
        failures.push(
          `state digests differ at applied index ${hashes[0]!.appliedIndex}: ${members.map((id, i) => `node ${id} ${hashes[i]!.hash.slice(0, 12)}`).join(", ")}`,
        );
      } else
        log(
          `all ${members.length} nodes at applied index ${hashes[0]!.appliedIndex}, digest ${hashes[0]!.hash.slice(0, 12)}`,
        );
      return;
    }
    if (performance.now() > hashDeadline) {
      failures.push(
        `nodes never reached the same applied index: ${JSON.stringify(hashes.map((h) => h?.appliedIndex))}`,
      );
      return;
    }
    await sleep(100);
  }
}

/**
 * After the final phase: the store's revision and its contents at it (a range read on one node),
 * then every watch run up to that revision and checked (watch-check.ts). Returns the events per watch.
 */
async function checkWatches(
  cluster: ChaosCluster,
  workload: Workload,
  watches: WatchRecorder,
  log: (line: string) => void,
  failures: string[],
): Promise<number> {
  const id = cluster.members()[0]!;
  const hash = await cluster.getJson<StateHash & { revision: number }>(id, "/debug/hash");
  if (hash === undefined) throw new Error(`node ${id} did not answer /debug/hash`);
  const kv = new TypedKvClient({ endpoints: [`http://127.0.0.1:${cluster.httpPort(id)}`] });
  const state = new Map<string, string>();
  for await (const page of kv.range({ revision: hash.revision, limit: 10_000 }))
    for (const e of page.kvs) state.set(e.key, e.text);
  await watches.finish(hash.revision);
  const r = watches.check(hash.revision, workload.history, workload.groupHistory, state);
  failures.push(...r.failures);
  log(r.summary);
  return r.events;
}

/** One line per run: seed, fault, ops, ambiguous operations before/after the patch, the verdict. */
export function formatRunLine(r: RunReport): string {
  const pct = (r.ambiguity * 100).toFixed(2);
  return [
    `seed ${String(r.spec.seed).padStart(4)}`,
    `${(r.spec.fault + (r.faultFired === undefined ? "" : r.faultFired ? "" : " (not fired)")).padEnd(21)}`,
    `${r.spec.nodes}n${r.spec.retries === true ? " retry" : ""}`,
    `ops ${String(r.ops).padStart(5)} (${r.opsPerSec.toFixed(0)}/s, ${r.groupOps} txn/range)`,
    `watch ${r.watchEvents} ev ${r.watchResumes} res`,
    `ambiguous ${r.ambiguousBefore}->${r.ambiguousAfter} (${pct}%)`,
    `lincheck ${r.lincheck} ${r.checkMs.toFixed(0)} ms`,
    ...(r.spec.retries === true
      ? [`retried ${r.retried} (${r.retriedTxns} txn, ${r.retryExhausted} ran out) replays ${r.replays}`]
      : []),
    r.ok ? "PASS" : `FAIL (${r.failures.length})`,
    `${(r.elapsedMs / 1000).toFixed(1)} s`,
  ].join("  ");
}

/**
 * {@link formatRunLine}, and for a failed run its failures, where its artifacts are kept and the
 * command that replays it: what a test prints of a run.
 */
export function formatRunReport(r: RunReport): string {
  const line = formatRunLine(r);
  return r.ok ? line : `${line}\n${r.failures.join("\n")}\nartifacts: ${r.dir}\nreplay: ${r.replay}`;
}
