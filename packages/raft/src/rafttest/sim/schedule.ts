/**
 * What a simulation run is made of, as plain serialisable data: the cluster, the options, and the
 * schedule — a list of actions (tick, deliver a message, crash a node, propose, ...). A run is a pure
 * function of its {@link SimCase}: the same case always produces the same transcript.
 *
 * The text form is one action per line (or `; `-separated on one line, after a header line), e.g.
 *
 * ```
 * sim seed=7 nodes=3 voters=1,2,3 learners= election=10 heartbeat=1 msgsize=max applysize=max inflight=4 prevote
 * tick; deliver 0; crash 2 torn=1; propose 1 "x7"; partition 1|2,3; heal; restart 2
 * ```
 *
 * See {@link formatAction} for every action's syntax.
 */
import { NO_LIMIT } from "../../constants.js";

/** A node id: 1..nodes. */
export type NodeId = number;

/** One step of a schedule. Actions naming a node that is down or paused do nothing. */
export type Action =
  /** Advances the logical clock one tick: every running node ticks (at its skewed rate). */
  | { readonly kind: "tick" }
  /** Delivers the `pick`-th oldest deliverable message (0 = oldest: FIFO; more = reordering). */
  | { readonly kind: "deliver"; readonly pick: number }
  /** Loses the `pick`-th oldest deliverable message. */
  | { readonly kind: "drop"; readonly pick: number }
  /** Delivers a copy of the `pick`-th oldest deliverable message and keeps the original in flight. */
  | { readonly kind: "dup"; readonly pick: number }
  /** Delivers every message in flight (oldest first); messages sent meanwhile wait. */
  | { readonly kind: "flush" }
  /** Completes node `node`'s oldest storage write (0: every write of every node). */
  | { readonly kind: "sync"; readonly node: NodeId }
  /** asyncStorageWrites: runs node `node`'s oldest apply (0: all of them); else nothing. */
  | { readonly kind: "apply"; readonly node: NodeId }
  /**
   * Cuts the one-way link from → to: messages on it are lost, or with `hold` wait in flight until
   * the link heals (a long delay: they arrive late, after what was sent since).
   */
  | { readonly kind: "cut"; readonly from: NodeId; readonly to: NodeId; readonly hold?: true }
  /**
   * Cuts every link between nodes of different groups (both ways); nodes in no group stay linked.
   * With `hold`, messages between groups wait instead of being lost.
   */
  | { readonly kind: "partition"; readonly groups: readonly (readonly NodeId[])[]; readonly hold?: true }
  /** Restores every link. */
  | { readonly kind: "heal" }
  /** Crashes a node: it keeps only what it persisted, plus `torn` records of the write in progress. */
  | { readonly kind: "crash"; readonly node: NodeId; readonly torn: number }
  /** Crashes the current leader (see crash); nothing if there is none. */
  | { readonly kind: "crashLeader"; readonly torn: number }
  /**
   * Cuts the current leader off from every other node (both ways; see cut for `hold`), but node
   * `with` if given: a minority that keeps a follower (which then holds entries the others lack).
   */
  | { readonly kind: "isolateLeader"; readonly hold?: true; readonly with?: NodeId }
  /**
   * Partitions a joint configuration (the current leader's) so that one half, `half`, loses its
   * majority while the other keeps one: the voters cut off (both ways) are chosen so. Nothing if
   * the configuration is not joint or no such cut exists.
   */
  | { readonly kind: "splitJoint"; readonly half: "incoming" | "outgoing" }
  /**
   * Delivers again a message delivered before (the `pick`-th most recent one; with `snap`, only
   * MsgSnap count): a duplicate the network kept and delivers late.
   */
  | { readonly kind: "replay"; readonly pick: number; readonly snap: boolean; readonly to?: NodeId }
  /**
   * Makes `node`'s disk slow (its writes wait, whatever `sync` says, until it is normal again, the
   * node stops cleanly, or the liveness phase heals it) or normal again.
   */
  | { readonly kind: "disk"; readonly node: NodeId; readonly slow: boolean }
  /** Restarts a crashed node from its durable state (0: every crashed node). */
  | { readonly kind: "restart"; readonly node: NodeId }
  /** Freezes a node: no ticks, no deliveries to it, no storage work, until resumed. */
  | { readonly kind: "pause"; readonly node: NodeId }
  | { readonly kind: "resume"; readonly node: NodeId }
  /** Sets a node's clock rate: it ticks `rate`/100 times per clock tick (tick-rate skew). */
  | { readonly kind: "skew"; readonly node: NodeId; readonly rate: number }
  /** A client proposes `data` (a state machine command) at `node`. */
  | { readonly kind: "propose"; readonly node: NodeId; readonly data: string }
  /** The current leader proposes a configuration change (skipped if invalid for its configuration). */
  | { readonly kind: "confChange"; readonly change: ConfChangeSpec }
  /** The current leader is asked to hand leadership to `to`. */
  | { readonly kind: "transfer"; readonly to: NodeId }
  /**
   * A client asks `node` for a ReadIndex: a node id, the current leader, or the leader last cut off
   * by `isolate leader` (which may not know it was deposed).
   */
  | { readonly kind: "read"; readonly node: NodeId | "leader" | "isolated" }
  /** `node` snapshots its state machine at its applied index and compacts its log (keeping `keep` entries). */
  | { readonly kind: "snapshot"; readonly node: NodeId | "leader"; readonly keep: number }
  /** `node` campaigns at once (RawNode.campaign). */
  | { readonly kind: "campaign"; readonly node: NodeId };

