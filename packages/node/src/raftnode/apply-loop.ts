/**
 * The apply loop (etcd's applyAll, run apart from the Ready loop as etcd's applyc goroutine is):
 * takes committed entries and incoming snapshots in log order, applies conf changes to Raft and to
 * the membership, hands the application's entries to the state machine, settles the waiting
 * requests, and takes a snapshot (then compacts MemoryStorage and the WAL) every `snapshotCount`
 * applied entries.
 */
import { ErrCompacted, ErrSnapOutOfDate, isRaftError, type MemoryStorage, type RawNode } from "@tsraft/raft";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
  isEmptySnap,
  type Message,
  newConfState,
  type Snapshot,
} from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import type { Snapshotter } from "../snap/snapshotter.js";
import type { ApplyEntry, StateMachine } from "../state-machine.js";
import { trace, tracing } from "../trace.js";
import type { WAL } from "../wal/wal.js";
import {
  type ConfChangeContext,
  decodeConfChangeContext,
  decodeProposal,
  decodeSnapshotData,
  encodeSnapshotData,
  type RequestId,
} from "./envelope.js";
import type { RaftNodeError } from "./errors.js";
import type { MemberChange, Membership } from "./membership.js";
import type { ResolvedNodeOptions } from "./options.js";
import { BoundedQueue, type Deferred } from "./sync.js";

/** One unit of work for the apply loop: a Ready's (or a MsgStorageApply's) committed entries. */
export interface ApplyJob {
  readonly entries: readonly Entry[];
  /** An incoming snapshot to restore first (it precedes `entries` in the log). */
  readonly snapshot: Snapshot | undefined;
  /** Resolves once the Ready's writes are durable and in MemoryStorage (etcd's notifyc). */
  readonly persisted: Promise<void>;
  /** Resolves once the Ready was advanced (etcd's raftAdvancedC); conf-change requests wait for it. */
  readonly advanced: Promise<void>;
  /** Resolved by the apply loop once `entries` are applied. */
  readonly applied: Deferred<void>;
  /** asyncStorageWrites: the MsgStorageApplyResp to step back once applied. */
  readonly responses: readonly Message[];
}

/** What the apply loop needs from its node. */
export interface ApplyHost {
  readonly o: ResolvedNodeOptions;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  readonly rawNode: RawNode;
  readonly storage: MemoryStorage;
  readonly wal: WAL;
  readonly snapshotter: Snapshotter;
  readonly sm: StateMachine;
  readonly membership: Membership;
  /** Is `id` a request of this node's current run? */
  isOwnRequest(id: RequestId): boolean;
  /** Settles a waiting proposal or conf change. */
  settle(seq: number, result: SettleResult): void;
  /** Membership changed at apply: update the transport's peers. */
  onMemberChange(c: MemberChange): void;
  /** A snapshot replaced the membership: reset the transport's peers. */
  onMembershipRestored(): void;
  /** The applied index moved (reads waiting for it may proceed). */
  onApplied(index: number): void;
  /** Steps a local message (asyncStorageWrites responses) and wakes the Ready loop. */
  stepLocal(m: Message): void;
  /** MsgSnap sends in flight: compaction waits while there are any (etcd). */
  inflightSnapshots(): number;
  /** Rejects with StoppedError once the node stops. */
  untilStopped<T>(p: Promise<T>): Promise<T>;
}

/** How a request ends: with the state machine's result, or an error. */
export type SettleResult = { value: unknown } | { error: RaftNodeError };

/** A request to settle once its entry is applied. */
interface Settle {
  readonly seq: number;
  /** A conf change (settles after the Ready is advanced) rather than a proposal. */
  readonly conf: boolean;
  readonly result: SettleResult;
}

/** How many jobs may wait between the Ready loop and the apply loop. */
const APPLY_QUEUE_CAPACITY = 64;

/** The apply loop. `run` until the queue closes. */
export class Applier {
  readonly queue = new BoundedQueue<ApplyJob>(APPLY_QUEUE_CAPACITY);
  /** Invariant: every entry up to here is applied to Raft's configuration and the membership. */
  appliedIndex: number;
  /** Invariant: the state machine holds exactly the entries up to here (≥ appliedIndex after a restart). */
  smApplied: number;
  /** The index of the last snapshot saved or restored. */
  snapshotIndex: number;
  /** The ConfState as of appliedIndex. */
  confState: ConfState;

  constructor(
    private readonly h: ApplyHost,
    start: { snapshot: Snapshot | undefined; smApplied: number },
  ) {
    const s = start.snapshot;
    this.appliedIndex = s?.metadata.index ?? 0;
    this.snapshotIndex = this.appliedIndex;
    this.confState = s?.metadata.confState ?? newConfState();
    this.smApplied = start.smApplied;
  }

