/**
 * This node's requests that go through the log: proposals and conf changes. Each gets a request id
 * (node id, boot nonce, sequence number) that travels in its entry (proposal.ts), and a waiter
 * (requests.ts) that the apply loop's outcome settles (etcd's wait.Wait + the request id in its
 * InternalRaftRequest header).
 */
import { isRaftError, RaftPanic, type RawNode, StateType } from "@tsraft/raft";
import { ConfChangeType } from "@tsraft/raft/raftpb";
import type { Logger } from "pino";
import type { NodeMetrics } from "../metrics.js";
import { trace, tracing } from "../trace.js";
import type { ApplyOutcome } from "./applier.js";
import { droppedError, isRaftNodeError, noLeaderError, RaftNodeError } from "./errors.js";
import type { MemberChange, Membership } from "./membership.js";
import { encodeConfChangeContext, encodeProposal, type RequestId } from "./proposal.js";
import { guard, type Handoff, PendingRequests, type RequestOptions } from "./requests.js";

/** What the proposer needs, given once. */
export interface ProposerDeps {
  readonly id: number;
  readonly rawNode: RawNode;
  readonly membership: Membership;
  readonly log: Logger;
  readonly metrics: NodeMetrics;
  readonly requestTimeoutMs: number;
  readonly maxRequestBytes: number;
  readonly maxPendingProposals: number;
  /** The leader this node knows (0: none): a drop with none is NoLeader. */
  readonly leader: () => number;
  /** Calls `fn` once the core has applied (handed out and advanced past) `index`. */
  readonly onRaftApplied: (index: number, fn: () => void) => void;
  /** The core took a step: wake the Ready loop. */
  readonly stepped: () => void;
  /** The core panicked or failed unexpectedly: stop the node. */
  readonly fatal: (err: unknown, where: string) => void;
}

export class Proposer<R> {
  /** Boot nonce: this run's part of every request id. */
  readonly nonce: number;
  private readonly proposals: PendingRequests<R>;
  private readonly confChanges: PendingRequests<undefined>;
  /** The last sequence number handed out. */
  private seq = 0;
  /** Conf changes from this node go one at a time (see {@link confChange}). */
  private confQueue: Promise<void> = Promise.resolve();

  constructor(
    private readonly d: ProposerDeps,
    nonce: number,
  ) {
    this.nonce = nonce;
    const onPending = (): void => d.metrics.proposalsPending.set(this.pending());
    this.proposals = new PendingRequests<R>(onPending);
    this.confChanges = new PendingRequests<undefined>(onPending);
  }

  /** Is `id` a request of this node's current run? */
  isOwn(id: RequestId): boolean {
    return id.node === this.d.id && id.nonce === this.nonce;
  }

  /** See RaftNode.propose. */
  async propose(data: Uint8Array, opts: RequestOptions): Promise<R> {
    const d = this.d;
    if (data.length > d.maxRequestBytes) {
      throw new RaftNodeError(
        "RequestTooLarge",
        `raftnode: proposal of ${data.length} bytes exceeds maxRequestBytes (${d.maxRequestBytes})`,
      );
    }
    const seq = this.reserve();
    if (tracing) trace("propose", { seq });
    const env = encodeProposal({ node: d.id, nonce: this.nonce, seq }, data);
    const t0 = performance.now();
    const p = this.proposals.add(
      seq,
      "proposal",
      opts.timeoutMs ?? d.requestTimeoutMs,
      opts.signal,
      this.handoff(),
    );
    this.submit(seq, "proposal", () => d.rawNode.propose(env));
    try {
      const v = await p;
      d.metrics.proposalDurationSeconds.observe((performance.now() - t0) / 1000);
      return v;
    } catch (e) {
      if (isRaftNodeError(e, "Timeout")) d.metrics.proposals.inc({ result: "timeout" });
      throw e;
    }
  }