/** The kinds of {@link Action}. */
export type ActionKind = Action["kind"];

/** A configuration change, resolved against the leader's configuration when it runs. */
export interface ConfChangeSpec {
  /**
   * `simple`: one change at a time (Raft thesis §4.1); `joint`: joint consensus left automatically;
   * `joint-explicit`: joint consensus left by a later `leave`; `leave`: leave the joint configuration.
   */
  readonly mode: "simple" | "joint" | "joint-explicit" | "leave";
  /** The changes, in etcd's test syntax: `v4` (voter), `l5` (learner), `r2` (remove). */
  readonly ops: readonly ConfChangeOp[];
}

/** One membership operation of a {@link ConfChangeSpec}. */
export interface ConfChangeOp {
  readonly op: "v" | "l" | "r";
  readonly node: NodeId;
}

/** The initial membership: nodes 1..nodes, of which `voters` and `learners` are members. */
export interface ClusterSpec {
  readonly nodes: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** The Raft options every node of the run uses. */
export interface SimOptions {
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** ReadOnlyLeaseBased reads (requires checkQuorum). */
  readonly leaseReads: boolean;
  readonly asyncStorageWrites: boolean;
  readonly stepDownOnRemoval: boolean;
  /** Config.maxSizePerMsg (0: one entry per append; NO_LIMIT, written `max`: no limit). */
  readonly maxSizePerMsg: number;
  /** Config.maxCommittedSizePerReady (NO_LIMIT, written `max`: no limit). */
  readonly maxCommittedSizePerReady: number;
  readonly maxInflightMsgs: number;
}

/**
 * Deliberately broken variants of the simulated driver (tests of the checkers that guard what a
 * driver such as RaftNode must do; see test/sim/broken-variants.test.ts): each must make the
 * property suite fail. Bugs of the core are tested by mutating its code instead (`pnpm mutate`).
 */
export type BrokenVariant = "send-before-persist" | "apply-before-commit" | "vote-before-persist";

/** Every {@link BrokenVariant}. */
export const BROKEN_VARIANTS: readonly BrokenVariant[] = [
  "send-before-persist",
  "apply-before-commit",
  "vote-before-persist",
];

/** A complete, replayable description of a run. */
export interface SimCase {
  /** Seeds the nodes' election timeouts (and names the case: `generateCase(seed)` made it). */
  readonly seed: number;
  readonly cluster: ClusterSpec;
  readonly options: SimOptions;
  /** Broken variants to run against (test-only; empty for the real core). */
  readonly broken: readonly BrokenVariant[];
  readonly schedule: readonly Action[];
}

/** The default options: etcd's defaults scaled for simulation (10-tick elections, 1-tick heartbeats). */
export const DEFAULT_SIM_OPTIONS: SimOptions = {
  electionTick: 10,
  heartbeatTick: 1,
  preVote: false,
  checkQuorum: false,
  leaseReads: false,
  asyncStorageWrites: false,
  stepDownOnRemoval: false,
  maxSizePerMsg: NO_LIMIT,
  maxCommittedSizePerReady: NO_LIMIT,
  maxInflightMsgs: 256,
};

// -------------------------------------------------------------------------------------------------
// Text form

/** The text of one action (the inverse of {@link parseAction}). */
export function formatAction(a: Action): string {
  switch (a.kind) {
    case "tick":
    case "flush":
    case "heal":
      return a.kind;
    case "deliver":
    case "drop":
    case "dup":
      return `${a.kind} ${a.pick}`;
    case "sync":
    case "apply":
      return a.node === 0 ? a.kind : `${a.kind} ${a.node}`;
    case "cut":
      return `cut ${a.from}>${a.to}${a.hold === true ? " hold" : ""}`;
    case "partition":
      return `partition ${a.groups.map((g) => g.join(",")).join("|")}${a.hold === true ? " hold" : ""}`;
    case "splitJoint":
      return `split joint ${a.half}`;
    case "replay":
      return `replay ${a.snap ? "snap " : ""}${a.pick}${a.to === undefined ? "" : ` to ${a.to}`}`;
    case "disk":
      return `disk ${a.node} ${a.slow ? "slow" : "ok"}`;
    case "crash":
      return `crash ${a.node} torn=${a.torn}`;
    case "crashLeader":
      return `crash leader torn=${a.torn}`;
    case "isolateLeader":
      return `isolate leader${a.with === undefined ? "" : ` with ${a.with}`}${a.hold === true ? " hold" : ""}`;
    case "restart":
      return a.node === 0 ? "restart all" : `restart ${a.node}`;
    case "pause":
    case "resume":
    case "read":
    case "campaign":
      return `${a.kind} ${a.node}`;
    case "skew":
      return `skew ${a.node} ${a.rate}`;
    case "propose":
      return `propose ${a.node} ${quote(a.data)}`;
    case "confChange":
      return `confchange ${formatConfChange(a.change)}`;
    case "transfer":
      return `transfer ${a.to}`;
    case "snapshot":
      return `snapshot ${a.node} keep=${a.keep}`;
  }
}

/** `v4 r2`, `joint v4 r2`, `joint-explicit l3`, `leave`. */
export function formatConfChange(c: ConfChangeSpec): string {
  const ops = c.ops.map((o) => `${o.op}${o.node}`).join(" ");
  if (c.mode === "leave") return "leave";
  return c.mode === "simple" ? ops : `${c.mode} ${ops}`;
}

/** A JSON string literal, with `'` escaped too so that the text fits in a single-quoted shell word. */
function quote(s: string): string {
  return JSON.stringify(s).replace(/'/g, "\\u0027");
}

/** Thrown for malformed schedule text. */
export class ScheduleSyntaxError extends Error {
  override name = "ScheduleSyntaxError";
}

/** Parses one action (see {@link formatAction}). Throws a ScheduleSyntaxError. */
export function parseAction(text: string): Action {
  const toks = tokenize(text);
  const [cmd, ...args] = toks;
  const fail = (why: string): never => {
    throw new ScheduleSyntaxError(`${why}: ${JSON.stringify(text)}`);
  };
  const arity = (n: number): void => {
    if (args.length !== n) fail(`${cmd} takes ${n} argument(s)`);
  };
  const int = (s: string | undefined): number => {
    if (s === undefined || !/^\d+$/.test(s)) fail(`bad number ${String(s)}`);
    return Number(s);
  };
  const kv = (s: string | undefined, key: string): number => {
    if (s === undefined || !s.startsWith(`${key}=`)) fail(`expected ${key}=N`);
    return int(s!.slice(key.length + 1));
  };
  switch (cmd) {
    case "tick":
    case "flush":
    case "heal":
      arity(0);
      return { kind: cmd };
    case "deliver":
    case "drop":
    case "dup":
      arity(1);
      return { kind: cmd, pick: int(args[0]) };
    case "sync":
    case "apply":
      if (args.length > 1) fail(`${cmd} takes at most one node`);
      return { kind: cmd, node: args.length === 0 ? 0 : int(args[0]) };
    case "cut": {
      const hold = holdFlag(args, 1, fail);
      const m = /^(\d+)>(\d+)$/.exec(args[0]!);
      if (m === null) return fail("expected cut A>B");
      const a: Action = { kind: "cut", from: Number(m[1]), to: Number(m[2]) };
      return hold ? { ...a, hold } : a;
    }
    case "partition": {
      const hold = holdFlag(args, 1, fail);
      const groups = args[0]!.split("|").map((g) =>
        g
          .split(",")
          .filter((x) => x !== "")
          .map(int),
      );
      return hold ? { kind: "partition", groups, hold } : { kind: "partition", groups };
    }
    case "split":
      if (args.length !== 2 || args[0] !== "joint" || (args[1] !== "incoming" && args[1] !== "outgoing")) {
        return fail("expected split joint incoming|outgoing");
      }
      return { kind: "splitJoint", half: args[1] };
    case "replay": {
      const snap = args[0] === "snap";
      const rest = snap ? args.slice(1) : args;
      if (rest.length !== 1 && !(rest.length === 3 && rest[1] === "to"))
        return fail("expected replay [snap] K [to N]");
      const a: Action = { kind: "replay", pick: int(rest[0]), snap };
      return rest.length === 3 ? { ...a, to: int(rest[2]) } : a;
    }
    case "disk":
      if (args.length !== 2 || (args[1] !== "slow" && args[1] !== "ok"))
        return fail("expected disk N slow|ok");
      return { kind: "disk", node: int(args[0]), slow: args[1] === "slow" };
    case "crash":
      arity(2);
      if (args[0] === "leader") return { kind: "crashLeader", torn: kv(args[1], "torn") };
      return { kind: "crash", node: int(args[0]), torn: kv(args[1], "torn") };
    case "isolate": {
      if (args[0] !== "leader") return fail("expected isolate leader [with N] [hold]");
      const n = args[1] === "with" ? 3 : 1;
      const hold = holdFlag(args, n, fail);
      const a: Action = n === 3 ? { kind: "isolateLeader", with: int(args[2]) } : { kind: "isolateLeader" };
      return hold ? { ...a, hold } : a;
    }
    case "restart":
      arity(1);
      return { kind: "restart", node: args[0] === "all" ? 0 : int(args[0]) };
    case "read":
      arity(1);
      return { kind: "read", node: args[0] === "leader" || args[0] === "isolated" ? args[0] : int(args[0]) };
    case "pause":
    case "resume":
    case "campaign":
      arity(1);
      return { kind: cmd, node: int(args[0]) };
    case "skew":
      arity(2);
      return { kind: "skew", node: int(args[0]), rate: int(args[1]) };
    case "propose": {
      arity(2);
      const data = args[1]!;
      return { kind: "propose", node: int(args[0]), data };
    }
    case "confchange":
      return { kind: "confChange", change: parseConfChange(args, fail) };
    case "transfer":
      arity(1);
      return { kind: "transfer", to: int(args[0]) };
    case "snapshot":
      arity(2);
      return {
        kind: "snapshot",
        node: args[0] === "leader" ? "leader" : int(args[0]),
        keep: kv(args[1], "keep"),
      };
    default:
      return fail("unknown action");
  }
}

/** `args` has `n` arguments, then maybe `hold`: returns true for `hold`, undefined without it. */
function holdFlag(args: readonly string[], n: number, fail: (why: string) => never): true | undefined {
  if (args.length === n) return undefined;
  if (args.length === n + 1 && args[n] === "hold") return true;
  return fail(`expected ${n} argument(s), then maybe hold`);
}

function parseConfChange(args: string[], fail: (why: string) => never): ConfChangeSpec {
  if (args.length === 1 && args[0] === "leave") return { mode: "leave", ops: [] };
  let mode: ConfChangeSpec["mode"] = "simple";
  let rest = args;
  if (args[0] === "joint" || args[0] === "joint-explicit") {
    mode = args[0];
    rest = args.slice(1);
  }
  if (rest.length === 0) fail("confchange needs at least one change");
  const ops = rest.map((t): ConfChangeOp => {
    const m = /^([vlr])(\d+)$/.exec(t);
    if (m === null) return fail(`bad change ${t}`);
    return { op: m[1] as ConfChangeOp["op"], node: Number(m[2]) };
  });
  return { mode, ops };
}

/** Splits on spaces; a token starting with `"` is a JSON string literal (decoded). */
function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    if (s[i] === " ") {
      i++;
      continue;
    }
    if (s[i] === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      if (j >= s.length) throw new ScheduleSyntaxError(`unterminated string: ${text}`);
      out.push(JSON.parse(s.slice(i, j + 1)) as string);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] !== " ") j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}

