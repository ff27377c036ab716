/** The events a RaftNode emits, and the small typed emitter behind `on`/`off`. */
import type { Logger } from "pino";

/** The node's events and their listeners' arguments. */
export interface RaftNodeEvents {
  /** The leader this node knows changed (`lead` 0: none). */
  "leader-change": [info: { lead: number; term: number }];
  /** This node was removed from the cluster by a conf change; it stops shortly after. */
  removed: [];
  /** The node stopped; `cause` is set when it failed (WAL error, Raft panic...) or was removed. */
  stopped: [cause: unknown];
}

type Listener = (...a: never[]) => void;

/** Listeners by event; a listener that throws is logged, never propagated into the node's loops. */
export class NodeEvents {
  private readonly listeners = new Map<keyof RaftNodeEvents, Set<Listener>>();

  constructor(private readonly log: Logger) {}

  on<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): void {
    let s = this.listeners.get(event);
    if (s === undefined) {
      s = new Set();
      this.listeners.set(event, s);
    }
    s.add(fn as Listener);
  }

  off<E extends keyof RaftNodeEvents>(event: E, fn: (...args: RaftNodeEvents[E]) => void): void {
    this.listeners.get(event)?.delete(fn as Listener);
  }

  emit<E extends keyof RaftNodeEvents>(event: E, ...args: RaftNodeEvents[E]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) {
      try {
        (fn as (...a: RaftNodeEvents[E]) => void)(...args);
      } catch (e) {
        this.log.error({ err: e, event }, "event listener threw");
      }
    }
  }
}
