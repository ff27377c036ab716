/**
 * The simulated network: messages in flight in send order, and one-way links that can be cut
 * (messages on them are lost) or held (messages on them wait, in flight, until the link heals: a
 * long delay). It decides nothing by itself — the schedule says which message is delivered, lost,
 * duplicated or replayed — so reordering, delay, loss and duplication are all choices of the
 * schedule.
 */
import { type Message, MessageType } from "../../raftpb/types.js";

const CUT = 1;
const HELD = 2;

/** Messages in flight between simulated nodes, and the state of each one-way link. */
export class SimNetwork {
  /** Node ids are 1..nodes. */
  readonly nodes: number;
  /**
   * At most this many messages are in flight; sending more loses the oldest (a congested network
   * drops, it does not queue forever).
   */
  readonly capacity: number;
  /** Messages sent and neither delivered nor lost, oldest first. */
  private queue: Message[] = [];
  /** cut[from * (nodes + 1) + to] is CUT while the link from → to is down, HELD while held. */
  private readonly cut: Uint8Array;
  /** The last messages delivered, oldest first (for replays of old messages). */
  private readonly history: Message[] = [];
  /** The last snapshots delivered (MsgSnap), oldest first: they are rarer, and kept longer. */
  private readonly snapHistory: Message[] = [];
  /** Counters for reports. */
  readonly stats = { sent: 0, delivered: 0, lost: 0, duplicated: 0 };
  /** Called for every message lost in the network (not delivered to a node that was down). */
  onLost: ((m: Message, why: "dropped" | "congestion" | "link cut" | "node down") => void) | undefined;

  constructor(nodes: number, capacity = 1024) {
    this.nodes = nodes;
    this.capacity = capacity;
    this.cut = new Uint8Array((nodes + 1) * (nodes + 1));
  }

  /** How many messages are in flight. */
  get length(): number {
    return this.queue.length;
  }

  /** Puts `m` in flight (losing the oldest message if the network is full). */
  send(m: Message): void {
    this.stats.sent++;
    this.queue.push(m);
    if (this.queue.length > this.capacity) this.lose(this.queue.shift()!, "congestion");
  }

  /**
   * The position of the `pick`-th oldest message (counting from 0, wrapping around) among those
   * `deliverable` accepts, or -1 if there is none.
   */
  find(pick: number, deliverable: (m: Message) => boolean): number {
    let count = 0;
    const q = this.queue;
    for (let i = 0; i < q.length; i++) if (deliverable(q[i]!)) count++;
    if (count === 0) return -1;
    let k = pick % count;
    for (let i = 0; i < q.length; i++) {
      if (!deliverable(q[i]!)) continue;
      if (k === 0) return i;
      k--;
    }
    return -1;
  }

  /** The messages in flight, oldest first (read-only: for tests and visualizers). */
  inFlight(): readonly Message[] {
    return this.queue;
  }

  /** The message at position `i`. */
  at(i: number): Message {
    return this.queue[i]!;
  }

  /** Removes and returns the message at position `i`. */
  take(i: number): Message {
    return this.queue.splice(i, 1)[0]!;
  }

  /** Removes and returns every message in flight, oldest first. */
  takeAll(): Message[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Counts `m` as lost and tells {@link SimNetwork.onLost}. */
  lose(m: Message, why: "dropped" | "congestion" | "link cut" | "node down"): void {
    this.stats.lost++;
    this.onLost?.(m, why);
  }

  /** True while the link from → to is cut (messages on it are lost). */
  isCut(from: number, to: number): boolean {
    return from <= this.nodes && to <= this.nodes && this.cut[from * (this.nodes + 1) + to] === CUT;
  }

  /** True while the link from → to is held (messages on it wait in flight). */
  isHeld(from: number, to: number): boolean {
    return from <= this.nodes && to <= this.nodes && this.cut[from * (this.nodes + 1) + to] === HELD;
  }

  /** Cuts (or restores) the one-way link from → to; `hold` holds its messages instead of losing them. */
  setCut(from: number, to: number, down: boolean, hold = false): void {
    this.cut[from * (this.nodes + 1) + to] = down ? (hold ? HELD : CUT) : 0;
  }

  /** True if any link is cut or held. */
  anyCut(): boolean {
    return this.cut.some((x) => x !== 0);
  }

  /** Remembers `m` as delivered (for {@link SimNetwork.replayable}); keeps the last 64. */
  delivered(m: Message): void {
    const h = m.type === MessageType.MsgSnap ? this.snapHistory : this.history;
    h.push(m);
    if (h.length > 64) h.shift();
  }

  /**
   * The `pick`-th most recently delivered message (0: the last one; among snapshots only with
   * `snap`) that `accept` accepts, or undefined: a copy the network kept and delivers again, late
   * (a duplicate delayed arbitrarily).
   */
  replayable(pick: number, snap: boolean, accept: (m: Message) => boolean): Message | undefined {
    const ok = (snap ? this.snapHistory : [...this.snapHistory, ...this.history]).filter(accept);
    if (ok.length === 0) return undefined;
    return ok[ok.length - 1 - (pick % ok.length)];
  }

  /** Restores every link. */
  healAll(): void {
    this.cut.fill(0);
  }
}
