/**
 * The clients of a chaos run: closed-loop workers issuing puts, linearizable gets, deletes and
 * compare-and-swaps over a few keys, with unique values, recording every operation with its
 * invocation and response times into one history for the linearizability checker.
 *
 * How an HTTP outcome becomes history (the answers of README.md, "HTTP API"):
 * - 204 → `ok`; 412 → `mismatch`; GET 200 → the value, GET 404 `KeyNotFound` → absent.
 * - 503 `NoLeader` / `ProposalDropped` / `TooManyRequests` / `Superseded`: the server promises the
 *   write was not applied and never will be, so it is left out of the history. (If it applied anyway, the checker sees a value no
 *   recorded write produced — the promise is tested, not trusted.)
 * - A refused connection: the request never reached a server; left out.
 * - Anything else without a definite answer — 504, a reset, a timeout, and 503 `Stopped` or
 *   `LeaderChanged` (the node stopped, or its leader went, while the request waited; its entry may
 *   already be on its way to commit: chaos seed 40 caught such a write committing) — is ambiguous:
 *   recorded with an unknown outcome, settled later from the committed log.
 * - In the retrying mode (`retryAmbiguous`), every write — a group's transactions too
 *   (group-ops.ts) — carries an Idempotency-Key and an ambiguous one is sent again with the same
 *   key (to any node) until an answer is definite: the history holds one operation per write, from
 *   its first call to its definite answer, and the committed log, deduplicated by key as the state
 *   machine does, must hold every acknowledged write once. Only a write whose retries ran out of
 *   their budget stays ambiguous (counted in `retryExhausted`).
 * - A read without an answer is left out (it changed nothing).
 */
import { Agent } from "node:http";
import { type ClientStep, type ClosedLoop, runClosedLoop } from "@tsraft/testkit";
import { GROUP_UNKNOWN, type GroupInput, type GroupOperation } from "../lincheck/kv-group-model.js";
import {
  type KvInput,
  type KvOperation,
  type KvOutput,
  MISMATCH,
  OK,
  UNKNOWN,
} from "../lincheck/kv-model.js";
import { type Operation, UNKNOWN_RETURN } from "../lincheck/model.js";
import { Rng } from "../random.js";
import { executeGroupOp, type GroupOutcome } from "./group-ops.js";
import { errorCodeOf, httpRequest } from "./http-client.js";

/** Where clients send their requests; the runner's cluster implements it. */
export interface WorkloadTarget {
  /** The node a client pinned to `slot` talks to now (a replaced member's slot moves to its successor). */
  nodeOfSlot(slot: number): number;
  /** The current members, for clients that may use any node. */
  members(): readonly number[];
  /** The HTTP port of node `id`. */
  httpPort(id: number): number;
}

/** What happened to one request, beyond what goes into the history. */
export type OutcomeKind = "ok" | "mismatch" | "value" | "ambiguous" | "failed" | "unexpected";

/**
 * One request's outcome: its history entry (if it belongs in the history), how it ended, and why
 * (`detail`: the HTTP status and error code, or the network error).
 */
export type ClientOutcome = Outcome<KvInput, KvOutput>;

/** 503 codes after which the server guarantees the write was not applied and never will be. */
const NOT_PROPOSED = new Set(["NoLeader", "ProposalDropped", "TooManyRequests", "Superseded"]);

/** The {@link WorkloadStats} counter of each outcome kind but "unexpected" (which lists its details). */
const STAT_OF_KIND = {
  ok: "ok",
  mismatch: "mismatch",
  value: "values",
  ambiguous: "ambiguous",
  failed: "failed",
} as const satisfies Record<Exclude<OutcomeKind, "unexpected">, keyof WorkloadStats>;

/** Counts of outcomes, for the run's report. */
export interface WorkloadStats {
  ok: number;
  mismatch: number;
  values: number;
  ambiguous: number;
  failed: number;
  /** Answers the API does not allow here (e.g. a 500, or a 412 to a plain put): listed in the report. */
  unexpected: string[];
  /** Retrying mode: writes sent more than once, and the attempts they took in all. */
  retried: number;
  retryAttempts: number;
  /** Of the writes retried, the groups' transactions. */
  retriedTxns: number;
  /** Retrying mode: writes left ambiguous because no attempt within the budget was definite. */
  retryExhausted: number;
}

/** How a write is retried: the node of each attempt (from 1), its Idempotency-Key, and for how long. */
export interface RetryPlan {
  readonly nodeFor: (attempt: number) => number;
  readonly key: string;
  readonly budgetMs: number;
}