  /** Processes jobs in order until the queue is closed. Throws what must stop the node. */
  async run(): Promise<void> {
    for (;;) {
      const job = await this.h.untilStopped(this.queue.shift());
      if (job === undefined) return;
      await this.process(job);
    }
  }

  private async process(job: ApplyJob): Promise<void> {
    const h = this.h;
    if (job.snapshot !== undefined && !isEmptySnap(job.snapshot)) {
      await h.untilStopped(job.persisted); // etcd: the snapshot must be on disk before it is applied
      await this.applySnapshot(job.snapshot);
    }
    const settles: Settle[] = [];
    if (job.entries.length > 0) {
      const first = job.entries[0]!.index;
      if (first > this.appliedIndex + 1) {
        throw new Error(
          `raftnode: unexpected committed entry index ${first} after applied index ${this.appliedIndex}`,
        );
      }
      const fresh = job.entries.slice(this.appliedIndex + 1 - first);
      if (fresh.length > 0) await this.applyEntries(fresh, settles);
    }
    job.applied.resolve();
    for (const m of job.responses) h.stepLocal(m);
    h.onApplied(this.appliedIndex);
    for (const s of settles) if (!s.conf) h.settle(s.seq, s.result);
    if (tracing && settles.length > 0) trace("settled", { n: settles.length });
    // Conf-change requests settle once Raft has also advanced past the entry, so that a caller's
    // next conf change is not refused as "pending" (etcd's raftAdvancedC).
    const conf = settles.filter((s) => s.conf);
    if (conf.length > 0) {
      void job.advanced.then(() => {
        for (const s of conf) h.settle(s.seq, s.result);
      });
    }
    // etcd: wait for the Ready's disk writes before a snapshot, so that the applied index is never
    // past the last index in MemoryStorage.
    await h.untilStopped(job.persisted);
    await this.maybeSnapshot();
  }

  /** Applies entries after `appliedIndex`: conf changes first to Raft, then the batch to the state machine. */
  private async applyEntries(ents: readonly Entry[], settles: Settle[]): Promise<void> {
    const h = this.h;
    const smEntries: ApplyEntry[] = [];
    const smSeqs: (number | undefined)[] = [];
    for (const e of ents) {
      let kind: ApplyEntry["kind"];
      let data = e.data;
      let seq: number | undefined;
      if (e.type === EntryType.EntryNormal) {
        if (e.data.length === 0) {
          kind = "empty";
        } else {
          kind = "normal";
          const p = decodeProposal(e.data);
          if (p === undefined) {
            h.log.warn({ index: e.index }, "entry without a proposal envelope: applying its data as is");
          } else {
            data = p.payload;
            if (h.isOwnRequest(p.id)) seq = p.id.seq;
          }
        }
      } else {
        kind = "conf-change";
        const r = this.applyConfChangeEntry(e);
        if (r !== undefined) {
          settles.push({
            seq: r.seq,
            conf: true,
            result: r.error ? { error: r.error } : { value: undefined },
          });
        }
      }
      if (e.index > this.smApplied) {
        smEntries.push({ index: e.index, term: e.term, kind, data });
        smSeqs.push(seq);
      }
    }
    if (smEntries.length > 0) {
      const t0 = performance.now();
      if (tracing) trace("apply", { i0: smEntries[0]!.index, i1: smEntries[smEntries.length - 1]!.index });
      const results = await h.sm.apply(smEntries);
      if (tracing) trace("apply.done");
      h.metrics.applyDurationSeconds.observe((performance.now() - t0) / 1000);
      this.smApplied = smEntries[smEntries.length - 1]!.index;
      for (let i = 0; i < smSeqs.length; i++) {
        const seq = smSeqs[i];
        if (seq !== undefined) settles.push({ seq, conf: false, result: { value: results[i] } });
      }
    }
    this.appliedIndex = ents[ents.length - 1]!.index;
    h.metrics.appliedEntries.inc(ents.length);
    h.metrics.appliedIndex.set(this.appliedIndex);
  }

  /**
   * Applies a conf-change entry to Raft and the membership. One that fails validation against the
   * membership is applied to Raft as a no-op (node id 0, as etcd does) and its request rejected.
   */
  private applyConfChangeEntry(e: Entry): { seq: number; error: RaftNodeError | undefined } | undefined {
    const h = this.h;
    if (e.type === EntryType.EntryConfChangeV2) {
      // The node never proposes V2 changes; apply one to Raft, but it carries no member URLs.
      const cc = decodeConfChangeV2(e.data);
      this.confState = h.rawNode.applyConfChange(cc);
      h.log.warn({ index: e.index }, "applied a ConfChangeV2 the node did not propose; membership unchanged");
      return undefined;
    }
    const cc = decodeConfChange(e.data);
    const ctx = decodeConfChangeContext(cc.context);
    const change = memberChange(cc, ctx);
    const error = change === undefined ? undefined : h.membership.check(change);
    if (change === undefined || error !== undefined) {
      this.confState = h.rawNode.applyConfChange({ ...cc, nodeId: 0 });
      h.log.warn(
        {
          index: e.index,
          type: ConfChangeType[cc.type],
          member: cc.nodeId.toString(16),
          err: error?.message,
        },
        "refused conf change",
      );
    } else {
      this.confState = h.rawNode.applyConfChange(cc);
      h.membership.apply(change);
      h.log.info(
        { index: e.index, change: change.kind, member: change.id.toString(16) },
        "applied conf change",
      );
      h.onMemberChange(change);
    }
    if (ctx.req === undefined || !h.isOwnRequest(ctx.req)) return undefined;
    return { seq: ctx.req.seq, error };
  }

