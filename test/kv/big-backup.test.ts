import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "@tsraft/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { ImageEncoder } from "../../packages/kv/src/image.js";
import { CLI_MISSING, FAST_RAFT, KvProcess, waitFor } from "./cluster.js";
import { runCli, startLoad, statusOf } from "./ops-kit.js";

const BIG = process.env.TSRAFT_BIG === "1";
const MIB = Number(process.env.TSRAFT_BIG_MIB ?? 1024);
const RSS_BOUND_MIB = 512;
const VALUE_BYTES = 16 * 1024;

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m === null ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}

/** Samples the RSS of the processes `pids()` names every 100 ms until stopped; the peaks. */
function sampler(pids: () => Record<string, number | undefined>) {
  const peak: Record<string, number> = {};
  const t = setInterval(() => {
    for (const [name, pid] of Object.entries(pids())) peak[name] = Math.max(peak[name] ?? 0, rssMiB(pid));
  }, 100);
  return {
    stop(): Record<string, number> {
      clearInterval(t);
      return peak;
    },
  };
}

/** Runs the CLI with `args`, sampling its RSS; exit code, stdout, stderr and peak RSS. */
async function runSampled(args: string[], extra: () => Record<string, number | undefined> = () => ({})) {
  let s: ReturnType<typeof sampler> | undefined;
  const r = await runCli(args, process.env, (p) => {
    s = sampler(() => ({ cli: p.pid, ...extra() }));
  });
  return { ...r, peaks: s?.stop() ?? {} };
}

/** Writes an image of `mib` MiB of 16 KiB values at index `index` to `path`; its record count. */
async function writeImage(path: string, mib: number, index: number): Promise<number> {
  const records = Math.ceil((mib * 1024 * 1024) / VALUE_BYTES);
  const enc = new ImageEncoder({ appliedIndex: index, revision: records, compactRevision: records });
  const out = createWriteStream(path);
  const value = randomBytes(VALUE_BYTES);
  const flush = async (chunks: Uint8Array[]) => {
    for (const c of chunks) if (!out.write(c)) await new Promise<void>((r) => out.once("drain", r));
  };
  for (let i = 0; i < records; i++) {
    value.writeUInt32BE(i, 0);
    enc.add(Buffer.from(`big-${String(i).padStart(8, "0")}`), value, {
      createRevision: i + 1,
      modRevision: i + 1,
      version: 1,
    });
    await flush(enc.take());
  }
  await flush(enc.finish());
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return records;
}

describe.skipIf(!BIG || CLI_MISSING)(`a ${MIB} MiB backup (TSRAFT_BIG=1)`, () => {
  const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-big-"));
  let node: KvProcess | undefined;
  afterAll(async () => {
    await node?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the server's RSS bounded while writes go on", { timeout: 30 * 60_000 }, async () => {
    const image = join(dir, "big.image");
    let t = performance.now();
    const records = await writeImage(image, MIB, 1000);
    console.log(
      `image: ${records} records of ${VALUE_BYTES} B in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );

    const [peerPort, httpPort] = await freePorts(2);
    const peer = `ws://127.0.0.1:${peerPort}`;
    const data = join(dir, "node-1");
    t = performance.now();
    const restore = await runSampled(["restore", image, "--cluster", peer, "--id", "1", "--data-dir", data]);
    expect(restore.code, restore.stderr).toBe(0);
    const { clusterId } = JSON.parse(restore.stdout) as { clusterId: number };
    console.log(
      `restore: ${((performance.now() - t) / 1000).toFixed(1)} s, peak RSS ${restore.peaks.cli?.toFixed(0)} MiB`,
    );
    rmSync(image);

    node = new KvProcess(1, peer, httpPort!, data, [
      "--cluster",
      peer,
      "--cluster-id",
      String(clusterId),
      ...FAST_RAFT,
    ]);
    node.start();
    await waitFor(
      "the restored member to lead",
      async () => (await statusOf(node!.url)).state === "StateLeader",
      60_000,
    );
    const rssBefore = rssMiB(node.proc?.pid);

    const load = startLoad("during", () => [node!.url], 1);
    await waitFor("writes going", async () => load.acks.length >= 10);
    t = performance.now();
    const t0 = t;
    const backupFile = join(dir, "big.backup");
    const backup = await runSampled(["backup", "--endpoint", node.url, "--out", backupFile], () => ({
      server: node?.proc?.pid,
    }));
    const t1 = performance.now();
    const during = load.acks.filter((a) => a.at > t0 && a.at < t1);
    await load.stop();
    expect(backup.code, backup.stderr).toBe(0);
    const line = JSON.parse(backup.stdout) as { index: number; bytes: number; revision: number };
    const gaps = during.map((a, i) => (i === 0 ? a.at - t0 : a.at - during[i - 1]!.at));
    console.log(
      `backup: ${(line.bytes / 1024 / 1024).toFixed(0)} MiB at index ${line.index} in ${((t1 - t0) / 1000).toFixed(1)} s; ` +
        `server RSS ${rssBefore.toFixed(0)} MiB before, peak ${backup.peaks.server?.toFixed(0)} MiB during (bound ${RSS_BOUND_MIB}); ` +
        `backup client peak ${backup.peaks.cli?.toFixed(0)} MiB; ${during.length} writes acknowledged during it, longest gap ${Math.max(0, ...gaps).toFixed(0)} ms`,
    );
    expect(line.bytes).toBeGreaterThanOrEqual(MIB * 1024 * 1024);
    expect(line.revision).toBeGreaterThanOrEqual(records);
    expect(backup.peaks.server).toBeLessThan(RSS_BOUND_MIB);
    expect(during.length).toBeGreaterThan(0);
  });
});
