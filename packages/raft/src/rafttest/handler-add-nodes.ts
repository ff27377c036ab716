import type { Config } from "../config.js";
import { NO_LIMIT } from "../constants.js";
import { RaftError } from "../errors.js";
import { goQuoteString } from "../go-quote.js";
import { RaftPanic } from "../logger.js";
import { type Entry, type HardState, newSnapshot, type Snapshot } from "../raftpb/types.js";
import { RawNode } from "../raw-node.js";
import { ReadOnlyOption } from "../read-only.js";
import { type InitialState, MemoryStorage, type Storage } from "../storage.js";
import type { TestData } from "./datadriven.js";
import { firstAsInt, InteractionError, scanBool, scanInt, scanUint, utf8Bytes } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** A node Config without the fields the env fills in for each node. */
export type RaftConfigTemplate = Omit<Config, "id" | "storage" | "logger">;

/**
 * The harness's config defaults: election after 3 ticks, a heartbeat every tick, and no limits on
 * message size or inflight messages.
 */
export function raftConfigStub(): RaftConfigTemplate {
  return {
    electionTick: 3,
    heartbeatTick: 1,
    maxSizePerMsg: NO_LIMIT,
    maxInflightMsgs: 2 ** 31 - 1,
  };
}

/** The boolean arguments of `add-nodes`, and the Config field each sets. */
const BOOL_FLAGS = {
  "async-storage-writes": "asyncStorageWrites",
  prevote: "preVote",
  checkquorum: "checkQuorum",
  "disable-conf-change-validation": "disableConfChangeValidation",
  "step-down-on-removal": "stepDownOnRemoval",
} as const satisfies Record<string, keyof RaftConfigTemplate>;
type BoolFlag = keyof typeof BOOL_FLAGS;

/**
 * `add-nodes <n> [voters=(1,2,3)] [learners=(4,5)] [index=<i>] [content=<s>] [inflight=<n>]
 * [async-storage-writes=<bool>] [prevote=<bool>] [checkquorum=<bool>]
 * [max-committed-size-per-ready=<n>] [disable-conf-change-validation=<bool>]
 * [read-only=safe|lease-based] [step-down-on-removal=<bool>]`
 *
 * Adds n nodes. With voters, learners, index or content, each starts from a snapshot at that index
 * (term 1) with that configuration and state machine content; otherwise from an empty log.
 */
export function handleAddNodes(env: InteractionEnv, d: TestData): void {
  const n = firstAsInt(d);
  const snap = newSnapshot();
  const cs = snap.metadata.confState;
  const cfg = raftConfigStub();
  for (const arg of d.cmdArgs.slice(1)) {
    const flag = Object.hasOwn(BOOL_FLAGS, arg.key) ? BOOL_FLAGS[arg.key as BoolFlag] : undefined;
    for (let i = 0; i < arg.vals.length; i++) {
      if (flag !== undefined) {
        cfg[flag] = scanBool(d, arg, i);
        continue;
      }
      switch (arg.key) {
        case "voters":
          cs.voters.push(scanUint(d, arg, i));
          break;
        case "learners":
          cs.learners.push(scanUint(d, arg, i));
          break;
        case "inflight":
          cfg.maxInflightMsgs = scanInt(d, arg, i);
          break;
        case "index":
          snap.metadata.index = scanUint(d, arg, i);
          cfg.applied = snap.metadata.index;
          break;
        case "content":
          // etcd scans this into []byte, which datadriven cannot do (a test failure there); we take
          // the value's bytes, which is what it means.
          snap.data = utf8Bytes(arg.vals[i] as string);
          break;
        case "max-committed-size-per-ready":
          cfg.maxCommittedSizePerReady = scanUint(d, arg, i);
          break;
        case "read-only":
          switch (arg.vals[i]) {
            case "safe":
              cfg.readOnlyOption = ReadOnlyOption.ReadOnlySafe;
              break;
            case "lease-based":
              cfg.readOnlyOption = ReadOnlyOption.ReadOnlyLeaseBased;
              break;
            default:
              throw new InteractionError(`invalid read-only option ${goQuoteString(arg.vals[i] as string)}`);
          }
          break;
      }
    }
  }
  addNodes(env, n, cfg, snap);
}