/** The header line of a case: `sim seed=... nodes=... voters=... learners=... <options>`. */
export function formatHeader(c: Omit<SimCase, "schedule">): string {
  const o = c.options;
  const parts = [
    "sim",
    `seed=${c.seed}`,
    `nodes=${c.cluster.nodes}`,
    `voters=${c.cluster.voters.join(",")}`,
    `learners=${c.cluster.learners.join(",")}`,
    `election=${o.electionTick}`,
    `heartbeat=${o.heartbeatTick}`,
    `msgsize=${limit(o.maxSizePerMsg)}`,
    `applysize=${limit(o.maxCommittedSizePerReady)}`,
    `inflight=${o.maxInflightMsgs}`,
  ];
  if (o.preVote) parts.push("prevote");
  if (o.checkQuorum) parts.push("checkquorum");
  if (o.leaseReads) parts.push("lease");
  if (o.asyncStorageWrites) parts.push("async");
  if (o.stepDownOnRemoval) parts.push("stepdown");
  if (c.broken.length > 0) parts.push(`broken=${c.broken.join(",")}`);
  return parts.join(" ");
}

/** A size limit as text: `max` for NO_LIMIT. */
function limit(n: number): string {
  return n >= NO_LIMIT ? "max" : String(n);
}

function parseHeader(line: string): Omit<SimCase, "schedule"> {
  const toks = line.trim().split(/\s+/);
  if (toks[0] !== "sim") throw new ScheduleSyntaxError(`expected a "sim ..." header: ${line}`);
  const kv = new Map<string, string>();
  const flags = new Set<string>();
  for (const t of toks.slice(1)) {
    const eq = t.indexOf("=");
    if (eq < 0) flags.add(t);
    else kv.set(t.slice(0, eq), t.slice(eq + 1));
  }
  const num = (k: string, dflt?: number): number => {
    const v = kv.get(k);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new ScheduleSyntaxError(`header lacks ${k}=`);
    }
    if (v === "max") return NO_LIMIT;
    if (!/^\d+$/.test(v)) throw new ScheduleSyntaxError(`bad ${k}=${v}`);
    return Number(v);
  };
  const ids = (k: string): number[] =>
    (kv.get(k) ?? "")
      .split(",")
      .filter((x) => x !== "")
      .map(Number);
  for (const f of flags) {
    if (!["prevote", "checkquorum", "lease", "async", "stepdown"].includes(f)) {
      throw new ScheduleSyntaxError(`unknown header flag ${f}`);
    }
  }
  const broken = (kv.get("broken") ?? "").split(",").filter((x) => x !== "") as BrokenVariant[];
  for (const b of broken) {
    if (!BROKEN_VARIANTS.includes(b)) throw new ScheduleSyntaxError(`unknown broken variant ${b}`);
  }
  const d = DEFAULT_SIM_OPTIONS;
  return {
    seed: num("seed"),
    cluster: { nodes: num("nodes"), voters: ids("voters"), learners: ids("learners") },
    options: {
      electionTick: num("election", d.electionTick),
      heartbeatTick: num("heartbeat", d.heartbeatTick),
      maxSizePerMsg: num("msgsize", d.maxSizePerMsg),
      maxCommittedSizePerReady: num("applysize", d.maxCommittedSizePerReady),
      maxInflightMsgs: num("inflight", d.maxInflightMsgs),
      preVote: flags.has("prevote"),
      checkQuorum: flags.has("checkquorum"),
      leaseReads: flags.has("lease"),
      asyncStorageWrites: flags.has("async"),
      stepDownOnRemoval: flags.has("stepdown"),
    },
    broken,
  };
}