  /**
   * Proposes a membership change. They go one at a time: Raft refuses a second one while the first
   * is pending (it would silently become an empty entry and its caller time out), and each is
   * validated against the membership its predecessor left.
   */
  confChange(c: MemberChange, opts: RequestOptions): Promise<void> {
    const run = this.confQueue.then(() => this.proposeConfChange(c, opts));
    this.confQueue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * Settles the requests an apply outcome answers: proposals at once; conf changes through
   * `afterAdvance`, once Raft has also advanced past their entry (so that a caller's next conf
   * change is not refused as pending: etcd's raftAdvancedC).
   */
  settle(out: ApplyOutcome<R>, afterAdvance: (index: number, fn: () => void) => void): void {
    let committed = 0;
    for (const p of out.proposals) {
      if (this.proposals.resolve(p.seq, p.result)) committed++;
    }
    // Once per batch: a labelled counter hashes its labels on every call.
    if (committed > 0) this.d.metrics.proposals.inc({ result: "committed" }, committed);
    for (const c of out.confChanges) {
      this.confChanges.applied(c.seq);
      afterAdvance(c.index, () => {
        if (c.error === undefined) this.confChanges.resolve(c.seq, undefined);
        else this.confChanges.reject(c.seq, c.error);
      });
    }
  }

  /**
   * The leader changed to `lead` (0: none known) at `term`: requests handed to the leader that is
   * gone end promptly rather than at their timeout (requests.ts; docs/architecture.md, "When the
   * leader goes").
   */
  onLeaderChange(lead: number, term: number): void {
    this.proposals.onLeaderChange(lead, term);
    this.confChanges.onLeaderChange(lead, term);
  }

  /** An entry of `term` (a later one than before) applied: requests whose fate it settles end. */
  onAppliedTerm(term: number): void {
    this.proposals.onAppliedTerm(term);
    this.confChanges.onAppliedTerm(term);
  }

  /** Rejects every waiting request with `err` (the node stops). */
  rejectAll(err: unknown): void {
    this.proposals.rejectAll(err);
    this.confChanges.rejectAll(err);
  }

  private pending(): number {
    return this.proposals.size + this.confChanges.size;
  }

  /** Where a request stepped into the core now goes: the leader and term, and whether that is us. */
  private handoff(): Handoff {
    const bs = this.d.rawNode.basicStatus();
    return { lead: bs.lead, term: bs.term, local: bs.raftState === StateType.StateLeader };
  }

  /** Takes a request sequence number, refusing beyond maxPendingProposals. */
  private reserve(): number {
    const pending = this.pending();
    if (pending >= this.d.maxPendingProposals) {
      this.d.metrics.proposals.inc({ result: "dropped" });
      throw new RaftNodeError("TooManyRequests", `raftnode: ${pending} proposals already pending`);
    }
    return ++this.seq;
  }

  /** Steps a proposal into the core; a drop rejects request `seq` at once (NoLeader or ProposalDropped). */
  private submit(seq: number, what: string, step: () => void): void {
    const d = this.d;
    try {
      step();
    } catch (e) {
      if (e instanceof RaftPanic || !isRaftError(e, "ProposalDropped")) {
        d.fatal(e, what);
        return;
      }
      d.metrics.proposals.inc({ result: "dropped" });
      const err = d.leader() === 0 ? noLeaderError(what) : droppedError(what, e);
      this.proposals.reject(seq, err);
      this.confChanges.reject(seq, err);
      return;
    }
    d.stepped();
  }

  private async proposeConfChange(c: MemberChange, opts: RequestOptions): Promise<void> {
    const d = this.d;
    const err = d.membership.check(c);
    if (err !== undefined) throw err;
    const deadline = performance.now() + (opts.timeoutMs ?? d.requestTimeoutMs);
    await this.untilConfChangeAllowed(deadline, opts.signal);
    const seq = this.reserve();
    const url = c.kind === "add" ? c.url : c.kind === "promote" ? d.membership.get(c.id)?.url : undefined;
    const cc = {
      id: 0,
      type:
        c.kind === "remove"
          ? ConfChangeType.ConfChangeRemoveNode
          : c.kind === "add" && c.learner
            ? ConfChangeType.ConfChangeAddLearnerNode
            : ConfChangeType.ConfChangeAddNode,
      nodeId: c.id,
      context: encodeConfChangeContext({
        ...(url === undefined ? {} : { url }),
        ...(c.kind === "promote" ? { promote: true } : {}),
        req: { node: d.id, nonce: this.nonce, seq },
      }),
    };
    const p = this.confChanges.add(
      seq,
      "conf change",
      Math.max(1, deadline - performance.now()),
      opts.signal,
      this.handoff(),
    );
    d.log.info({ change: c.kind, member: c.id }, "proposing conf change");
    this.submit(seq, "conf change", () => d.rawNode.proposeConfChange(cc));
    try {
      await p;
    } catch (e) {
      if (isRaftNodeError(e, "Timeout")) d.metrics.proposals.inc({ result: "timeout" });
      throw e;
    }
  }

  /**
   * A leader refuses a conf change while an earlier one may still be unapplied (from its
   * `pendingConfIndex` on: a new leader sets that to its whole log, so right after every election
   * too), and refuses it silently: the entry becomes an empty one, and its caller would wait out its
   * timeout for nothing. So a leader first waits until its core has applied that far (by the
   * request's deadline). A follower forwards the change; the leader it reaches decides.
   */
  private async untilConfChangeAllowed(deadline: number, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      const r = this.d.rawNode.raft;
      if (r.state !== StateType.StateLeader || r.pendingConfIndex <= r.raftLog.applied) return;
      const { promise, waiter } = guard<void>(
        "conf change (waiting for the one before it to apply)",
        Math.max(1, deadline - performance.now()),
        signal,
        () => {},
      );
      this.d.onRaftApplied(r.pendingConfIndex, () => waiter.resolve());
      await promise;
    }
  }
}
