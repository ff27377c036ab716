/**
 * Backup and restore as an operator runs them (issue 15, items 3 and 4), with real processes and
 * files: `tsraft-kv backup` of a 3-node cluster under a running write load, then `tsraft-kv
 * restore` of that file into the data directories of a fresh 3-node cluster (a new cluster id).
 * A restored member started alone (no quorum: it applies nothing more) answers `/debug/hash` at
 * exactly the backup's index with the digest the source computed from its own database at that
 * index; the restored cluster then elects a leader, every member agrees, every write acknowledged
 * before the backup began is there, and it serves writes. Bad input: a truncated or altered file
 * is refused by restore with the reason and creates nothing; a backup without the admin token is
 * refused and leaves no file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI_MISSING, Cluster, FAST_RAFT, KvProcess, waitFor } from "./cluster.js";
import { debugHash, runCli, type StateHash, startLoad, statusOf } from "./ops-kit.js";

interface BackupLine {
  file: string;
  index: number;
  term: number;
  revision: number;
  bytes: number;
  sha256: string;
  stateHash: string;
}

describe.skipIf(CLI_MISSING)("backup under load, restore into a new cluster", () => {
  let src: Cluster;
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-backup-"));
  const restored: KvProcess[] = [];
  let backup: BackupLine;
  const file = join(dir, "kv.backup");

  beforeAll(async () => {
    src = await Cluster.start({ size: 3 });
  });
  afterAll(async () => {
    await Promise.all(restored.map((p) => p.kill()));
    await src?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("backs up a consistent image while writes go on, and a restored cluster holds exactly it", async () => {
    const urls = [...src.nodes.values()].map((n) => n.url);
    const load = startLoad("load", () => urls);
    await waitFor("200 acknowledged writes", async () => load.acks.length >= 200);

    const t0 = performance.now();
    const acksBefore = load.acks.length;
    const before = load.acks.slice();
    const r = await runCli(["backup", "--endpoint", urls[1]!, "--out", file]);
    const t1 = performance.now();
    const acksDuring = load.acks.filter((a) => a.at > t0 && a.at < t1).length;
    await waitFor(
      "100 more writes after the backup",
      async () => load.acks.length >= acksBefore + acksDuring + 100,
    );
    await load.stop();
    expect(r.code, r.stderr).toBe(0);
    backup = JSON.parse(r.stdout) as BackupLine;
    const srcEnd = await statusOf(urls[0]!);
    console.log(
      `backup: index ${backup.index} term ${backup.term} revision ${backup.revision}, ${backup.bytes} bytes in ${(t1 - t0).toFixed(0)} ms (CLI run); ` +
        `${acksDuring} writes acknowledged meanwhile; source at ${srcEnd.kv.appliedIndex} after ${load.acks.length} writes`,
    );
    expect(statSync(file).size).toBe(backup.bytes);
    expect(backup.stateHash).toMatch(/^[0-9a-f]{64}$/);
    // The writes went on: the source is well past the backup's index.
    expect(srcEnd.kv.appliedIndex).toBeGreaterThan(backup.index);
    expect(backup.revision).toBeGreaterThanOrEqual(before.length);
    expect(existsSync(`${file}.part`)).toBe(false);

    // Restore into three fresh data directories, a new cluster.
    const ports = await freePorts(6);
    const peers = [0, 1, 2].map((i) => `ws://127.0.0.1:${ports[2 * i]}`).join(",");
    const lines: { clusterId: number; index: number; start: string }[] = [];
    for (let id = 1; id <= 3; id++) {
      const out = await runCli([
        "restore",
        file,
        "--cluster",
        peers,
        "--id",
        String(id),
        "--data-dir",
        join(dir, `r${id}`),
      ]);
      expect(out.code, out.stderr).toBe(0);
      lines.push(JSON.parse(out.stdout));
    }
    const clusterId = lines[0]!.clusterId;
    expect(lines.map((l) => l.clusterId)).toEqual([clusterId, clusterId, clusterId]);
    expect(lines.map((l) => l.index)).toEqual([backup.index, backup.index, backup.index]);
    expect(lines[0]!.start).toContain(`--cluster-id ${clusterId}`);
    for (let id = 1; id <= 3; id++) {
      restored.push(
        new KvProcess(
          id,
          `ws://127.0.0.1:${ports[2 * (id - 1)]}`,
          ports[2 * (id - 1) + 1]!,
          join(dir, `r${id}`),
          ["--cluster", peers, "--cluster-id", String(clusterId), ...FAST_RAFT],
        ),
      );
    }

    // Member 1 alone has no quorum: it stays at the backup's index, where its digest is the source's.
    restored[0]!.start();
    const alone: StateHash = await waitFor("restored member 1 to serve", () => debugHash(restored[0]!.url));
    console.log(
      `restored member 1 alone: ${JSON.stringify(alone)}; the source's at ${backup.index}: ${backup.stateHash}`,
    );
    // Every write of the load is a new key: a state of one index has exactly `revision` keys (a
    // key written after the image's index would make one more), and one change per revision since
    // the compact revision in its history.
    expect(alone).toMatchObject({
      appliedIndex: backup.index,
      revision: backup.revision,
      keys: backup.revision,
      hash: backup.stateHash,
    });
    expect(alone.changes).toBe(alone.revision - alone.compactRevision);

    restored[1]!.start();
    restored[2]!.start();
    const leader = await waitFor("a leader of the restored cluster", async () => {
      const s = await statusOf(restored[0]!.url);
      return s.lead !== 0 && s.lead <= 3 ? s.lead : undefined;
    });
    const lurl = restored[leader - 1]!.url;
    // Every write acknowledged before the backup began is there.
    for (const a of before) {
      const res = await fetch(`${lurl}/kv/${a.key}?consistency=serializable`);
      expect([a.key, res.status, await res.text()]).toEqual([a.key, 200, a.value]);
    }
    // It serves writes, and every member applies them to the same state.
    const put = await fetch(`${lurl}/kv/after-restore`, { method: "PUT", body: "yes" });
    expect(put.status).toBe(204);
    const target = (await statusOf(lurl)).kv.appliedIndex;
    const hashes = await waitFor("every restored member at the same index", async () => {
      const hs = await Promise.all(restored.map((p) => debugHash(p.url)));
      return hs.every((h) => h.appliedIndex >= target) &&
        hs.every((h) => h.appliedIndex === hs[0]!.appliedIndex)
        ? hs
        : undefined;
    });
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
    expect(hashes[0]!.revision).toBe(backup.revision + 1);
    // A new cluster: its members' status name none of the source's.
    expect((await statusOf(lurl)).members.map((m) => m.url).join(",")).toBe(peers);
  });

  it("refuses a truncated or altered backup file with the reason, creating nothing", async () => {
    expect(existsSync(file), "the first test's backup").toBe(true);
    const whole = readFileSync(file);
    const truncated = join(dir, "truncated.backup");
    writeFileSync(truncated, whole.subarray(0, whole.length - 100));
    const altered = join(dir, "altered.backup");
    const bad = Buffer.from(whole);
    bad[Math.floor(bad.length / 2)]! ^= 0x40;
    writeFileSync(altered, bad);
    const peers = "ws://127.0.0.1:1,ws://127.0.0.1:2";
    for (const [f, why] of [
      [truncated, /not a valid backup: kv image: truncated/],
      // Where the flipped bit lands decides which check sees it first (the checksum, or a field
      // of a record that cannot be: a length, a kind, an order, a revision after the image's), so
      // the reason varies with the data; every one is an ImageError naming the byte it saw.
      [altered, /not a valid backup: kv image: .+ \(at byte \d+\)$/m],
    ] as const) {
      const target = join(dir, `never-${f.length}`);
      const r = await runCli(["restore", f, "--cluster", peers, "--id", "1", "--data-dir", target]);
      console.log(`restore ${f}: exit ${r.code}: ${r.stderr.trim()}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(why);
      expect(r.stderr).not.toMatch(/\n\s+at /); // one line, no stack
      expect(existsSync(target)).toBe(false);
    }
    // Into a directory that holds something: refused, untouched.
    const used = join(dir, "used");
    const first = await runCli(["restore", file, "--cluster", peers, "--id", "1", "--data-dir", used]);
    expect(first.code, first.stderr).toBe(0);
    const again = await runCli(["restore", file, "--cluster", peers, "--id", "1", "--data-dir", used]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty/);
  });

  it("a backup that fails leaves no file: nothing listening, or an existing --out", async () => {
    const [port] = await freePorts(1);
    const out = join(dir, "none.backup");
    const r = await runCli(["backup", "--endpoint", `http://127.0.0.1:${port}`, "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(existsSync(out) || existsSync(`${out}.part`)).toBe(false);
    const exists = await runCli(["backup", "--endpoint", src.node(1).url, "--out", file]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/exists; choose another --out/);
  });
});
