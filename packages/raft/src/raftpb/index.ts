/** @tsraft/raft/raftpb: etcd's raft.proto types, helpers and wire codec. */
export * from "./types.js";