/** A KV client: one keep-alive connection per node, one request at a time. */
export class KvClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    readonly id: number,
    private readonly target: WorkloadTarget,
    /** The clock all history times come from (ms, monotonic). */
    private readonly now: () => number,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Runs `input` on node `node`; returns the history entry (undefined when the operation surely did
   * not happen, or is a read without an answer) and how it ended.
   */
  async execute(node: number, input: KvInput, idempotencyKey?: string): Promise<ClientOutcome> {
    const r = await this.send(node, input, idempotencyKey);
    return { ...r, input, clientId: this.id };
  }

  /**
   * Runs the write `input` under `plan`: with its idempotency key, sent again (to the node the plan
   * names for each attempt) after every ambiguous outcome, until a definite one or the plan's
   * budget passed ({@link retryUntilDefinite}).
   */
  executeWithRetries(input: KvInput, plan: RetryPlan): Promise<ClientOutcome & { attempts: number }> {
    const attempt = (n: number) => this.execute(plan.nodeFor(n), input, plan.key);
    return retryUntilDefinite(attempt, { now: this.now, budgetMs: plan.budgetMs, unknown: UNKNOWN });
  }

  /** {@link executeWithRetries} for a group's transaction (group-ops.ts). */
  executeGroupWithRetries(input: GroupInput, plan: RetryPlan): Promise<GroupOutcome & { attempts: number }> {
    const attempt = (n: number) => this.executeGroup(plan.nodeFor(n), input, plan.key);
    return retryUntilDefinite(attempt, { now: this.now, budgetMs: plan.budgetMs, unknown: GROUP_UNKNOWN });
  }

  private async send(
    node: number,
    input: KvInput,
    idempotencyKey: string | undefined,
  ): Promise<{ op: KvOperation | undefined; kind: OutcomeKind; detail: string }> {
    const path = `/kv/${encodeURIComponent(input.key)}${input.type === "cas" ? `?prev=${encodeURIComponent(input.prev)}` : ""}`;
    const method = input.type === "get" ? "GET" : input.type === "delete" ? "DELETE" : "PUT";
    const body = input.type === "put" || input.type === "cas" ? input.value : undefined;
    const call = this.now();
    const r = await httpRequest({
      method,
      port: this.target.httpPort(node),
      path,
      ...(body !== undefined ? { body } : {}),
      timeoutMs: this.timeoutMs,
      agent: this.agent,
      ...(idempotencyKey !== undefined ? { headers: { "idempotency-key": idempotencyKey } } : {}),
    });
    const ret = this.now();
    const record = (output: KvOutput, known = true): KvOperation => ({
      clientId: this.id,
      input,
      call,
      return: known ? ret : UNKNOWN_RETURN,
      output,
    });
    if (r.kind === "failure") {
      if (r.refused || input.type === "get") return { op: undefined, kind: "failed", detail: r.error };
      return { op: record(UNKNOWN, false), kind: "ambiguous", detail: r.error };
    }
    const code = r.status >= 400 ? errorCodeOf(r.body) : undefined;
    const detail = `${r.status}${code ? ` ${code}` : ""}`;
    if (input.type === "get") {
      if (r.status === 200) return { op: record({ type: "value", value: r.body }), kind: "value", detail };
      if (r.status === 404 && code === "KeyNotFound")
        return { op: record({ type: "value", value: null }), kind: "value", detail };
      if (r.status === 503 || r.status === 504) return { op: undefined, kind: "failed", detail };
      return { op: undefined, kind: "unexpected", detail: `GET ${input.key}: ${detail} ${r.body}` };
    }
    if (r.status === 204) return { op: record(OK), kind: "ok", detail };
    if (r.status === 412 && input.type === "cas") return { op: record(MISMATCH), kind: "mismatch", detail };
    if (r.status === 503 && code !== undefined && NOT_PROPOSED.has(code))
      return { op: undefined, kind: "failed", detail };
    if (r.status === 503 || r.status === 504)
      return { op: record(UNKNOWN, false), kind: "ambiguous", detail };
    // Not an answer this API gives to a valid request: keep it ambiguous in the history (it may
    // have applied) and report it.
    return {
      op: record(UNKNOWN, false),
      kind: "unexpected",
      detail: `${method} ${input.key}: ${detail} ${r.body}`,
    };
  }

  /** Runs a multi-key operation (group-ops.ts) on node `node`. */
  executeGroup(node: number, input: GroupInput, idempotencyKey?: string): Promise<GroupOutcome> {
    return executeGroupOp(input, {
      port: this.target.httpPort(node),
      agent: this.agent,
      timeoutMs: this.timeoutMs,
      now: this.now,
      clientId: this.id,
      idempotencyKey,
    });
  }

  /** Closes the keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** One request's outcome, single-key (ClientOutcome) or on a group (group-ops.ts's GroupOutcome). */
