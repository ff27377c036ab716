/**
 * Test helpers for RaftNode: a Map state machine that refuses re-applied or skipped entries, an
 * in-memory network (a RaftTransport), free ports, temp data directories, and batched proposals.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApplyEntry, StateMachine, StateMachineSnapshot } from "@tsraft/raft";
import { type Message, MessageType } from "@tsraft/raft/raftpb";
import type { RaftTransport, SnapshotImageSource } from "../../src/raftnode/options.js";
import type { RaftNode } from "../../src/raftnode/raft-node.js";
import type { TransportHandler, TransportOptions } from "../../src/transport/options.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A deterministic key-value state machine, in memory (volatile: a new instance after a restart
 * starts empty and is restored from the node's snapshot; keeping the object across a restart stands
 * for a state that survived). `apply` throws on any entry that is not exactly the next index: the
 * node must never re-apply or skip an entry. Normal entries are `key=value`; the result is
 * `"<key>@<index>"`. Its image is JSON, handed out in small chunks so that transfers span several.
 */
export class MapStateMachine implements StateMachine<string> {
  readonly data = new Map<string, string>();
  applied = 0;
  /**
   * Optional, shared by the nodes of a cluster: every normal entry applied anywhere, by index. A
   * node applying a different entry at a recorded index throws (two nodes disagree on the log).
   */
  history: Map<number, string> | undefined;
  restores = 0;
  normalApplied = 0;
  confChanges = 0;
  /** Images taken and not yet released. */
  imagesHeld = 0;

  appliedIndex(): number {
    return this.applied;
  }

  apply(entries: readonly ApplyEntry[]): (string | undefined)[] {
    return entries.map((e) => {
      if (e.index !== this.applied + 1) {
        throw new Error(`MapStateMachine: entry ${e.index} after applied ${this.applied}`);
      }
      this.applied = e.index;
      if (e.kind === "conf-change") this.confChanges++;
      if (e.kind !== "normal") return undefined;
      this.normalApplied++;
      const s = dec.decode(e.data);
      if (this.history !== undefined) {
        const seen = this.history.get(e.index);
        if (seen !== undefined && seen !== s)
          throw new Error(`MapStateMachine: ${s} at ${e.index}, elsewhere ${seen}`);
        this.history.set(e.index, s);
      }
      const eq = s.indexOf("=");
      const key = eq < 0 ? s : s.slice(0, eq);
      this.data.set(key, eq < 0 ? "" : s.slice(eq + 1));
      return `${key}@${e.index}`;
    });
  }

  snapshot(): StateMachineSnapshot {
    const bytes = enc.encode(JSON.stringify({ applied: this.applied, data: [...this.data] }));
    this.imagesHeld++;
    let released = false;
    return {
      index: this.applied,
      *read() {
        for (let at = 0; at < bytes.length; at += 4096) yield bytes.subarray(at, at + 4096);
      },
      release: () => {
        if (released) throw new Error("MapStateMachine: image released twice");
        released = true;
        this.imagesHeld--;
      },
    };
  }

  async restore(index: number, image: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of image) parts.push(c);
    const j = JSON.parse(dec.decode(Buffer.concat(parts))) as { applied: number; data: [string, string][] };
    if (j.applied !== index)
      throw new Error(`MapStateMachine: snapshot of ${j.applied} restored as ${index}`);
    this.data.clear();
    for (const [k, v] of j.data) this.data.set(k, v);
    this.applied = index;
    this.restores++;
  }

  /** The content, sorted, for comparing state machines. */
  dump(): string {
    return JSON.stringify([...this.data].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }

  /** The state after applying the entries of `history` up to `index` (what a node at `index` must hold). */
  static expectedAt(history: ReadonlyMap<number, string>, index: number): string {
    const sm = new MapStateMachine();
    for (const i of [...history.keys()].filter((i) => i <= index).sort((a, b) => a - b)) {
      const s = history.get(i)!;
      const eq = s.indexOf("=");
      sm.data.set(eq < 0 ? s : s.slice(0, eq), eq < 0 ? "" : s.slice(eq + 1));
    }
    return sm.dump();
  }

  /** A copy of the current state (what a durable state machine would find after a crash here). */
  copy(): MapStateMachine {
    const c = new MapStateMachine();
    for (const [k, v] of this.data) c.data.set(k, v);
    c.applied = this.applied;
    return c;
  }
}

/**
 * The same state machine, durable: `sync()` records the state it makes durable (after a turn of
 * the event loop, as an fsync in the thread pool would), and {@link durableCopy} is what a crash
 * would leave at least. The node compacts its log only up to what `sync()` resolved with.
 */
