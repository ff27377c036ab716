/**
 * How fast a leader sends entries to a follower far behind its commit index. A follower back from a
 * long stop, or replaying what was written while its snapshot travelled, would otherwise take
 * entries as fast as its disk allows (80 MB/s of 16 KiB entries on a 2-core box, appended and
 * applied), and the disk and CPU it uses are the ones the quorum needs for its own writes and
 * fsyncs: the growth bench saw the cluster's writes/s fall to a third while a follower replayed.
 * Such a follower is not on the commit path (the leader has committed far past it), so pacing it
 * costs the cluster nothing but the time it takes to catch up.
 *
 * The pace is per follower: at most `bytesPerSec` of entry data, but always at least
 * {@link COMMIT_RATE_MARGIN} times as many entries per second as the leader commits, so that the
 * follower does catch up however fast the cluster writes. A MsgApp whose entries start within
 * {@link FAR_BEHIND_ENTRIES} of the commit index is not paced (it waits only behind paced ones to
 * the same follower, to keep their order); every other message goes at once (Raft tolerates a
 * heartbeat overtaking an append). What is held back is bounded by the leader's in-flight limit per
 * follower (maxInflightBytes).
 */
import { type Message, MessageType } from "@tsraft/raft/raftpb";

/** A MsgApp whose entries start more than this many entries below the leader's commit is paced. */
export const FAR_BEHIND_ENTRIES = 1_000;
/** A paced follower still gets at least this many times as many entries/s as the leader commits. */
export const COMMIT_RATE_MARGIN = 2;
/** The leader's commit rate is measured over about this long. */
const RATE_WINDOW_MS = 5_000;

interface Follower {
  /** MsgApps held back, oldest first, each with the time it may go. */
  readonly held: { readonly m: Message; readonly at: number }[];
  /** When the next paced MsgApp may go (the previous one's start plus its cost). */
  next: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class CatchUpPacer {
  private readonly followers = new Map<number, Follower>();
  /** Samples of (time, commit index), oldest first, spaced ≥ RATE_WINDOW_MS / 8 apart. */
  private readonly samples: { t: number; commit: number }[] = [];
  private stopped = false;

  /**
   * `bytesPerSec` 0 disables the pace. `deliver` hands messages to the transport; `onPaced` hears
   * of the bytes of each MsgApp sent under the pace (metrics).
   */
  constructor(
    private readonly bytesPerSec: number,
    private readonly deliver: (msgs: readonly Message[]) => void,
    private readonly onPaced: (to: number, bytes: number) => void = () => {},
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Sends `msgs` now, but MsgApps to followers far behind at their pace. */
  send(msgs: readonly Message[]): void {
    if (this.bytesPerSec <= 0 || this.stopped) {
      this.deliver(msgs);
      return;
    }
    let now: readonly Message[] = msgs;
    if (msgs.some((m) => m.type === MessageType.MsgApp && this.paced(m))) {
      now = msgs.filter((m) => !(m.type === MessageType.MsgApp && this.paced(m) && this.hold(m)));
    }
    if (now.length > 0) this.deliver(now);
  }

  /**
   * Entries per second this leader has committed over the last ~{@link RATE_WINDOW_MS} (0 until it
   * has seen its commit index move; back to 0 once it stops moving for that long).
   */
  commitRate(): number {
    const t = this.now();
    this.prune(t);
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first === undefined || last === undefined || t <= first.t) return 0;
    return ((last.commit - first.commit) * 1000) / (t - first.t);
  }

  /** Messages held back are dropped (this node stopped leading, or stops): Raft sends them again. */
  clear(): void {
    for (const f of this.followers.values()) clearTimeout(f.timer);
    this.followers.clear();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  /** Whether `m` (a MsgApp) goes under the pace: far behind, or behind others held for its follower. */
  private paced(m: Message): boolean {
    this.sample(m.commit);
    return m.commit - m.index > FAR_BEHIND_ENTRIES || (this.followers.get(m.to)?.held.length ?? 0) > 0;
  }

  /** Holds `m` back until its follower's pace allows it; true (it is held). */
  private hold(m: Message): true {
    const t = this.now();
    let f = this.followers.get(m.to);
    if (f === undefined) {
      f = { held: [], next: t, timer: undefined };
      this.followers.set(m.to, f);
    }
    let bytes = 0;
    for (const e of m.entries) bytes += e.data.length;
    const rate = this.commitRate() * COMMIT_RATE_MARGIN;
    const byEntries = rate > 0 ? (m.entries.length / rate) * 1000 : Number.POSITIVE_INFINITY;
    const cost = Math.min((bytes / this.bytesPerSec) * 1000, byEntries);
    const at = Math.max(f.next, t);
    f.next = at + cost;
    f.held.push({ m, at });
    this.onPaced(m.to, bytes);
    this.schedule(m.to, f);
    return true;
  }

  /** Sends what is due for follower `to`, and sets a timer for the rest. */
  private schedule(to: number, f: Follower): void {
    if (f.timer !== undefined) return;
    const t = this.now();
    let due = 0;
    while (due < f.held.length && f.held[due]!.at <= t) due++;
    if (due > 0) this.deliver(f.held.splice(0, due).map((h) => h.m));
    if (f.held.length === 0) return; // `next` stays: the follower's next MsgApp waits its turn
    f.timer = setTimeout(
      () => {
        f.timer = undefined;
        if (!this.stopped) this.schedule(to, f);
      },
      Math.max(1, f.held[0]!.at - t),
    );
  }

  private sample(commit: number): void {
    const t = this.now();
    const last = this.samples[this.samples.length - 1];
    if (last !== undefined && (commit <= last.commit || t - last.t < RATE_WINDOW_MS / 8)) return;
    this.samples.push({ t, commit });
    this.prune(t);
  }

  /** Drops samples older than the window, but for the newest (the commit index now). */
  private prune(t: number): void {
    while (this.samples.length > 1 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
  }
}
