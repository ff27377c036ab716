/**
 * Watches: each one streams the changes of the history (mvcc-store.ts) to a range of keys, from a
 * revision on, as Server-Sent Events, to one HTTP response. etcd's watchable store, in its shape:
 *
 * - **One source.** Events are read from the history table, which the state machine writes in the
 *   same transaction as the change, and in revision order. A watcher is a position (the next
 *   revision to send) and a filter; nothing is buffered per watcher but what its socket holds. So
 *   events are in revision order, with no gap and no duplicate, on every node, after a restart (the
 *   history is durable, replayed with the log) and after a restore from an image (which carries the
 *   history): a watch on a follower sends what that node applied.
 * - **Synced and catching up, one loop.** After each applied batch (`onApplied`), a pump at the end
 *   of the event-loop turn reads the new changes once per group of watchers at the same position
 *   (usually all of them: one query, however many watchers) and writes each watcher the events its
 *   range matches. A watcher that starts at an old revision is a group of its own until it catches
 *   up, a batch per turn. Each change is serialized once per pump and the same bytes are written to
 *   every watcher that wants it.
 * - **Whole revisions.** A transaction's changes share a revision; every event carries it, and the
 *   last event of a revision (for this watcher) carries the SSE `id:` field, so `Last-Event-ID`
 *   (or the client's `from`) names a revision whose events were all received: resuming from the
 *   next one loses nothing and repeats nothing.
 * - **Bounded memory; slow watchers cut off.** A pump writes a watcher at most `writeBytes` (plus
 *   the rest of a revision) and stops at once when its socket's buffer is full, until it drains
 *   ('drain'). A watcher whose socket has not drained for `slowWatcherMs` while events wait for it
 *   gets an `error` event `SlowWatcher` (naming the revision to resume from) and its stream ends:
 *   it holds at most a socket buffer and one write. One that falls behind the compact revision
 *   gets `Compacted`. Nothing else grows with the number of events.
 */
import type { ServerResponse } from "node:http";
import { Counter, Gauge, type Registry } from "prom-client";
import { changeJson } from "./kv-json.js";
import { CompactedError, inRange, type KeyRange, type KvChange } from "./mvcc-types.js";
import type { AppliedState, SqliteStateMachine } from "./sqlite-state-machine.js";

/** What the hub reads: the history, the revisions, and when they move. */
export type WatchStore = Pick<SqliteStateMachine, "changes" | "revision" | "compactRevision" | "onApplied">;

/** Options of {@link WatchHub}. */
export interface WatchHubOptions {
  /**
   * A watcher whose connection has not drained its buffer for this long while events wait is cut
   * off with a `SlowWatcher` event (default 10 s).
   */
  readonly slowWatcherMs?: number;
  /** Bytes written to one watcher per pump before it waits for the next (default 256 KiB). */
  readonly writeBytes?: number;
  /** A watcher with nothing to send hears a `progress` event (or a keep-alive comment) this often (default 5 s). */
  readonly progressMs?: number;
  /** Where the `tsraft_kv_watch*` series go (none by default). */
  readonly registry?: Registry;
}

/** Changes read from the history per query (above the most one revision holds: whole revisions fit). */
const READ_BATCH = 2048;
/** Revisions scanned per query when catching up (the scan is over revisions, whatever the range matches). */
const READ_WINDOW = 8192;
/** How long a cut-off watcher's connection may keep the bytes it has not read before it is destroyed. */
const CUTOFF_GRACE_MS = 30_000;
const ID_END = (revision: number) => Buffer.from(`id: ${revision}\n\n`);
const END = Buffer.from("\n");
const KEEPALIVE = Buffer.from(": keep-alive\n\n");

/** One watch: a position in the history, a filter, and the response it streams to. */
class Watcher {
  /** The next revision to send. Invariant: every event below it that matches was written. */
  next: number;
  /** The last revision named in an `id:` (complete up to it, as far as the client knows). */
  lastId: number;
  blockedSince: number | undefined;
  lastWriteAt = performance.now();
  closed = false;

  constructor(
    readonly range: KeyRange | undefined,
    from: number,
    readonly res: ServerResponse,
  ) {
    this.next = from;
    this.lastId = from - 1;
  }

  matches(c: KvChange): boolean {
    return this.range === undefined || inRange(c.key, this.range);
  }
}

