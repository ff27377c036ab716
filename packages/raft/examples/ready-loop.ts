// A three-node cluster in one process, driven the way a real driver drives each node:
// tick, feed in messages, take a Ready, persist, send, apply, advance.
import { type ApplyEntry, MemoryStorage, RawNode, type Ready, type StateMachine } from "@tsraft/raft";
import { EntryType, type Message } from "@tsraft/raft/raftpb";

// The application's state machine, in the contract RaftNode and the simulator drive as well.
class KvMap implements StateMachine<void> {
  readonly kv = new Map<string, string>();
  private applied = 0;
  appliedIndex = () => this.applied;
  apply(entries: readonly ApplyEntry[]): undefined[] {
    for (const e of entries) {
      this.applied = e.index;
      if (e.kind !== "normal") continue; // a leader's empty entry, or a conf change
      const [k, v] = new TextDecoder().decode(e.data).split("=");
      this.kv.set(k!, v!);
    }
    return entries.map(() => undefined);
  }
  snapshot = () => ({ index: this.applied, read: () => [], release: () => {} }); // unused here
  restore = () => {};
}

interface Host {
  node: RawNode;
  storage: MemoryStorage;
  sm: KvMap;
}

export function runReadyLoop(): Map<string, string>[] {
  const ids = [1, 2, 3];
  const network: Message[] = []; // a perfect network: delivered in order, next loop iteration
  const hosts = new Map<number, Host>();
  for (const id of ids) {
    const storage = new MemoryStorage();
    const node = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
    });
    node.bootstrap(ids.map((p) => ({ id: p }))); // a brand-new cluster; on restart, skip this
    hosts.set(id, { node, storage, sm: new KvMap() });
  }

  const handle = (h: Host, rd: Ready) => {
    // 1. Persist first: HardState, then entries (a real driver writes and fsyncs its WAL here
    //    when rd.mustSync, and applies rd.snapshot if there is one).
    if (rd.hardState) h.storage.setHardState(rd.hardState);
    h.storage.append(rd.entries);
    // 2. Then send (a leader may send before persisting: Raft thesis §10.2.1).
    network.push(...rd.messages);
    // 3. Apply what is committed, in order. (A conf change: decode e.data and call
    //    h.node.applyConfChange(cc) first; there is none in this example.)
    const kind = (type: EntryType, data: Uint8Array): ApplyEntry["kind"] =>
      type !== EntryType.EntryNormal ? "conf-change" : data.length === 0 ? "empty" : "normal";
    h.sm.apply(
      rd.committedEntries.map((e) => ({
        index: e.index,
        term: e.term,
        kind: kind(e.type, e.data),
        data: e.data,
      })),
    );
    // 4. Tell the node this Ready is done.
    h.node.advance();
  };

  let proposed = false;
  for (let tick = 0; tick < 100; tick++) {
    for (const h of hosts.values()) h.node.tick();
    // Deliver everything sent during the previous iteration.
    for (const m of network.splice(0)) hosts.get(m.to)?.node.step(m);
    for (const h of hosts.values()) {
      while (h.node.hasReady()) handle(h, h.node.ready());
    }
    const leader = [...hosts.values()].find((h) => h.node.basicStatus().lead === h.node.basicStatus().id);
    if (leader && !proposed) {
      leader.node.propose(new TextEncoder().encode("greeting=hello"));
      proposed = true;
    }
  }
  return [...hosts.values()].map((h) => h.sm.kv);
}
