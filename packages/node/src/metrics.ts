import { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * The counters, gauges and histograms a Raft operator expects, on one prom-client registry per node
 * (so several nodes can live in one process, as the tests run them). The KV server serves the
 * registry at /metrics; each component of the node takes this object and updates its own series.
 */
export interface NodeMetrics {
  readonly registry: Registry;
  // Raft state.
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly isLeader: Gauge;
  readonly hasLeader: Gauge;
  readonly leaderChanges: Counter;
  readonly proposals: Counter<"result">;
  readonly proposalsPending: Gauge;
  readonly proposalDurationSeconds: Histogram;
  readonly appliedEntries: Counter;
  readonly applyDurationSeconds: Histogram;
  readonly readIndexRequests: Counter<"result">;
  readonly snapshotsApplied: Counter;
  // Storage.
  readonly walFsyncSeconds: Histogram;
  readonly walWriteBytes: Counter;
  readonly walRecordsWritten: Counter;
  readonly walReadBackSeconds: Histogram;
  readonly walReadAheadBytes: Counter;
  readonly snapshotsSaved: Counter;
  readonly snapshotSaveSeconds: Histogram;
  readonly compactions: Counter;
  readonly compactionSeconds: Histogram;
  readonly catchUpPacedBytes: Counter<"to">;
  // Transport.
  readonly messagesSent: Counter;
  readonly messagesReceived: Counter;
  readonly messagesDropped: Counter<"reason">;
  readonly framesRejected: Counter<"reason">;
  readonly peerUnreachable: Counter;
  readonly snapshotsSent: Counter<"result">;
  readonly snapshotsReceived: Counter<"result">;
  readonly snapshotBytesSent: Counter;
  readonly snapshotBytesReceived: Counter;
}

/** Creates the node's metrics on `registry` (a fresh one by default). Series names start `tsraft_`. */
export function createNodeMetrics(registry: Registry = new Registry()): NodeMetrics {
  const registers = [registry];
  const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
    new Counter<L>({ name: `tsraft_${name}`, help, labelNames, registers });
  const gauge = (name: string, help: string) => new Gauge({ name: `tsraft_${name}`, help, registers });
  const histogram = (name: string, help: string, buckets: number[]) =>
    new Histogram({ name: `tsraft_${name}`, help, buckets, registers });
  // Disk latencies from 0.1 ms to ~8 s (etcd's wal_fsync_duration_seconds buckets).
  const diskBuckets = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256];
  // Request latencies from 1 ms to ~8 s.
  const requestBuckets = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
  ];
  return {
    registry,
    term: gauge("term", "Current Raft term."),
    commitIndex: gauge("commit_index", "Highest log index known to be committed."),
    appliedIndex: gauge("applied_index", "Highest log index applied to the state machine."),
    isLeader: gauge("is_leader", "1 if this node is the leader, else 0."),
    hasLeader: gauge("has_leader", "1 if this node knows a leader, else 0."),
    leaderChanges: counter("leader_changes_seen_total", "Leader changes seen by this node."),
    proposals: counter(
      "proposals_total",
      "Proposals and conf changes by result (committed = applied on this node, dropped, timeout, failed).",
      ["result"],
    ),
    proposalsPending: gauge("proposals_pending", "Proposals and conf changes waiting to apply on this node."),
    proposalDurationSeconds: histogram(
      "proposal_duration_seconds",
      "Time from propose to applied on this node.",
      requestBuckets,
    ),
    appliedEntries: counter("applied_entries_total", "Log entries applied to the state machine."),
    applyDurationSeconds: histogram(
      "apply_duration_seconds",
      "Time the state machine took to apply one batch of entries.",
      diskBuckets,
    ),
    readIndexRequests: counter(
      "read_index_total",
      "ReadIndex rounds (one per batch of linearizable reads) by result.",
      ["result"],
    ),
    snapshotsApplied: counter(
      "snapshots_applied_total",
      "Snapshots from the leader restored into the state machine.",
    ),
    walFsyncSeconds: histogram("wal_fsync_duration_seconds", "Latency of WAL fdatasync calls.", diskBuckets),
    walWriteBytes: counter("wal_write_bytes_total", "Bytes written to the WAL."),
    walRecordsWritten: counter("wal_records_total", "Records written to the WAL."),
    walReadBackSeconds: histogram(
      "wal_read_back_duration_seconds",
      "Time the event loop spent reading entries back from the WAL for a follower catching up.",
      diskBuckets,
    ),
    walReadAheadBytes: counter(
      "wal_read_ahead_bytes_total",
      "WAL bytes read ahead of a catching-up follower's next entries, to have them in the page cache.",
    ),
    snapshotsSaved: counter("snapshots_saved_total", "Snapshots saved to disk."),
    snapshotSaveSeconds: histogram("snapshot_save_duration_seconds", "Time to save a snapshot.", diskBuckets),
    compactions: counter("compactions_total", "Log compactions (the state made durable, then the log cut)."),
    compactionSeconds: histogram(
      "compaction_duration_seconds",
      "Time from a compaction's start (between two applies) to the log cut, off the apply path.",
      [0.001, 0.004, 0.016, 0.064, 0.256, 1, 4, 16, 64],
    ),
    catchUpPacedBytes: counter(
      "catch_up_paced_bytes_total",
      "Entry bytes this leader sent at the catch-up pace to a follower far behind its commit, by peer.",
      ["to"],
    ),
    messagesSent: counter("messages_sent_total", "Raft messages handed to peer connections, by peer.", [
      "to",
    ]),
    messagesReceived: counter("messages_received_total", "Raft messages received from peers, by peer.", [
      "from",
    ]),
    messagesDropped: counter("messages_dropped_total", "Raft messages dropped, by reason.", ["reason"]),
    framesRejected: counter("frames_rejected_total", "Malformed or refused frames, by reason.", ["reason"]),
    peerUnreachable: counter("peer_unreachable_total", "Times a peer was reported unreachable, by peer.", [
      "to",
    ]),
    snapshotsSent: counter("snapshots_sent_total", "Snapshots streamed to peers, by result.", ["result"]),
    snapshotsReceived: counter("snapshots_received_total", "Snapshots received, by result.", ["result"]),
    snapshotBytesSent: counter("snapshot_sent_bytes_total", "Snapshot bytes streamed to peers, by peer.", [
      "to",
    ]),
    snapshotBytesReceived: counter(
      "snapshot_received_bytes_total",
      "Snapshot bytes received from peers, by peer.",
      ["from"],
    ),
  };
}