export interface Outcome<I, Out> {
  readonly op: Operation<I, Out> | undefined;
  readonly kind: OutcomeKind;
  readonly detail: string;
  readonly input: I;
  readonly clientId: number;
}

/**
 * Runs `attempt(1)`, `attempt(2)`... (a write sent again with its Idempotency-Key) until an outcome
 * is definite or `budgetMs` passed. The outcome spans the first call to the last answer; it is
 * ambiguous (output `unknown`, with the last attempt's detail) only if no attempt was definite, and
 * "failed" (not applied) only if no attempt was ambiguous before.
 */
export async function retryUntilDefinite<I, Out>(
  attempt: (n: number) => Promise<Outcome<I, Out>>,
  o: { now: () => number; budgetMs: number; unknown: Out },
): Promise<Outcome<I, Out> & { attempts: number }> {
  const call = o.now();
  let maybeApplied = false;
  for (let n = 1; ; n++) {
    const r = await attempt(n);
    if (r.kind === "ok" || r.kind === "mismatch") return { ...r, op: { ...r.op!, call }, attempts: n };
    if (r.kind === "unexpected") return { ...r, attempts: n };
    maybeApplied ||= r.kind === "ambiguous";
    if (r.kind === "failed" && !maybeApplied) return { ...r, attempts: n };
    if (o.now() - call > o.budgetMs) {
      const { input, clientId } = r;
      const op = { clientId, input, call, return: UNKNOWN_RETURN, output: o.unknown };
      return {
        op,
        kind: "ambiguous",
        detail: `${r.detail} after ${n} attempts`,
        input,
        clientId,
        attempts: n,
      };
    }
    await sleep(50);
  }
}

/** Options of {@link Workload}. */
export interface WorkloadOptions {
  readonly seed: number;
  /** Prefix making this run's values unique (e.g. the seed). */
  readonly tag: string;
  /** Number of clients; the first `pinned` stick to a node (slot = index mod `slots`), the rest use any. */
  readonly clients: number;
  readonly pinned: number;
  readonly slots: number;
  readonly keys: number;
  /** Groups of two keys for transactions and ranges (group-ops.ts; default 0: none). */
  readonly groups?: number;
  readonly requestTimeoutMs: number;
  /** Pause between a client's operations, uniform in [min, max] ms (sets the offered load). */
  readonly thinkMs: readonly [number, number];
  readonly now: () => number;
  /**
   * Give every write an Idempotency-Key and send an ambiguous one again with it until its answer is
   * definite (for at most `retryBudgetMs`, default 15 s).
   */
  readonly retryAmbiguous?: boolean;
  readonly retryBudgetMs?: number;
}

/** The keys a run uses: `k0` .. `k<n-1>`. */
export function workloadKeys(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `k${i}`);
}

/** The running clients of one run. */
export class Workload {
  readonly history: KvOperation[] = [];
  /** The multi-key operations, checked on their own (lincheck/kv-group-model.ts). */
  readonly groupHistory: GroupOperation[] = [];
  /** Writes left out of the history as surely not applied, with the answer that said so. */
  readonly failedWrites: { clientId: number; input: KvInput; detail: string }[] = [];
  readonly stats: WorkloadStats = {
    ok: 0,
    mismatch: 0,
    values: 0,
    ambiguous: 0,
    failed: 0,
    unexpected: [],
    retried: 0,
    retryAttempts: 0,
    retriedTxns: 0,
    retryExhausted: 0,
  };
  private loop: ClosedLoop | undefined;
  private readonly clients: KvClient[] = [];

  constructor(
    private readonly o: WorkloadOptions,
    private readonly target: WorkloadTarget,
  ) {}

  /** Records an outcome in the history and the counters (also for the runner's own final operations). */
  record(result: ClientOutcome): void {
    if (result.op) this.history.push(result.op);
    if (result.kind === "failed" && result.input.type !== "get")
      this.failedWrites.push({ clientId: result.clientId, input: result.input, detail: result.detail });
    this.count(result.kind, result.detail);
  }

  /** Records a multi-key operation's outcome. */
  recordGroup(result: GroupOutcome): void {
    if (result.op) this.groupHistory.push(result.op);
    this.count(result.kind, result.detail);
  }

  private count(kind: OutcomeKind, detail: string): void {
    if (kind === "unexpected") this.stats.unexpected.push(detail);
    else this.stats[STAT_OF_KIND[kind]]++;
  }

  /** A client for the runner's own operations (its id follows the workload's). */
  extraClient(): KvClient {
    const c = new KvClient(
      this.o.clients + this.clients.length,
      this.target,
      this.o.now,
      this.o.requestTimeoutMs,
    );
    this.clients.push(c);
    return c;
  }

