/**
 * Applying committed entries (etcd's applyAll): an incoming snapshot first, then the entries in log
 * order — conf changes to Raft and to the membership, every entry to the state machine — and the
 * outcome returned to the node: which of its requests settled with what, how the membership
 * changed, the index now applied. The node acts on the outcome (settles waiters, updates the
 * transport); nothing here calls back into it.
 */
import type { ApplyEntry, StateMachine } from "@tsraft/raft";
import {
  type ConfChange,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  decodeConfChange,
  decodeConfChangeV2,
  type Entry,
  EntryType,
  newConfState,
  type Snapshot,
} from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import { trace, tracing } from "../trace.js";
import type { RaftNodeError } from "./errors.js";
import type { MemberChange, Membership } from "./membership.js";
import { decodeSnapshotMetadata } from "./metadata.js";
import {
  type ConfChangeContext,
  decodeConfChangeContext,
  decodeProposal,
  type RequestId,
} from "./proposal.js";

/** A Ready's (or a MsgStorageApply's) work for the state machine. */
export interface ApplyTask {
  readonly entries: readonly Entry[];
  /** An incoming snapshot to restore first (it precedes `entries` in the log), and its image. */
  readonly snapshot?: { readonly snap: Snapshot; readonly image: () => AsyncIterable<Uint8Array> };
}

/** What applying a task did. */
export interface ApplyOutcome<R> {
  /** Everything up to here is applied to Raft's configuration, the membership and the state machine. */
  readonly appliedIndex: number;
  /** This node's proposals whose entries applied, with the state machine's results. */
  readonly proposals: readonly { readonly seq: number; readonly result: R }[];
  /**
   * This node's conf changes whose entries applied: `error` set if the change was refused (it
   * applied to Raft as a no-op). They settle once Raft has also advanced past `index`.
   */
  readonly confChanges: readonly {
    readonly seq: number;
    readonly index: number;
    readonly error: RaftNodeError | undefined;
  }[];
  /** The membership changes applied, in log order. */
  readonly memberChanges: readonly MemberChange[];
  /** The snapshot the state machine was restored from, if the task had one. */
  readonly restored: Snapshot | undefined;
}

/** Where the state is: the point a compaction or an image is taken at. */
export interface AppliedPoint {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/** What the applier needs, given once. */
export interface ApplierDeps<R> {
  readonly sm: StateMachine<R>;
  readonly membership: Membership;
  /** Applies a conf change to Raft (RawNode.applyConfChange). */
  readonly applyConfChange: (cc: ConfChange | ConfChangeV2) => ConfState;
  /** Is `id` a request of this node's current run? */
  readonly isOwnRequest: (id: RequestId) => boolean;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
}

/** The state of applying, and the one place that changes it. */
export class Applier<R> {
  /** Invariant: every entry up to here is applied to Raft's configuration and the membership. */
  appliedIndex: number;
  /** The term of the entry at `appliedIndex`. */
  appliedTerm: number;
  /** The ConfState as of `appliedIndex`. */
  confState: ConfState;
  /** Bytes of entry data applied by this run (compaction is also due every `snapshotBytes`). */
  appliedBytes = 0;
  /**
   * Invariant: the state machine holds exactly the entries up to here. Above `appliedIndex` only
   * after a restart, while the log replays entries a durable state machine already has.
   */
  smApplied: number;

  constructor(
    private readonly d: ApplierDeps<R>,
    start: { readonly snapshot: Snapshot | undefined; readonly smApplied: number },
  ) {
    const s = start.snapshot;
    this.appliedIndex = s?.metadata.index ?? 0;
    this.appliedTerm = s?.metadata.term ?? 0;
    this.confState = s?.metadata.confState ?? newConfState();
    this.smApplied = start.smApplied;
  }

  /** The applied point: index, term and ConfState. */
  point(): AppliedPoint {
    return { index: this.appliedIndex, term: this.appliedTerm, confState: this.confState };
  }

  /** Applies `task`; throws what must stop the node (a state machine failure, a gap in the log). */
  async apply(task: ApplyTask): Promise<ApplyOutcome<R>> {
    const proposals: { seq: number; result: R }[] = [];
    const confChanges: { seq: number; index: number; error: RaftNodeError | undefined }[] = [];
    const memberChanges: MemberChange[] = [];
    let restored: Snapshot | undefined;
    if (task.snapshot !== undefined) {
      await this.restore(task.snapshot.snap, task.snapshot.image);
      restored = task.snapshot.snap;
    }
    if (task.entries.length > 0) {
      const first = task.entries[0]!.index;
      if (first > this.appliedIndex + 1) {
        throw new Error(
          `raftnode: unexpected committed entry index ${first} after applied index ${this.appliedIndex}`,
        );
      }
      const fresh = task.entries.slice(this.appliedIndex + 1 - first);
      if (fresh.length > 0) await this.applyEntries(fresh, proposals, confChanges, memberChanges);
    }
    return { appliedIndex: this.appliedIndex, proposals, confChanges, memberChanges, restored };
  }

