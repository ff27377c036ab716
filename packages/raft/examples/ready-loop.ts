// A three-node cluster in one process, driven the way a real driver drives each node:
// tick, feed in messages, take a Ready, persist, send, apply, advance.
import { MemoryStorage, RawNode, type Ready } from "@tsraft/raft";
import { EntryType, type Message } from "@tsraft/raft/raftpb";

interface Host {
  node: RawNode;
  storage: MemoryStorage;
  kv: Map<string, string>; // the application's state machine
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
    hosts.set(id, { node, storage, kv: new Map() });
  }

  const handle = (h: Host, rd: Ready) => {
    // 1. Persist first: HardState, then entries (a real driver writes and fsyncs its WAL here
    //    when rd.mustSync, and applies rd.snapshot if there is one).
    if (rd.hardState) h.storage.setHardState(rd.hardState);
    h.storage.append(rd.entries);
    // 2. Then send (a leader may send before persisting: Raft thesis §10.2.1).
    network.push(...rd.messages);
    // 3. Apply what is committed, in order.
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.EntryNormal && e.data.length > 0) {
        const [k, v] = new TextDecoder().decode(e.data).split("=");
        h.kv.set(k!, v!);
      } else if (e.type !== EntryType.EntryNormal) {
        // Conf changes: decode e.data and call h.node.applyConfChange(cc) (none in this example).
      }
    }
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
  return [...hosts.values()].map((h) => h.kv);
}
