/**
 * ReadIndex answers (Raft thesis §6.4): at least the highest index committed anywhere when the read
 * was issued, and never beyond what was committed. Part of the checker (invariants.ts).
 */
import type { ReadState } from "../../ready.js";
import { utf8Decode } from "./bytes.js";
import { InvariantViolation } from "./violation.js";

/** The reads issued in a simulation and what their answers must reach. */
export class ReadChecks {
  /** ReadIndex requests: context → the lowest index an answer may give. */
  private readonly reads = new Map<string, number>();
  /** Reads answered so far. */
  answered = 0;

  /**
   * A client issued a ReadIndex request with context `ctx` at a node whose commit index was
   * `nodeCommit`, while `maxCommit` was the highest index committed anywhere. The answer must be at
   * least `maxCommit` (linearizability), except with `lease`-based reads, which etcd does not make
   * linearizable even with clocks ticking at one rate: its leader checks its quorum once per
   * election timeout, so a deposed leader may serve from its lease for up to one more election
   * timeout after the others elected a new leader; and a leader that handed leadership over
   * (MsgTimeoutNow) keeps serving from its lease until it hears of the new term (the simulator
   * finds both, see test/sim). Lease reads are only checked against the issuing node's own commit
   * index.
   */
  register(ctx: string, nodeCommit: number, maxCommit: number, lease: boolean): void {
    this.reads.set(ctx, lease ? nodeCommit : maxCommit);
  }

  /** Node `id` got the answer `rs`; `maxCommit` is the highest index committed anywhere now. */
  check(id: number, rs: ReadState, maxCommit: number): void {
    const ctx = utf8Decode(rs.requestCtx);
    const min = this.reads.get(ctx);
    if (min === undefined) return; // not one of ours (cannot happen in a simulation)
    this.answered++;
    if (rs.index < min) {
      throw new InvariantViolation(
        "read-index",
        `node ${id} got read index ${rs.index} for ${ctx}, but ${min} was committed when the read was issued`,
      );
    }
    if (rs.index > maxCommit) {
      throw new InvariantViolation(
        "read-index",
        `node ${id} got read index ${rs.index} for ${ctx}, beyond the highest commit index ${maxCommit}`,
      );
    }
  }
}