  /** Restores the state machine and membership from an incoming snapshot (already durable). */
  private async applySnapshot(snap: Snapshot): Promise<void> {
    const h = this.h;
    const index = snap.metadata.index;
    if (index <= this.appliedIndex) {
      throw new Error(
        `raftnode: snapshot at index ${index} is not after the applied index ${this.appliedIndex}`,
      );
    }
    const d = decodeSnapshotData(snap.data);
    h.log.info({ index, term: snap.metadata.term, applied: this.appliedIndex }, "applying incoming snapshot");
    if (index > this.smApplied) {
      await h.sm.restore(d.app, index);
      this.smApplied = index;
    }
    h.membership.restore(d.members, d.removed);
    h.onMembershipRestored();
    this.confState = snap.metadata.confState;
    this.appliedIndex = index;
    this.snapshotIndex = index;
    h.metrics.snapshotsApplied.inc();
    h.metrics.appliedIndex.set(index);
  }

  /** etcd's snapshotIfNeededAndCompactRaftLog. */
  private async maybeSnapshot(): Promise<void> {
    const h = this.h;
    const applied = this.appliedIndex;
    if (applied - this.snapshotIndex <= h.o.snapshotCount) return;
    // Replaying after a restart, the state machine may be ahead of the applied index: its snapshot
    // would not describe the state at `applied`. Wait until the replay has caught up.
    if (this.smApplied > applied) return;
    h.log.info({ applied, lastSnapshot: this.snapshotIndex }, "triggering snapshot");
    if (tracing) trace("snap", { i: applied });
    const app = await h.sm.snapshot();
    if (tracing) trace("snap.sm", { bytes: app.length });
    const data = encodeSnapshotData({ members: h.membership.list(), removed: h.membership.removed() }, app);
    let snap: Snapshot;
    try {
      snap = h.storage.createSnapshot(applied, this.confState, data);
    } catch (e) {
      // Raft may already hold a newer snapshot (one received from the leader).
      if (e === ErrSnapOutOfDate) return;
      throw e;
    }
    await h.snapshotter.save(snap);
    if (tracing) trace("snap.file");
    await h.wal.saveSnapshot({ index: applied, term: snap.metadata.term, confState: this.confState });
    this.snapshotIndex = applied;
    await h.wal.releaseLockTo(applied);
    await h.snapshotter.releaseSnapshots(h.o.maxSnapshotFiles);
    if (tracing) trace("snap.done");
    h.log.info({ index: applied, bytes: data.length }, "saved snapshot");
    this.compact(applied);
  }

  /** Drops the entries more than snapshotCatchUpEntries behind `snapi` from MemoryStorage. */
  private compact(snapi: number): void {
    const h = this.h;
    // etcd: a follower receiving a snapshot needs the entries right after it; compacting while a
    // snapshot is in flight could send it into another snapshot cycle.
    if (h.inflightSnapshots() > 0) {
      h.log.info("skip compaction: a snapshot is being sent");
      return;
    }
    const catchUp = h.o.snapshotCatchUpEntries;
    const compactIndex = snapi > catchUp ? snapi - catchUp : 1;
    try {
      h.storage.compact(compactIndex);
      h.log.info({ index: compactIndex }, "compacted raft log");
    } catch (e) {
      if (e !== ErrCompacted && !isRaftError(e, "Compacted")) throw e;
    }
  }
}

/** The member change a ConfChange (V1) entry stands for, or undefined if it is not one of ours. */
function memberChange(cc: ConfChange, ctx: ConfChangeContext): MemberChange | undefined {
  switch (cc.type) {
    case ConfChangeType.ConfChangeAddNode:
      if (ctx.promote === true) return { kind: "promote", id: cc.nodeId };
      return ctx.url === undefined ? undefined : { kind: "add", id: cc.nodeId, url: ctx.url, learner: false };
    case ConfChangeType.ConfChangeAddLearnerNode:
      return ctx.url === undefined ? undefined : { kind: "add", id: cc.nodeId, url: ctx.url, learner: true };
    case ConfChangeType.ConfChangeRemoveNode:
      return { kind: "remove", id: cc.nodeId };
    default:
      return undefined;
  }
}