/**
 * The storage handed to a node's RawNode: its MemoryStorage, except that `snapshot()` returns the
 * node's latest state-machine snapshot (the last of its history), as an application would.
 */
export class SnapOverrideStorage implements Storage {
  constructor(
    /** The storage holding the node's log and hard state. */
    readonly memory: MemoryStorage,
    private readonly latestSnapshot: () => Snapshot,
  ) {}
  initialState(): InitialState {
    return this.memory.initialState();
  }
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    return this.memory.entries(lo, hi, maxSize);
  }
  term(i: number): number {
    return this.memory.term(i);
  }
  lastIndex(): number {
    return this.memory.lastIndex();
  }
  firstIndex(): number {
    return this.memory.firstIndex();
  }
  snapshot(): Snapshot {
    return this.latestSnapshot();
  }
  setHardState(st: HardState): void {
    this.memory.setHardState(st);
  }
  applySnapshot(snap: Snapshot): void {
    this.memory.applySnapshot(snap);
  }
  compact(compactIndex: number): void {
    this.memory.compact(compactIndex);
  }
  append(entries: readonly Entry[]): void {
    this.memory.append(entries);
  }
}

/** See {@link InteractionEnv.addNodes}. */
export function addNodes(
  env: InteractionEnv,
  n: number,
  template: RaftConfigTemplate,
  snap?: Snapshot,
): void {
  let initial = snap ?? newSnapshot();
  const bootstrap = !isZeroSnapshot(initial);
  if (bootstrap) {
    // MemoryStorage cannot represent a snapshot at index 1 well; no generality is lost.
    if (initial.metadata.index <= 1)
      throw new InteractionError("index must be specified as > 1 due to bootstrap");
    initial = { ...initial, metadata: { ...initial.metadata, term: 1 } };
  }
  for (let i = 0; i < n; i++) {
    const id = 1 + env.nodes.length;
    const storage = new SnapOverrideStorage(new MemoryStorage(), () => {
      const h = (env.nodes[id - 1] as { history: Snapshot[] }).history;
      return h[h.length - 1] as Snapshot;
    });
    if (bootstrap) {
      storage.applySnapshot(initial);
      const fi = storage.firstIndex();
      // MemoryStorage truncates its log when applying a snapshot; another storage might not.
      const exp = initial.metadata.index + 1;
      if (fi !== exp) throw new InteractionError(`failed to establish first index ${exp}; got ${fi}`);
    }
    const cfg: Config = { ...template, id, storage };
    if (env.options.onConfig !== undefined) {
      env.options.onConfig(cfg);
      // Supporting this would mean translating ids back and forth: not worth it.
      if (cfg.id !== id) throw new InteractionError("OnConfig must not change the ID");
    }
    if (cfg.logger !== undefined) throw new InteractionError("OnConfig must not set Logger");
    cfg.logger = env.output;
    let rawNode: RawNode;
    try {
      rawNode = new RawNode(cfg);
    } catch (e) {
      // A config the core refuses is reported like etcd's NewRawNode error; bugs propagate.
      if (e instanceof RaftPanic || e instanceof RaftError || !(e instanceof Error) || isBug(e)) throw e;
      throw new InteractionError(e.message);
    }
    env.nodes.push({ rawNode, storage, config: cfg, appendWork: [], applyWork: [], history: [initial] });
  }
}

/** True if `s` equals an empty snapshot in every field. */
function isZeroSnapshot(s: Snapshot): boolean {
  const m = s.metadata;
  const cs = m.confState;
  return (
    s.data.length === 0 &&
    m.index === 0 &&
    m.term === 0 &&
    cs.voters.length === 0 &&
    cs.learners.length === 0 &&
    cs.votersOutgoing.length === 0 &&
    cs.learnersNext.length === 0 &&
    !cs.autoLeave
  );
}

function isBug(e: Error): boolean {
  return e instanceof TypeError || e instanceof ReferenceError;
}
