/**
 * The Ready loop (etcd's raftNode.start), in both of the core's modes.
 *
 * **Advance mode**, per Ready, in this order:
 * 1. SoftState (leader, role) and ReadStates are recorded;
 * 2. on a leader, committed entries and the snapshot go to the apply queue (applied concurrently,
 *    in order; requests are answered before the WAL write below);
 * 3. a **leader sends its messages at once**, in parallel with its own disk write (thesis §10.2.1),
 *    except the responses that promise durability (MsgAppResp, MsgVoteResp, MsgPreVoteResp);
 * 4. an incoming snapshot is saved (snapshot file, then its WAL marker) before anything else;
 * 5. HardState and entries are written to the WAL with one write, fsynced only when `mustSync`;
 * 6. with a snapshot, the WAL is fsynced, the snapshot applied to MemoryStorage, older segments released;
 * 7. the entries are appended to MemoryStorage (what the core reads);
 * 8. a **follower or candidate sends its messages only now**, after the write is durable; if the
 *    Ready committed a conf change, it first waits until the apply loop has applied it (etcd: so
 *    that votes are never counted against a stale configuration);
 * 9. a follower or candidate hands its committed entries to the apply queue only now (unless a conf
 *    change made it do so at 2), so that applying them does not delay its acknowledgement;
 * 10. `advance()`.
 *
 * **asyncStorageWrites mode**: the Ready's network messages are sent at once — unless the Ready
 * changes term or vote: then they wait until that is durable (see handleReadyAsync) — MsgStorageAppend
 * goes to the append worker, which writes (with the
 * same snapshot-first order) and then delivers its responses — to peers, or stepped back into the
 * core; MsgStorageApply goes to the apply loop, which steps its responses back once applied.
 */
import { LocalAppendThread, LocalApplyThread, type Ready, StateType } from "@tsraft/raft";
import {
  EntryType,
  type HardState,
  isEmptyHardState,
  isEmptySnap,
  type Message,
  MessageType,
  type Snapshot,
} from "@tsraft/raft/raftpb";
import { trace, tracing } from "../trace.js";
import type { ApplyJob } from "./apply-loop.js";
import type { Runtime } from "./runtime.js";
import { deferred, RESOLVED } from "./sync.js";

/**
 * Runs until the node stops: takes each Ready and handles it.
 *
 * Before taking a Ready it lets the event loop finish the turn it is in (setImmediate: after the
 * I/O callbacks of the current poll phase): every HTTP request, peer frame and disk completion that
 * arrived together is stepped into the core first, so they share one Ready — one WAL write and
 * fsync, one MsgApp per peer (group commit). Taking the Ready from a microtask instead would run
 * the loop after the first of those callbacks, and with a disk that answers at once (blocking
 * writes) every proposal would pay its own fsync. The cost at low load is one pass through the
 * event loop's check phase, a few microseconds.
 */
export async function runReadyLoop(rt: Runtime): Promise<void> {
  while (!rt.stopping) {
    if (!rt.rawNode.hasReady()) {
      await rt.wakeup.wait();
      continue;
    }
    await endOfTurn();
    if (rt.stopping) return;
    const rd = rt.rawNode.ready();
    if (rt.o.asyncStorageWrites) await handleReadyAsync(rt, rd);
    else await handleReady(rt, rd);
  }
}

/**
 * The peers whose only messages in `msgs` are MsgApps without entries — a new commit index, which
 * nothing waits for on the follower's side except its own apply — or undefined if there are none.
 * A leader sends those after answering the requests its Ready commits, rather than spend the
 * socket writes (and the followers' wake-ups) first. Peers with anything else in the Ready get all
 * of their messages at once, so a peer's messages keep their order (a later Ready is taken after
 * the deferred send: both go through setImmediate, which runs callbacks in order).
 */
function commitOnlyPeers(msgs: readonly Message[]): Set<number> | undefined {
  const only = new Set<number>();
  const other = new Set<number>();
  for (const m of msgs) {
    if (m.type === MessageType.MsgApp && m.entries.length === 0) only.add(m.to);
    else other.add(m.to);
  }
  for (const id of other) only.delete(id);
  return only.size > 0 ? only : undefined;
}

