/**
 * TEMPORARY: the shapes of the core's API the harness codes against (etcd's Go names in camelCase),
 * until branch `core` (RawNode, Config, Status), the tracker (Progress) and storage (MemoryStorage)
 * land. Type declarations only; replaced by imports of the real modules after merging.
 */
import type { Logger } from "../logger.js";
import type { ConfChangeI } from "../raftpb/confchange.js";
import type { ConfState, Entry, HardState, Message, Snapshot } from "../raftpb/types.js";
import type { Ready, StateType } from "../ready.js";

export enum ReadOnlyOption {
  ReadOnlySafe = 0,
  ReadOnlyLeaseBased = 1,
}

export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  entries(lo: number, hi: number, maxSize: number): Entry[];
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
}

export declare class MemoryStorage implements Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  entries(lo: number, hi: number, maxSize: number): Entry[];
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
  setHardState(st: HardState): void;
  applySnapshot(snap: Snapshot): void;
  compact(compactIndex: number): void;
  append(entries: readonly Entry[]): void;
}

export interface Config {
  id: number;
  electionTick: number;
  heartbeatTick: number;
  storage: Storage;
  applied?: number;
  asyncStorageWrites?: boolean;
  maxSizePerMsg?: number;
  maxCommittedSizePerReady?: number;
  maxUncommittedEntriesSize?: number;
  maxInflightMsgs: number;
  maxInflightBytes?: number;
  checkQuorum?: boolean;
  preVote?: boolean;
  readOnlyOption?: ReadOnlyOption;
  logger?: Logger;
  disableProposalForwarding?: boolean;
  disableConfChangeValidation?: boolean;
  stepDownOnRemoval?: boolean;
  random?: () => number;
}

export declare class Progress {
  toString(): string;
}

export interface BasicStatus {
  readonly id: number;
  readonly term: number;
  readonly vote: number;
  readonly commit: number;
  readonly lead: number;
  readonly raftState: StateType;
  readonly applied: number;
  readonly leadTransferee: number;
}

export interface Status extends BasicStatus {
  readonly config: { voters: { ids(): Set<number> } };
  readonly progress: ReadonlyMap<number, Progress>;
}

export declare function setRandomizedElectionTimeout(rn: RawNode, v: number): void;

export declare class RawNode {
  constructor(config: Config);
  tick(): void;
  campaign(): void;
  propose(data: Uint8Array): void;
  proposeConfChange(cc: ConfChangeI): void;
  applyConfChange(cc: ConfChangeI): ConfState;
  step(m: Message): void;
  ready(): Ready;
  hasReady(): boolean;
  advance(rd: Ready): void;
  status(): Status;
  basicStatus(): BasicStatus;
  reportUnreachable(id: number): void;
  transferLeader(transferee: number): void;
  forgetLeader(): void;
}