export class DurableMapStateMachine extends MapStateMachine {
  syncs = 0;
  /** The state as of the last completed sync. */
  private durable: MapStateMachine = new MapStateMachine();

  sync(): Promise<number> {
    const at = this.copy();
    return new Promise((resolve) =>
      setImmediate(() => {
        this.durable = at;
        this.syncs++;
        resolve(at.applied);
      }),
    );
  }

  /** What survives a crash now, at the least: the state at the last sync. */
  durableCopy(): DurableMapStateMachine {
    return DurableMapStateMachine.from(this.durable);
  }

  /** A durable state machine holding `sm`'s state (as recovered from its storage). */
  static from(sm: MapStateMachine): DurableMapStateMachine {
    const c = new DurableMapStateMachine();
    for (const [k, v] of sm.data) c.data.set(k, v);
    c.applied = sm.applied;
    c.durable = sm.copy();
    return c;
  }
}

/** A fresh temp directory and its cleanup. */
export async function tempDir(
  prefix = "tsraft-node-",
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds; fails with `what` after `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until exactly one running node leads and every running node agrees; returns it. */
export async function waitForLeader(nodes: readonly RaftNode[], ms = 15_000): Promise<RaftNode> {
  let leader: RaftNode | undefined;
  await waitFor(
    () => {
      const running = nodes.filter((n) => !n.stopped);
      const leaders = running.filter((n) => n.isLeader());
      if (leaders.length !== 1) return false;
      leader = leaders[0];
      return running.every((n) => n.leader() === leader!.id);
    },
    "a leader all nodes agree on",
    ms,
  );
  return leader!;
}

/**
 * Proposes `key-<from+i>=value-<from+i>` for i in [0, count) through `node`, `concurrency` at a
 * time. A proposal that fails with NoLeader/ProposalDropped is retried (it was not proposed); the
 * test fails on any other error.
 */
export async function proposeRange(
  node: () => RaftNode,
  from: number,
  count: number,
  concurrency = 200,
): Promise<void> {
  let next = from;
  const end = from + count;
  const worker = async (): Promise<void> => {
    while (next < end) {
      const i = next++;
      for (let attempt = 0; ; attempt++) {
        try {
          await node().propose(enc.encode(`key-${i}=value-${i}`), { timeoutMs: 10_000 });
          break;
        } catch (e) {
          const code = (e as { code?: string }).code;
          if ((code === "NoLeader" || code === "ProposalDropped") && attempt < 200) {
            await sleep(20);
            continue;
          }
          throw e;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * An in-memory network of RaftTransports: messages are delivered on a later macrotask, in order
 * per link. `cut(a, b)` drops both directions of a link (reported unreachable, as the real
 * transport does); `healLink(from, to)` restores one direction; `lose` drops chosen messages.
 * `sends` records every `send` call, for ordering assertions.
 *
 * Snapshots (`sendSnapshot`) behave as the real transport's: the receiving node's
 * `processSnapshot` gets an async iterable over copies of the image's chunks, pulled from the
 * sender's image as it reads them; the transfer fails (the iteration throws, the sender gets
 * `failure`) if either node stops or the link is cut before it ends, or if the handler rejects or
 * returns without reading the image to its end; `finish` is reported once the handler's promise
 * resolved. Every transfer is reported exactly once (a sender stopping reports its transfers in
 * flight as failed) and releases its image exactly once.
 */
export class MemNetwork {
  private readonly nodes = new Map<number, TransportHandler>();
  private readonly cutLinks = new Set<string>();
  /** Snapshot transfers in flight, by sending node: `stop` fails them. */
  private readonly transfers = new Map<TransportHandler, Set<(why: string) => void>>();
  /** Observes every send (node, messages) as it happens; `sendSnapshot` shows up as one MsgSnap. */
  onSend: ((from: number, msgs: readonly Message[]) => void) | undefined;
  /** Messages (not snapshot transfers) for which this returns true are lost, silently. */
  lose: ((from: number, m: Message) => boolean) | undefined;
  /** Observes the outcome of every snapshot transfer (`why`: the failure's reason). */
  onSnapshotOutcome:
    | ((from: number, to: number, status: "finish" | "failure", why?: string) => void)
    | undefined;

  cut(a: number, b: number): void {
    this.cutLinks.add(`${a}-${b}`).add(`${b}-${a}`);
  }

  heal(): void {
    this.cutLinks.clear();
  }

  /** Delivers `from`'s messages to `to` again (the other direction stays as it is). */
  healLink(from: number, to: number): void {
    this.cutLinks.delete(`${from}-${to}`);
  }

  /** Isolates `id` from every other node. */
  isolate(id: number, others: readonly number[]): void {
    for (const o of others) if (o !== id) this.cut(id, o);
  }

  factory = (o: TransportOptions): RaftTransport => {
    const id = o.id;
    const handler = o.handler;
    return {
      start: async () => {
        this.nodes.set(id, handler);
      },
      stop: async () => {
        if (this.nodes.get(id) === handler) this.nodes.delete(id);
        for (const abort of [...(this.transfers.get(handler) ?? [])]) abort("sender stopped");
      },
      abortSnapshots: (reason) => {
        for (const abort of [...(this.transfers.get(handler) ?? [])]) abort(reason);
      },
      addPeer: () => {},
      removePeer: () => {},
      send: (msgs) => {
        this.onSend?.(id, msgs);
        for (const m of msgs) this.deliver(id, handler, m);
      },
      sendSnapshot: (m, image) => {
        this.onSend?.(id, [m]);
        this.deliverSnapshot(id, handler, m, image);
      },
    };
  };

  private deliver(from: number, sender: TransportHandler, m: Message): void {
    if (m.type === MessageType.MsgSnap) {
      // As the real transport: a MsgSnap needs its image (sendSnapshot).
      setImmediate(() => {
        if (this.nodes.get(from) === sender) sender.reportSnapshot(m.to, "failure");
      });
      return;
    }
    if (this.lose?.(from, m)) return;
    const to = this.nodes.get(m.to);
    if (to === undefined || this.cutLinks.has(`${from}-${m.to}`)) {
      setImmediate(() => {
        if (this.nodes.get(from) !== sender) return;
        sender.reportUnreachable(m.to);
      });
      return;
    }
    setImmediate(() => {
      if (this.nodes.get(m.to) !== to) return;
      to.process(m);
    });
  }

  private deliverSnapshot(
    from: number,
    sender: TransportHandler,
    m: Message,
    image: SnapshotImageSource,
  ): void {
    const receiver = this.nodes.get(m.to);
    const up = (): boolean =>
      this.nodes.get(from) === sender &&
      receiver !== undefined &&
      this.nodes.get(m.to) === receiver &&
      !this.cutLinks.has(`${from}-${m.to}`);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      image.release();
    };
    let failed: string | undefined;
    let reported = false;
    const aborts = this.transfers.get(sender) ?? new Set();
    this.transfers.set(sender, aborts);
    const settle = (status: "finish" | "failure"): void => {
      if (reported) return;
      reported = true;
      aborts.delete(abort);
      release();
      if (status === "failure" && this.nodes.get(from) === sender) sender.reportUnreachable(m.to);
      this.onSnapshotOutcome?.(from, m.to, status, failed);
      sender.reportSnapshot(m.to, status);
    };
    function abort(why: string): void {
      failed ??= why;
      settle("failure");
    }
    aborts.add(abort);
    if (!up()) {
      setImmediate(() => abort("peer down or link cut"));
      return;
    }
    let readToEnd = false;
    const chunks = async function* (): AsyncGenerator<Uint8Array> {
      try {
        if (failed !== undefined) throw new Error(`snapshot transfer failed: ${failed}`);
        for await (const c of image.read()) {
          if (failed === undefined && !up()) abort("peer down or link cut");
          if (failed !== undefined) throw new Error(`snapshot transfer failed: ${failed}`);
          yield new Uint8Array(c); // a copy: the sender may reuse its buffer
        }
        if (failed === undefined && !up()) abort("peer down or link cut");
        if (failed !== undefined) throw new Error(`snapshot transfer failed: ${failed}`);
        readToEnd = true;
      } finally {
        release();
      }
    };
    setImmediate(() => {
      if (!up()) {
        abort("peer down or link cut");
        return;
      }
      let handled: Promise<void>;
      try {
        handled = receiver!.processSnapshot(m, chunks());
      } catch (err) {
        handled = Promise.reject(err);
      }
      handled.then(
        () => {
          if (!readToEnd) abort("the receiver did not read the image to its end");
          else if (!up()) abort("peer down or link cut");
          else settle("finish");
        },
        (err: unknown) => abort(`the receiver failed: ${String(err)}`),
      );
    });
  }
}

/** The value of a prom-client counter (with labels). */
export async function counterValue(
  c: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const v = await c.get();
  return v.values
    .filter((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val))
    .reduce((a, x) => a + x.value, 0);
}
