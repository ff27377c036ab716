/**
 * The simulated network: messages in flight in send order, and one-way links that can be cut. It
 * decides nothing by itself — the schedule says which message is delivered, lost or duplicated —
 * so reordering, delay, loss and duplication are all choices of the schedule.
 */
import type { Message } from "../../raftpb/types.js";

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
  /** cut[from * (nodes + 1) + to] is 1 while the link from → to is down. */
  private readonly cut: Uint8Array;
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

  /** True while the link from → to is cut. */
  isCut(from: number, to: number): boolean {
    return from <= this.nodes && to <= this.nodes && this.cut[from * (this.nodes + 1) + to] === 1;
  }

  /** Cuts (or restores) the one-way link from → to. */
  setCut(from: number, to: number, down: boolean): void {
    this.cut[from * (this.nodes + 1) + to] = down ? 1 : 0;
  }

  /** True if any link is cut. */
  anyCut(): boolean {
    return this.cut.includes(1);
  }

  /** Restores every link. */
  healAll(): void {
    this.cut.fill(0);
  }
}