/** Resolves in the check phase of the current event-loop turn (after its I/O callbacks). */
function endOfTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Messages that promise the sender's log or vote is durable: never sent before the write. */
function needsDurability(m: Message): boolean {
  return (
    m.type === MessageType.MsgAppResp ||
    m.type === MessageType.MsgVoteResp ||
    m.type === MessageType.MsgPreVoteResp
  );
}

async function handleReady(rt: Runtime, rd: Ready): Promise<void> {
  if (tracing) {
    trace("rd", {
      e0: rd.entries[0]?.index ?? 0,
      e1: rd.entries[rd.entries.length - 1]?.index ?? 0,
      c0: rd.committedEntries[0]?.index ?? 0,
      c1: rd.committedEntries[rd.committedEntries.length - 1]?.index ?? 0,
      msgs: rd.messages.length,
      sync: rd.mustSync,
    });
  }
  rt.onSoftState(rd.softState);
  if (rd.readStates.length > 0) rt.reads.onReadStates(rd.readStates);
  const snap = rd.snapshot !== undefined && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;

  const persisted = deferred();
  const advanced = deferred();
  const job: ApplyJob = {
    entries: rd.committedEntries,
    snapshot: snap,
    persisted: persisted.promise,
    advanced: advanced.promise,
    applied: deferred(),
    responses: [],
  };
  const toApply = rd.committedEntries.length > 0 || snap !== undefined;
  const leader = rt.raftState === StateType.StateLeader;
  // A follower with a committed conf change applies it before it sends (see below).
  const confChange = !leader && rd.committedEntries.some((e) => e.type !== EntryType.EntryNormal);
  // The leader hands its committed entries to the apply loop first, which applies them (and
  // answers their requests) at the Ready loop's next await, before the WAL write. A follower hands
  // them over only after its acknowledgement is out: the leader waits for that, and nothing waits
  // for a follower's apply, which runs at the same point and would delay it (~50 µs of SQLite).
  const applyFirst = leader || confChange;
  if (toApply && applyFirst) await rt.untilStopped(rt.applier.queue.push(job));

  let later: readonly Message[] = rd.messages;
  if (leader) {
    const now = rd.messages.filter((m) => !needsDurability(m));
    const commitOnly = toApply ? commitOnlyPeers(now) : undefined;
    if (commitOnly === undefined) {
      rt.send(now);
    } else {
      // These only tell followers the new commit index: they wait until the entries it commits are
      // applied here and their requests answered (microtasks, which run before the next immediate).
      rt.send(now.filter((m) => !commitOnly.has(m.to)));
      const deferredMsgs = now.filter((m) => commitOnly.has(m.to));
      setImmediate(() => rt.send(deferredMsgs));
    }
    later = rd.messages.filter(needsDurability);
  }

  if (snap !== undefined) await saveSnapshotFiles(rt, snap);
  await rt.untilStopped(rt.wal.save(rd.hardState, rd.entries, rd.mustSync));
  if (tracing) trace("rd.saved");
  if (snap !== undefined) await installSnapshot(rt, snap);
  if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) {
    rt.storage.setHardState(rd.hardState);
    rt.metrics.term.set(rd.hardState.term);
    rt.metrics.commitIndex.set(rd.hardState.commit);
  }
  rt.storage.append(rd.entries);
  persisted.resolve();

  if (confChange) await rt.untilStopped(job.applied.promise);
  rt.send(later);
  if (toApply && !applyFirst) await rt.untilStopped(rt.applier.queue.push(job));
  if (rt.stopping) return;
  rt.rawNode.advance();
  advanced.resolve();
  if (tracing) trace("rd.end");
}

