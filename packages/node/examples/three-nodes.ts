// Three RaftNodes in one process, each with its own data directory and WebSocket port, replicating
// the LongestWords state machine: propose words on any node, read linearizably on another.
import { join } from "node:path";
import { isRaftNodeError, RaftNode } from "@tsraft/node";
import { LongestWords } from "./longest-words.js";

/** Returns the three longest words as node 1 answered the last proposal, and as node 3 reads them. */
export async function threeNodes(
  dataDir: string,
  ports: number[],
): Promise<{ node1: string[]; node3: string[] }> {
  const peers = new Map(ports.map((port, i) => [i + 1, `ws://127.0.0.1:${port}`]));
  const machines = [new LongestWords(), new LongestWords(), new LongestWords()];
  const nodes = await Promise.all(
    machines.map((stateMachine, i) =>
      RaftNode.start({
        id: i + 1,
        clusterId: 1,
        peers,
        dataDir: join(dataDir, `node-${i + 1}`),
        stateMachine,
      }),
    ),
  );
  try {
    let node1: string[] = [];
    for (const word of "consensus lets several machines agree on one sequence of values".split(" ")) {
      // Any node takes a proposal (Raft forwards it to the leader); none is known until the
      // first election is over: then it answers NoLeader, and nothing was proposed.
      for (;;) {
        try {
          node1 = await nodes[0]!.propose(new TextEncoder().encode(word)); // applied on node 1
          break;
        } catch (e) {
          if (!isRaftNodeError(e, "NoLeader")) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    // A linearizable read on node 3: once it resolves, node 3 has applied every word above.
    await nodes[2]!.linearizableRead();
    return { node1, node3: machines[2]!.top() };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}
