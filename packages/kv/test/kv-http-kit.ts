/**
 * The HTTP tests' stand-in for a node (packages/kv/src/http-*.test.ts): proposals apply at once to
 * a real SQLite state machine in a temp directory, behind the real HTTP server on a free port.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Member, RaftNodeStatus, RequestOptions as WaitOptions } from "@tsraft/node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { closeKvWatches, createKvHttpServer, type KvHttpOptions, type KvNode } from "../src/http.js";
import { type ApplyResult, SqliteStateMachine } from "../src/sqlite-state-machine.js";

/** Applies each proposal at once, as a one-node cluster would; `failNext` makes the next proposals fail. */
export class ApplyingNode implements KvNode {
  readonly id = 1;
  index = 0;
  reads = 0;
  proposals = 0;
  /** The next proposals throw this node error (e.g. `{ code: "NoLeader" }`), then it is cleared. */
  failNext: { code: string; times: number } | undefined;

  constructor(private readonly sm: SqliteStateMachine) {}

  async propose(data: Uint8Array, _opts?: WaitOptions): Promise<ApplyResult> {
    this.proposals++;
    if (this.failNext !== undefined && this.failNext.times-- > 0) {
      throw Object.assign(new Error(`injected ${this.failNext.code}`), { code: this.failNext.code });
    }
    const [result] = await this.sm.apply([{ index: ++this.index, term: 1, kind: "normal", data }]);
    if (result === undefined) throw new Error("a normal entry has a result");
    return result;
  }

  async linearizableRead(_opts?: WaitOptions): Promise<void> {
    this.reads++;
  }

  async addMember(): Promise<void> {}
  async removeMember(): Promise<void> {}
  async promoteMember(): Promise<void> {}
  members(): Member[] {
    return [{ id: 1, url: "ws://127.0.0.1:1", learner: false }];
  }
  status(): RaftNodeStatus {
    return {
      id: 1,
      term: 1,
      vote: 1,
      commit: this.index,
      applied: this.index,
      lead: 1,
      state: "StateLeader",
      leadTransferee: 0,
      snapshotIndex: 0,
      progress: {},
      members: this.members(),
    };
  }
  leader(): number {
    return 1;
  }
}

/** A running HTTP server on a fresh state machine. */
export interface KvHttpKit {
  readonly sm: SqliteStateMachine;
  readonly node: ApplyingNode;
  readonly server: Server;
  readonly base: string;
  close(): Promise<void>;
}

/** Starts the HTTP server on 127.0.0.1 over a fresh state machine (with `options` passed on). */
export async function startKvHttpKit(
  options: Partial<Omit<KvHttpOptions, "node" | "store">> = {},
): Promise<KvHttpKit> {
  const { registry: _, ...rest } = options;
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-http-kit-"));
  const sm = SqliteStateMachine.open(dir, { commitIntervalMs: 20 });
  const node = new ApplyingNode(sm);
  const server = createKvHttpServer({
    logger: pino({ level: "silent" }),
    registry: options.registry ?? new Registry(),
    requestTimeoutMs: 2000,
    ...rest,
    node,
    store: sm,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    sm,
    node,
    server,
    base,
    async close() {
      closeKvWatches(server);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      sm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