/** The watches of one server. Create one per state machine; `close` ends every stream. */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly slowMs: number;
  private readonly writeBytes: number;
  private readonly progressMs: number;
  private pumpScheduled = false;
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private readonly metrics: ReturnType<typeof watchMetrics> | undefined;

  constructor(
    private readonly store: WatchStore,
    options: WatchHubOptions = {},
  ) {
    this.slowMs = options.slowWatcherMs ?? 10_000;
    this.writeBytes = options.writeBytes ?? 256 * 1024;
    this.progressMs = options.progressMs ?? 5000;
    this.metrics = options.registry === undefined ? undefined : watchMetrics(options.registry, this);
    this.unsubscribe = store.onApplied((s) => this.onApplied(s));
    this.timer = setInterval(() => this.tick(), Math.min(1000, this.progressMs, this.slowMs));
    this.timer.unref();
  }

  /** Watchers open now. */
  get size(): number {
    return this.watchers.size;
  }

  /** Bytes written to watchers' responses that their sockets have not taken yet. */
  bufferedBytes(): number {
    let n = 0;
    for (const w of this.watchers) n += w.res.writableLength;
    return n;
  }

  /**
   * Starts streaming to `res` (its headers are written here) the changes to `range` (every key if
   * undefined) from revision `from` on. A `from` at or below the compact revision gets the
   * `Compacted` error event at once. The watch ends when the client goes away, on an error event,
   * or at `close`.
   */
  watch(res: ServerResponse, range: KeyRange | undefined, from: number): void {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    const w = new Watcher(range, from, res);
    this.watchers.add(w);
    res.once("close", () => this.remove(w));
    res.on("drain", () => {
      w.blockedSince = undefined;
      this.schedulePump();
    });
    const revision = this.store.revision();
    this.write(w, [event("created", { revision, from, compactRevision: this.store.compactRevision() })]);
    this.schedulePump();
  }

  /** Ends every watch (the server is stopping): each gets an `error` event `Stopped` naming where to resume. */
  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    for (const w of [...this.watchers]) {
      this.fail(w, "Stopped", "the server is stopping: resume from this revision on another node", {
        revision: w.next,
      });
    }
  }

  private onApplied(_s: AppliedState): void {
    // No watcher, no pump (one would be an immediate per applied batch for nothing): a new watcher
    // schedules its own.
    if (this.watchers.size > 0) this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * One round: for each group of watchers at the same position with events waiting, one read of the
   * history, then each watcher of the group is written what its range matches, up to its budget.
   * Schedules another round if some watcher still has events waiting and room to take them.
   */
  private pump(): void {
    const revision = this.store.revision();
    const groups = new Map<number, Watcher[]>();
    for (const w of this.watchers) {
      if (w.closed || w.blockedSince !== undefined || w.next > revision) continue;
      const g = groups.get(w.next);
      if (g === undefined) groups.set(w.next, [w]);
      else g.push(w);
    }
    let again = false;
    for (const [from, group] of groups) {
      let changes: KvChange[];
      try {
        changes = this.store.changes(from, Math.min(revision + 1, from + READ_WINDOW), undefined, READ_BATCH);
      } catch (err) {
        if (!(err instanceof CompactedError)) throw err;
        for (const w of group) {
          this.fail(w, "Compacted", err.message, { revision: w.next, compactRevision: err.compactRevision });
        }
        continue;
      }
      // Whole revisions only: a full batch may end inside a revision; leave that one for the next read.
      let end = Math.min(revision + 1, from + READ_WINDOW);
      if (changes.length === READ_BATCH) {
        end = changes[changes.length - 1]!.revision;
        changes = changes.filter((c) => c.revision < end);
      }
      const bytes = new Map<KvChange, Buffer>();
      for (const w of group) {
        if (!this.send(w, changes, end, bytes)) continue;
        if (w.next <= revision && w.blockedSince === undefined) again = true;
      }
    }
    if (again) this.schedulePump();
  }

  /**
   * Writes `w` the events of `changes` its range matches, a revision at a time, until its budget or
   * its socket's buffer is full; advances its position (to `end` if it took them all). False if
   * it was closed.
   */
  private send(w: Watcher, changes: readonly KvChange[], end: number, cache: Map<KvChange, Buffer>): boolean {
    const out: Buffer[] = [];
    let size = 0;
    let i = 0;
    while (i < changes.length) {
      const rev = changes[i]!.revision;
      let j = i;
      while (j < changes.length && changes[j]!.revision === rev) j++;
      const matched = changes.slice(i, j).filter((c) => w.matches(c));
      matched.forEach((c, k) => {
        let b = cache.get(c);
        if (b === undefined) {
          b = event(c.value === undefined ? "delete" : "put", changeJson(c), false);
          cache.set(c, b);
        }
        out.push(b, k === matched.length - 1 ? ID_END(rev) : END);
        size += b.length;
      });
      w.next = rev + 1;
      if (matched.length > 0) w.lastId = rev;
      i = j;
      if (size >= this.writeBytes) break;
    }
    if (i === changes.length) w.next = Math.max(w.next, end);
    if (out.length > 0) this.metrics?.events.inc(out.length / 2);
    return this.write(w, out);
  }

  /** Writes `chunks` to `w` (one syscall); marks it blocked if its buffer is full. */
  private write(w: Watcher, chunks: Buffer[]): boolean {
    if (w.closed) return false;
    if (chunks.length === 0) return true;
    const res = w.res;
    res.cork();
    let ok = true;
    for (const c of chunks) ok = res.write(c);
    res.uncork();
    w.lastWriteAt = performance.now();
    if (!ok && w.blockedSince === undefined) w.blockedSince = performance.now();
    return true;
  }

  /** Every second or so: cut off slow watchers; tell idle ones where they are. */
  private tick(): void {
    const now = performance.now();
    const revision = this.store.revision();
    for (const w of [...this.watchers]) {
      if (w.closed) continue;
      if (w.blockedSince !== undefined) {
        if (now - w.blockedSince >= this.slowMs && w.next <= revision) {
          this.metrics?.cutoffs.inc({ reason: "SlowWatcher" });
          this.fail(
            w,
            "SlowWatcher",
            `the watcher did not read its events for ${Math.round(now - w.blockedSince)} ms while ${revision - w.next + 1} revisions waited: resume from revision ${w.next}`,
            { revision: w.next },
          );
        }
        continue;
      }
      if (now - w.lastWriteAt < this.progressMs) continue;
      // Caught up: say how far (an id the client can resume after); else a comment keeps the link alive.
      if (w.next > revision && w.lastId < revision) {
        w.lastId = revision;
        this.write(w, [event("progress", { revision }, true, revision)]);
      } else this.write(w, [KEEPALIVE]);
    }
  }

  /** Sends an `error` event and ends the stream; the connection is destroyed if its client does not read it in time. */
  private fail(w: Watcher, code: string, message: string, extra: Record<string, unknown>): void {
    if (w.closed) return;
    this.write(w, [event("error", { code, error: message, ...extra })]);
    this.remove(w);
    w.res.end();
    const timer = setTimeout(() => w.res.destroy(), CUTOFF_GRACE_MS);
    timer.unref();
    w.res.once("close", () => clearTimeout(timer));
  }

  private remove(w: Watcher): void {
    w.closed = true;
    this.watchers.delete(w);
  }
}