  /** Restores the state machine and membership from an incoming snapshot (already durable). */
  private async restore(snap: Snapshot, image: () => AsyncIterable<Uint8Array>): Promise<void> {
    const { index, term, confState } = snap.metadata;
    if (index <= this.appliedIndex) {
      throw new Error(
        `raftnode: snapshot at index ${index} is not after the applied index ${this.appliedIndex}`,
      );
    }
    const meta = decodeSnapshotMetadata(snap.data);
    this.d.log.info(
      { index, term, applied: this.appliedIndex },
      "restoring the state machine from a snapshot",
    );
    if (index > this.smApplied) {
      if (tracing) trace("restore", { i: index });
      await this.d.sm.restore(index, image());
      if (tracing) trace("restore.done");
      this.smApplied = index;
    }
    this.d.membership.restore(meta.members, meta.removed);
    this.confState = confState;
    this.appliedIndex = index;
    this.appliedTerm = term;
    this.d.metrics.snapshotsApplied.inc();
    this.d.metrics.appliedIndex.set(index);
  }

  private async applyEntries(
    ents: readonly Entry[],
    proposals: { seq: number; result: R }[],
    confChanges: { seq: number; index: number; error: RaftNodeError | undefined }[],
    memberChanges: MemberChange[],
  ): Promise<void> {
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
            this.d.log.warn({ index: e.index }, "entry without a proposal envelope: applying its data as is");
          } else {
            data = p.payload;
            if (this.d.isOwnRequest(p.id)) seq = p.id.seq;
          }
        }
      } else {
        kind = "conf-change";
        const r = this.applyConfChangeEntry(e, memberChanges);
        if (r !== undefined) confChanges.push({ seq: r.seq, index: e.index, error: r.error });
      }
      if (e.index > this.smApplied) {
        smEntries.push({ index: e.index, term: e.term, kind, data });
        smSeqs.push(seq);
      }
    }
    if (smEntries.length > 0) {
      const t0 = performance.now();
      if (tracing) trace("apply", { i0: smEntries[0]!.index, i1: smEntries[smEntries.length - 1]!.index });
      const results = await this.d.sm.apply(smEntries);
      if (tracing) trace("apply.done");
      this.d.metrics.applyDurationSeconds.observe((performance.now() - t0) / 1000);
      if (results.length !== smEntries.length) {
        throw new Error(
          `raftnode: the state machine returned ${results.length} results for ${smEntries.length} entries`,
        );
      }
      this.smApplied = smEntries[smEntries.length - 1]!.index;
      for (let i = 0; i < smSeqs.length; i++) {
        const seq = smSeqs[i];
        if (seq !== undefined) proposals.push({ seq, result: results[i] as R });
      }
    }
    for (const e of ents) this.appliedBytes += e.data.length;
    const last = ents[ents.length - 1]!;
    this.appliedIndex = last.index;
    this.appliedTerm = last.term;
    this.d.metrics.appliedEntries.inc(ents.length);
    this.d.metrics.appliedIndex.set(this.appliedIndex);
  }

  /**
   * Applies a conf-change entry to Raft and the membership. One that fails validation against the
   * membership is applied to Raft as a no-op (node id 0, as etcd does) and its request rejected.
   */
  private applyConfChangeEntry(
    e: Entry,
    memberChanges: MemberChange[],
  ): { seq: number; error: RaftNodeError | undefined } | undefined {
    const { log, membership } = this.d;
    if (e.type === EntryType.EntryConfChangeV2) {
      // The node never proposes V2 changes; apply one to Raft, but it carries no member URLs.
      this.confState = this.d.applyConfChange(decodeConfChangeV2(e.data));
      log.warn({ index: e.index }, "applied a ConfChangeV2 the node did not propose; membership unchanged");
      return undefined;
    }
    const cc = decodeConfChange(e.data);
    const ctx = decodeConfChangeContext(cc.context);
    const change = memberChange(cc, ctx);
    const error = change === undefined ? undefined : membership.check(change);
    if (change === undefined || error !== undefined) {
      this.confState = this.d.applyConfChange({ ...cc, nodeId: 0 });
      log.warn(
        { index: e.index, type: ConfChangeType[cc.type], member: cc.nodeId, err: error?.message },
        "refused conf change",
      );
    } else {
      this.confState = this.d.applyConfChange(cc);
      membership.apply(change);
      memberChanges.push(change);
      log.info({ index: e.index, change: change.kind, member: change.id }, "applied conf change");
    }
    if (ctx.req === undefined || !this.d.isOwnRequest(ctx.req)) return undefined;
    return { seq: ctx.req.seq, error };
  }
}

/** The member change a ConfChange (V1) entry stands for, or undefined if it is not one of ours. */
export function memberChange(cc: ConfChange, ctx: ConfChangeContext): MemberChange | undefined {
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