async function handleReadyAsync(rt: Runtime, rd: Ready): Promise<void> {
  rt.onSoftState(rd.softState);
  if (rd.readStates.length > 0) rt.reads.onReadStates(rd.readStates);
  const out = rd.messages.filter((m) => m.to !== LocalAppendThread && m.to !== LocalApplyThread);
  // A Ready that changes term or vote holds its network messages until that change is durable:
  // they ride on the MsgStorageAppend as responses, which the append worker sends after its write.
  // etcd sends them at once, but then a candidate can win term T before T is on its disk, crash,
  // come back in T-1, win T again and write different entries at the same (index, term) — a Log
  // Matching violation our simulator found (packages/raft/src/rafttest/sim, "vote-before-persist").
  const append = rd.messages.find((m) => m.to === LocalAppendThread);
  const queued = rt.lastQueuedHardState;
  const holdUntilDurable =
    append !== undefined &&
    (append.term !== 0 || append.vote !== 0) &&
    (append.term !== queued.term || append.vote !== queued.vote);
  if (holdUntilDurable) {
    rt.lastQueuedHardState = { term: append.term, vote: append.vote, commit: append.commit };
    append.responses.push(...out);
  }
  for (const m of rd.messages) {
    if (m.to === LocalAppendThread) {
      // Waits while the append worker is a full queue behind (backpressure on the Ready loop).
      await rt.untilStopped(rt.appendQueue.push(m));
    } else if (m.to === LocalApplyThread) {
      const job: ApplyJob = {
        entries: m.entries,
        snapshot: undefined,
        persisted: RESOLVED, // async mode hands out only entries that are durable already
        advanced: RESOLVED,
        applied: deferred(),
        responses: m.responses,
      };
      await rt.untilStopped(rt.applier.queue.push(job));
    }
  }
  if (!holdUntilDurable) rt.send(out);
}

/** asyncStorageWrites: the append worker, one MsgStorageAppend at a time, in order. */
export async function runAppendLoop(rt: Runtime): Promise<void> {
  for (;;) {
    const m = await rt.untilStopped(rt.appendQueue.shift());
    if (m === undefined) return;
    await processAppend(rt, m);
  }
}

async function processAppend(rt: Runtime, m: Message): Promise<void> {
  const hs: HardState = { term: m.term, vote: m.vote, commit: m.commit };
  const hasHs = !isEmptyHardState(hs);
  const snap = m.snapshot !== undefined && !isEmptySnap(m.snapshot) ? m.snapshot : undefined;
  // The same rule as Ready.mustSync: new entries, or a new term or vote.
  const prev = rt.lastHardState;
  const mustSync = m.entries.length > 0 || (hasHs && (hs.term !== prev.term || hs.vote !== prev.vote));

  if (snap !== undefined) await saveSnapshotFiles(rt, snap);
  await rt.untilStopped(rt.wal.save(hasHs ? hs : undefined, m.entries, mustSync));
  if (hasHs) rt.lastHardState = hs;
  if (snap !== undefined) {
    await installSnapshot(rt, snap);
    // The state machine restores it before any entry after it can be handed out for applying:
    // those come only after the core has stepped this append's response, below.
    const job: ApplyJob = {
      entries: [],
      snapshot: snap,
      persisted: RESOLVED,
      advanced: RESOLVED,
      applied: deferred(),
      responses: [],
    };
    await rt.untilStopped(rt.applier.queue.push(job));
  }
  if (hasHs) {
    rt.storage.setHardState(hs);
    rt.metrics.term.set(hs.term);
    rt.metrics.commitIndex.set(hs.commit);
  }
  rt.storage.append(m.entries);

  const out: Message[] = [];
  for (const r of m.responses) {
    if (r.to === rt.o.id) rt.stepLocal(r);
    else out.push(r);
  }
  rt.send(out);
}

/**
 * Saves an incoming snapshot before the entries and HardState that follow it (etcd, raftexample):
 * the file first (fsynced), then its WAL marker, so a marker never names a missing file.
 */
async function saveSnapshotFiles(rt: Runtime, snap: Snapshot): Promise<void> {
  const { index, term, confState } = snap.metadata;
  rt.log.info({ index, term, bytes: snap.data.length }, "saving incoming snapshot");
  await rt.untilStopped(rt.snapshotter.save(snap));
  await rt.untilStopped(rt.wal.saveSnapshot({ index, term, confState }));
}

/**
 * After the write: fsync the WAL (etcd-io/etcd#10219: the HardState must be durable before older
 * segments go), hand the snapshot to MemoryStorage, and release the segments it covers.
 */
async function installSnapshot(rt: Runtime, snap: Snapshot): Promise<void> {
  await rt.untilStopped(rt.wal.sync());
  rt.storage.applySnapshot(snap);
  await rt.untilStopped(rt.wal.releaseLockTo(snap.metadata.index));
  rt.log.info({ index: snap.metadata.index }, "applied incoming snapshot to raft storage");
}