/** An SSE event: `event:` and `data:` lines, then (`complete`) an `id:` line if given and the blank line. */
function event(name: string, data: unknown, complete = true, id?: number): Buffer {
  const head = `event: ${name}\ndata: ${JSON.stringify(data)}\n`;
  if (!complete) return Buffer.from(head);
  return Buffer.from(`${head}${id === undefined ? "" : `id: ${id}\n`}\n`);
}

function watchMetrics(registry: Registry, hub: WatchHub) {
  new Gauge({
    name: "tsraft_kv_watchers",
    help: "Watches open on this node.",
    registers: [registry],
    collect() {
      this.set(hub.size);
    },
  });
  new Gauge({
    name: "tsraft_kv_watch_buffered_bytes",
    help: "Bytes written to watch streams that their connections have not taken yet.",
    registers: [registry],
    collect() {
      this.set(hub.bufferedBytes());
    },
  });
  return {
    events: new Counter({
      name: "tsraft_kv_watch_events_total",
      help: "Events written to watch streams.",
      registers: [registry],
    }),
    cutoffs: new Counter({
      name: "tsraft_kv_watch_cutoffs_total",
      help: "Watches ended by the server, by reason (SlowWatcher).",
      labelNames: ["reason"],
      registers: [registry],
    }),
  };
}
