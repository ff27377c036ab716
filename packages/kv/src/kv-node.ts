/**
 * The part of `RaftNode` the HTTP layer uses, as an interface so the HTTP server can be tested
 * against a fake node (and run against the real one, which has exactly these members).
 */

/** Per-call options of the node's waiting operations. */
export interface WaitOptions {
  /** Fail with a `Timeout` error after this long (the node's default when absent). */
  timeoutMs?: number;
  /** Abort the wait, e.g. when the HTTP client went away; the promise rejects. */
  signal?: AbortSignal;
}

/** One cluster member as the node knows it. */
export interface MemberInfo {
  readonly id: number;
  readonly url: string;
  readonly learner: boolean;
}

/** What the KV HTTP server needs from the Raft node. */
export interface KvNode {
  readonly id: number;
  /** Proposes `data` and resolves with the state machine's result once it is applied on this node. */
  propose(data: Uint8Array, opts?: WaitOptions): Promise<unknown>;
  /** Resolves once this node has applied everything committed when the call was made (ReadIndex). */
  linearizableRead(opts?: WaitOptions): Promise<void>;
  /** Conf changes resolve once applied on this node. */
  addMember(id: number, url: string, opts?: WaitOptions & { learner?: boolean }): Promise<void>;
  removeMember(id: number, opts?: WaitOptions): Promise<void>;
  promoteMember(id: number, opts?: WaitOptions): Promise<void>;
  members(): MemberInfo[];
  /** Raft status for `/status`; any JSON-able shape (Maps become objects). */
  status(): object;
  /** The leader's id as this node knows it, 0 for none. */
  leader(): number;
}

/** The read side of the state machine the HTTP layer uses. */
export interface KvStore {
  get(key: Uint8Array): Uint8Array | undefined;
  appliedIndex(): number;
  revision(): number;
  count(): number;
  /** A digest of the whole store at its applied index (see SqliteStateMachine.stateHash). */
  stateHash(): { appliedIndex: number; revision: number; keys: number; hash: string };
}