  /** Starts every client loop (the test kit's closed loop: one operation at a time per client). */
  start(): void {
    const root = new Rng(this.o.seed);
    const keys = workloadKeys(this.o.keys);
    this.loop = runClosedLoop({
      clients: this.o.clients,
      client: (c) => {
        const client = new KvClient(c, this.target, this.o.now, this.o.requestTimeoutMs);
        this.clients.push(client);
        return this.clientStep(client, c < this.o.pinned ? c % this.o.slots : undefined, root.fork(), keys);
      },
    });
  }

  /**
   * Client `client`'s operations: each picks a node and an operation, runs it, records it and
   * resolves with the pause before the next one (a short back-off after an outcome that was not
   * definite, the think time otherwise).
   */
  private clientStep(client: KvClient, slot: number | undefined, rng: Rng, keys: string[]): ClientStep {
    /** The last value this client saw per key: the usual `prev` of its compare-and-swaps. */
    const seen = new Map<string, string>();
    let node: number | undefined;
    const backOff = (): number => rng.int(20, 80);
    const think = (): number => rng.int(this.o.thinkMs[0], this.o.thinkMs[1]);
    return async (seq) => {
      if (slot !== undefined) node = this.target.nodeOfSlot(slot);
      else if (node === undefined || !this.target.members().includes(node))
        node = rng.pick(this.target.members());
      const key = rng.pick(keys);
      const value = `${this.o.tag}-c${client.id}-${seq}`;
      if ((this.o.groups ?? 0) > 0 && rng.float() < 0.2) {
        // A multi-key operation: a transaction on a group's two keys, or a range over them.
        const group = `g${rng.int(0, this.o.groups! - 1)}`;
        const input: GroupInput =
          rng.float() < 0.6
            ? { type: "txn", group, prev: seen.get(`${group}/a`) ?? null, value }
            : { type: "range", group };
        const result =
          this.o.retryAmbiguous === true && input.type === "txn"
            ? this.countRetries(await client.executeGroupWithRetries(input, this.retryPlan(node, rng, value)))
            : await client.executeGroup(node, input);
        this.recordGroup(result);
        const out = result.op?.output;
        if (out?.type === "succeeded" && input.type === "txn") seen.set(`${group}/a`, `${value}-a`);
        if ((out?.type === "failed" || out?.type === "range") && out.a !== null)
          seen.set(`${group}/a`, out.a);
        if (slot === undefined && (result.kind === "failed" || result.kind === "ambiguous")) node = undefined;
        return result.kind === "ok" || result.kind === "mismatch" || result.kind === "value"
          ? think()
          : backOff();
      }
      const p = rng.float();
      let input: KvInput;
      if (p < 0.45) input = { type: "get", key };
      else if (p < 0.75) input = { type: "put", key, value };
      else if (p < 0.9) input = { type: "cas", key, prev: seen.get(key) ?? `${this.o.tag}-none`, value };
      else input = { type: "delete", key };
      let result: ClientOutcome;
      if (this.o.retryAmbiguous === true && input.type !== "get") {
        result = this.countRetries(await client.executeWithRetries(input, this.retryPlan(node, rng, value)));
      } else result = await client.execute(node, input);
      this.record(result);
      const out = result.op?.output;
      if (out?.type === "value" && out.value !== null) seen.set(key, out.value);
      if (out?.type === "ok" && (input.type === "put" || input.type === "cas")) seen.set(key, input.value);
      if (result.kind === "failed" || result.kind === "ambiguous" || result.kind === "unexpected") {
        // Back off a little, and let a roaming client try another node.
        if (slot === undefined) node = undefined;
        return backOff();
      }
      return think();
    };
  }

  /**
   * The plan of a retried write keyed `key`: its first attempt goes to `first`, the next ones to any
   * member (`first` may be the one down or cut off), within `retryBudgetMs`.
   */
  private retryPlan(first: number, rng: Rng, key: string): RetryPlan {
    return {
      nodeFor: (attempt) => (attempt === 1 ? first : rng.pick(this.target.members())),
      key,
      budgetMs: this.o.retryBudgetMs ?? 15_000,
    };
  }

  /** Counts a retrying write's attempts (and whether it ran out of budget) in the stats; returns it. */
  countRetries<O extends { kind: OutcomeKind; attempts: number; input: { type: string } }>(r: O): O {
    if (r.attempts > 1) {
      this.stats.retried++;
      this.stats.retryAttempts += r.attempts;
      if (r.input.type === "txn") this.stats.retriedTxns++;
    }
    if (r.kind === "ambiguous") this.stats.retryExhausted++;
    return r;
  }

  /** Stops the loops and waits for every client's last request to finish. */
  async stop(): Promise<void> {
    await this.loop?.stop();
    for (const c of this.clients) c.close();
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
