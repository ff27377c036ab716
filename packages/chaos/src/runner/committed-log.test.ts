import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeCommand, encodeCommand } from "@tsraft/kv";
import { WAL } from "@tsraft/node";
import { type Entry, EntryType } from "@tsraft/raft/raftpb";
import { afterEach, describe, expect, it } from "vitest";
import { mergeCommittedLogs, type NodeLog, readNodeLog } from "./committed-log.js";

const b = (s: string) => new TextEncoder().encode(s);

/** RaftNode's proposal envelope: 0x01, uvarints node, nonce, seq, then the payload. */
function envelope(node: number, seq: number, payload: Uint8Array): Uint8Array {
  return new Uint8Array([1, node, 9, seq, ...payload]);
}
const putEntry = (index: number, term: number, key: string, value: string, seq = index, node = 1): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: envelope(node, seq, encodeCommand({ op: "put", key: b(key), value: b(value) })),
});
const delEntry = (index: number, term: number, key: string): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: envelope(2, index, encodeCommand({ op: "delete", key: b(key) })),
});
const empty = (index: number, term: number): Entry => ({
  index,
  term,
  type: EntryType.EntryNormal,
  data: new Uint8Array(),
});
const nodeLog = (id: number, commit: number, entries: Entry[]): NodeLog => ({
  id,
  commit,
  entries,
  error: undefined,
});

describe("mergeCommittedLogs", () => {
  it("merges overlapping logs into the writes, skipping no-ops", () => {
    const a = nodeLog(1, 3, [empty(1, 1), putEntry(2, 1, "x", "a"), delEntry(3, 1, "x")]);
    const c = nodeLog(2, 4, [putEntry(2, 1, "x", "a"), delEntry(3, 1, "x"), putEntry(4, 2, "y", "b")]);
    const m = mergeCommittedLogs([a, c], decodeCommand);
    expect(m.writes).toEqual([
      { index: 2, type: "put", key: "x", value: "a", prev: null },
      { index: 3, type: "delete", key: "x", value: null, prev: null },
      { index: 4, type: "put", key: "y", value: "b", prev: null },
    ]);
    expect(m.commit).toBe(4);
    expect([m.divergences, m.duplicateRequests, m.undecodable, m.gaps]).toEqual([[], [], [], []]);
  });

  it("reports nodes that committed different entries at one index", () => {
    const m = mergeCommittedLogs(
      [
        nodeLog(1, 2, [empty(1, 1), putEntry(2, 1, "x", "a")]),
        nodeLog(2, 2, [empty(1, 1), putEntry(2, 2, "x", "b")]),
      ],
      decodeCommand,
    );
    expect(m.divergences).toEqual(["index 2: node 1 committed term 1, node 2 term 2"]);
  });

  it("reports a request committed twice, undecodable entries and indexes no WAL holds", () => {
    const m = mergeCommittedLogs(
      [
        nodeLog(1, 6, [
          empty(1, 1),
          putEntry(2, 1, "x", "a", 7),
          putEntry(3, 1, "x", "a", 7),
          { index: 4, term: 1, type: EntryType.EntryNormal, data: b("junk") },
          putEntry(6, 1, "y", "c"),
        ]),
      ],
      decodeCommand,
    );
    expect(m.duplicateRequests).toEqual(["request 1/9/7 at indexes 2 and 3"]);
    expect(m.undecodable).toEqual(["index 4: not a proposal envelope"]);
    expect(m.gaps).toEqual(["5..5"]);
  });
});

describe("readNodeLog", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("reads the committed prefix of a real WAL without changing the directory", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "tsraft-chaos-wal-"));
    dirs.push(dataDir);
    const wal = await WAL.create(join(dataDir, "wal"), b("{}"));
    await wal.save({ term: 1, vote: 1, commit: 0 }, [empty(1, 1), putEntry(2, 1, "x", "a")], true);
    await wal.save({ term: 1, vote: 1, commit: 2 }, [putEntry(3, 1, "x", "uncommitted")], true);
    await wal.close();
    const before = readdirSync(join(dataDir, "wal")).sort();
    const log = await readNodeLog(3, dataDir);
    expect(log.error).toBeUndefined();
    expect(log.commit).toBe(2);
    expect(log.entries.map((e) => e.index)).toEqual([1, 2]);
    expect(readdirSync(join(dataDir, "wal")).sort()).toEqual(before);
  });

  it("says why when there is no WAL", async () => {
    const log = await readNodeLog(4, join(tmpdir(), "tsraft-chaos-no-such-dir"));
    expect(log.error).toMatch(/ENOENT|no such/);
    expect(log.entries).toEqual([]);
  });
});