/** The case as text: the header line, then one action per line. */
export function formatCase(c: SimCase): string {
  return [formatHeader(c), ...c.schedule.map(formatAction)].join("\n");
}

/** The case on one line (header and actions separated by `; `): fits in a shell variable. */
export function formatCaseOneLine(c: SimCase): string {
  return [formatHeader(c), ...c.schedule.map(formatAction)].join("; ");
}

/**
 * Parses {@link formatCase} or {@link formatCaseOneLine} output (lines and `;` both separate
 * actions; blank lines and `#` comments are ignored). Throws a ScheduleSyntaxError.
 */
export function parseCase(text: string): SimCase {
  const items = splitItems(text)
    .map((s) => s.trim())
    .filter((s) => s !== "" && !s.startsWith("#"));
  if (items.length === 0) throw new ScheduleSyntaxError("empty case");
  const head = parseHeader(items[0]!);
  return { ...head, schedule: items.slice(1).map(parseAction) };
}

/** Splits on newlines and on `;` outside string literals. */
function splitItems(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inStr) {
      cur += ch;
      if (ch === "\\") {
        cur += text[i + 1] ?? "";
        i++;
      } else if (ch === '"') inStr = false;
      continue;
    }
    if (ch === '"') inStr = true;
    if (ch === ";" || ch === "\n") {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out;
}
