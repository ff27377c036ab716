/**
 * The core benchmark's workload with a small N, so that a behaviour change on the replication path
 * (an extra message, a Ready more or less, a round of delay) breaks CI rather than only moving a
 * benchmark figure. `pnpm bench` itself does not run in `pnpm test`.
 *
 * The work counters must follow `expectedCounters` (derived in bench/core.ts from how entries flow
 * through the rounds), and that formula must give the reference's own counters at N = 10⁶.
 *
 * The wal, transport and cluster families run for real (disk, sockets, processes) with tiny
 * parameters, checking that each starts and prints one well-formed JSON line; the growth bench runs
 * its three phases for a few seconds each and its lines are checked for shape, not performance.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import {
  CORE_CONFIGS,
  type CoreConfig,
  coreCaseId,
  expectedCounters,
  REFERENCE,
  REFERENCE_N,
  runCoreWorkload,
} from "../bench/core.js";
import type { WindowLine } from "../bench/growth-report.js";
import { soakFigures } from "../bench/soak.js";

const cfg = (voters: number, batch: number, mode: CoreConfig["mode"]): CoreConfig => ({
  voters,
  batch,
  mode,
});

describe("core bench workload", () => {
  test("the counter formulas give etcd-io/raft's counters at N = 10^6", () => {
    for (const c of CORE_CONFIGS) {
      expect(expectedCounters(c, REFERENCE_N), coreCaseId(c)).toEqual(REFERENCE[coreCaseId(c)]!.counters);
    }
  });

  test("the formulas for N = 10^4 by hand (B = 64 leaves a last batch of 16)", () => {
    // 1 voter: P + 1 rounds and Readys; P = N/B rounded up.
    expect(expectedCounters(cfg(1, 1, "propose"), 10_000)).toEqual({
      rounds: 10_001,
      readys: 10_001,
      messages: 0,
    });
    expect(expectedCounters(cfg(1, 64, "step"), 10_000)).toEqual({ rounds: 158, readys: 158, messages: 0 });
    // 3 voters: P + 2 rounds, 3P + 4 Readys; step: 8P − 2 messages; propose: 8N − 2·last.
    expect(expectedCounters(cfg(3, 1, "propose"), 10_000)).toEqual({
      rounds: 10_002,
      readys: 30_004,
      messages: 79_998,
    });
    expect(expectedCounters(cfg(3, 64, "propose"), 10_000)).toEqual({
      rounds: 159,
      readys: 475,
      messages: 79_968,
    });
    expect(expectedCounters(cfg(3, 64, "step"), 10_000)).toEqual({
      rounds: 159,
      readys: 475,
      messages: 1_254,
    });
  });

  for (const c of CORE_CONFIGS) {
    for (const n of [10_000, 1_000 + 37]) {
      test(`${coreCaseId(c)}, N = ${n}: post-conditions hold and the counters follow the formula`, () => {
        // runCoreWorkload throws unless every node applied N and the leader's last index is N + 2.
        const cl = runCoreWorkload(c, n);
        expect(cl.counters).toEqual(expectedCounters(c, n));
        expect(cl.applied).toEqual(Array.from({ length: c.voters }, () => n));
        for (const rn of cl.nodes) expect(rn.raft.raftLog.committed).toBe(n + 2);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------------
// The disk, network and cluster families (pnpm bench wal|transport|cluster) with tiny parameters: each
// starts in a fresh process as `pnpm bench` runs it (bench/dist/child.js, built by `tsc -b`) and prints
// one JSON line with the fields the runner and the README rely on.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHILD = join(ROOT, "bench", "dist", "child.js");
const KV_CLI = join(ROOT, "packages", "kv", "dist", "cli.js");
const NOT_BUILT = existsSync(CHILD) ? undefined : `${CHILD} not built (run tsc -b)`;

/** Runs one case as the runner does and returns its JSON line, parsed. */
function runChild(args: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const p = spawnSync(process.execPath, ["--expose-gc", CHILD, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  expect(p.status, `${args.join(" ")} failed:\n${p.stderr}`).toBe(0);
  const lines = p.stdout.trim().split("\n");
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

/** The fields every result line has, with sane values. */
function expectWellFormed(r: Record<string, unknown>, bench: string, caseId: string): void {
  expect(r.bench).toBe(bench);
  expect(r.case).toBe(caseId);
  expect(typeof r.params).toBe("object");
  for (const k of ["ops", "opsPerSec", "cpuOpsPerSec", "wallMs", "cpuMs"]) {
    expect(typeof r[k], k).toBe("number");
    expect(r[k] as number, k).toBeGreaterThan(0);
  }
  const lat = r.latency as { p50: number; p99: number; p999?: number; max: number; samples: number };
  expect(lat.p50).toBeLessThanOrEqual(lat.p99);
  expect(lat.p99).toBeLessThanOrEqual(lat.p999 ?? lat.max);
  expect(lat.samples).toBeGreaterThan(0);
  expect(typeof r.counters).toBe("object");
  for (const v of Object.values(r.figures as Record<string, number>)) expect(Number.isFinite(v)).toBe(true);
}

// Each child may take up to its 60 s bound on a busy machine (spawnSync above); a test runs two.
describe.skipIf(NOT_BUILT !== undefined)(
  "disk, network and cluster benches (tiny parameters)",
  {
    timeout: 150_000,
  },
  () => {
    test("wal: synced appends next to the raw fdatasync rate, and replay", () => {
      for (const c of ["append-e1-128B", "append-e16-4KiB-blocking"]) {
        const r = runChild(["wal", c, "--n", "60"]);
        expectWellFormed(r, "wal", c);
        const f = r.figures as Record<string, number>;
        expect(f.rawSyncPerSec).toBeGreaterThan(0);
        expect(f.ratioToRaw).toBeCloseTo((r.opsPerSec as number) / f.rawSyncPerSec!, 1);
        expect((r.counters as Record<string, number>).readys).toBe(60);
      }
      const r = runChild(["wal", "replay-128B", "--n", "3000"]);
      expect(r.ops).toBe(3000);
      expect((r.figures as Record<string, number>).walMBps).toBeGreaterThan(0);
    });

    test("transport: two processes, MsgApps delivered, nothing dropped", () => {
      for (const c of ["msgapp-1x128B", "msgapp-64x128B", "msgapp-4x16KiB"]) {
        const r = runChild(["transport", c, "--n", "1000"]);
        expectWellFormed(r, "transport", c);
        expect(r.counters).toMatchObject({ messages: 1000, dropped: 0 });
      }
    });

    test("transport: a snapshot image streamed to the peer process, saved and discarded, CPU per MB on each side", () => {
      for (const c of ["snapshot-256MiB-disk", "snapshot-256MiB-discard"]) {
        const r = runChild(["transport", c, "--n", "4"]);
        expectWellFormed(r, "transport", c);
        expect(r.counters).toEqual({ imageBytes: 4 * 1024 * 1024, rejected: 0 });
        const f = r.figures as Record<string, number>;
        for (const k of ["MBps", "senderCpuMsPerMB", "receiverCpuMsPerMB"])
          expect(f[k], k).toBeGreaterThan(0);
      }
    });

    test.skipIf(!existsSync(KV_CLI))(
      "cluster: three tsraft-kv processes, PUTs and GETs, the harness's ceiling and floor; etcd skipped with a note when absent",
      () => {
        // Traced too (TSRAFT_TRACE): the trace report must find the leader and its writes.
        const traceDir = mkdtempSync(join(tmpdir(), "tsraft-trace-"));
        const r = runChild(["cluster", "put-c1", "--duration", "0.4"], {
          ETCD_BIN: join(ROOT, "no-such-etcd"),
          TSRAFT_TRACE: join(traceDir, "c1"),
        });
        expectWellFormed(r, "cluster", "put-c1");
        const f = r.figures as Record<string, number>;
        expect(f.getsPerSec).toBeGreaterThan(0);
        expect(f.putErrors).toBe(0);
        // The do-nothing servers and the hop + fdatasync floor ran, and the fractions are of them.
        const ours = r.opsPerSec as number;
        for (const k of ["ceiling", "floor"]) {
          expect(f[`${k}WritesPerSec`]).toBeGreaterThan(0);
          expect(f[`${k}Fraction`]).toBeCloseTo(ours / f[`${k}WritesPerSec`]!, 1);
        }
        const report = spawnSync(
          process.execPath,
          [join(ROOT, "scripts", "trace-report.mjs"), join(traceDir, "c1"), "--skip", "0"],
          { encoding: "utf8", timeout: 60_000 },
        );
        rmSync(traceDir, { recursive: true, force: true });
        expect(report.status, report.stderr).toBe(0);
        const writes = /^leader \d+ \(pid \d+\); followers \d+, \d+; (\d+) writes$/m.exec(report.stdout);
        expect(writes, report.stdout.slice(0, 500)).not.toBeNull();
        expect(Number(writes![1])).toBeGreaterThan(0);
        expect(f.etcdWritesPerSec).toBeUndefined();
        expect((r.notes as string[]).some((n) => n.includes("apt-get install etcd-server"))).toBe(true);
      },
    );

    test.skipIf(!existsSync(KV_CLI))(
      "cluster: 100 watchers get every event; transactions all succeed (issue 16's cases)",
      () => {
        const w = runChild(["cluster", "watch-100", "--duration", "0.5"]);
        expectWellFormed(w, "cluster", "watch-100");
        const f = w.figures as Record<string, number>;
        expect(f.missedEvents).toBe(0);
        expect(f.putErrors).toBe(0);
        expect(f.writesPerSec).toBeGreaterThan(0);
        const t = runChild(["cluster", "txn-c16", "--duration", "0.5"], {
          ETCD_BIN: join(ROOT, "no-such-etcd"),
        });
        expectWellFormed(t, "cluster", "txn-c16");
        const g = t.figures as Record<string, number>;
        expect(g.errors).toBe(0);
        expect(g.txnsSucceeded).toBe(g.txnsAnswered);
      },
    );
  },
);

// ---------------------------------------------------------------------------------------------------
// The growth bench (pnpm bench growth), tiny: 1 KiB values, 512 writes, then 410 while a follower
// is killed, 0.5 s windows. tsraft-kv snapshots every 100 entries and keeps 200 before the
// snapshot's index: its log starts at most ~300 entries back, so the follower, 410 behind, needs a
// snapshot (and the bench must see it), while 200 entries leave it time to restore one without
// falling behind the next. Against etcd too when it is installed. 20-40 s on a busy 2-core machine.

/** Runs a streaming case as the runner does and returns all its JSON lines, parsed. */
function runStreamChild(args: string[]): Record<string, unknown>[] {
  const p = spawnSync(process.execPath, [CHILD, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 150_000,
  });
  expect(p.status, `${args.join(" ")} failed:\n${p.stderr}`).toBe(0);
  return p.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const ETCD_INSTALLED = spawnSync(process.env.ETCD_BIN ?? "etcd", ["--version"]).status === 0;

describe.skipIf(NOT_BUILT !== undefined || !existsSync(KV_CLI))("growth bench (tiny parameters)", () => {
  test(`windows, a follower's catch-up by snapshot, summaries and checks${ETCD_INSTALLED ? ", vs etcd" : " (etcd not installed)"}`, () => {
    const dir = tmpdir();
    const leftovers = () => readdirSync(dir).filter((n) => n.startsWith("tsraft-bench-growth-"));
    const before = new Set(leftovers());
    const lines = runStreamChild([
      "growth",
      "put-fresh",
      "--duration",
      "30",
      "--window",
      "0.5",
      "--value-bytes",
      "1024",
      "--gib",
      "0.003", // ~3000 writes: several full 0.5 s windows even at etcd's rate on an idle machine
      "--catchup-gib",
      "0.0004",
      "--signal",
      "KILL",
      "--dir",
      dir,
      "--kv-args",
      "--snapshot-count 100 --snapshot-catchup-entries 200",
      ...(ETCD_INSTALLED ? [] : ["--no-etcd"]),
    ]);
    const systems = ETCD_INSTALLED ? ["tsraft-kv", "etcd"] : ["tsraft-kv"];
    for (const system of systems) {
      const windows = lines.filter((l) => l.type === "window" && l.system === system);
      expect(new Set(windows.map((w) => w.phase)), system).toEqual(
        new Set(["growth", "follower-down", "catch-up"]),
      );
      for (const w of windows) {
        for (const k of ["tSec", "durSec", "writes", "writesPerSec", "errors", "writtenGiB", "loadAvg1m"]) {
          expect(typeof w[k], `${system} ${k}`).toBe("number");
        }
        for (const k of ["p50Ms", "p99Ms", "oldestInFlightMs"]) expect(k in w, `${system} ${k}`).toBe(true);
        const nodes = w.nodes as Record<string, unknown>[];
        expect(nodes.map((n) => n.node)).toEqual([1, 2, 3]);
        for (const n of nodes) {
          expect(["leader", "follower", "down", "unknown"]).toContain(n.role);
          expect(typeof n.diskMiB).toBe("number");
          expect(typeof n.events).toBe("object");
          if (n.role !== "down") expect(n.rssMiB as number).toBeGreaterThan(0);
        }
        if (w.phase === "follower-down") expect(nodes.filter((n) => n.role === "down")).toHaveLength(1);
      }
      const sys = lines.find((l) => l.type === "system" && l.system === system)!;
      expect(sys, system).toBeDefined();
      expect((sys.growth as Record<string, unknown>).medianWritesPerSec as number).toBeGreaterThan(0);
      expect(sys.peakRssMiB as number[]).toHaveLength(3);
      const cu = sys.catchUp as Record<string, unknown>;
      expect(cu.caughtUp, `${system}: ${JSON.stringify(cu)}`).toBe(true);
      expect(cu.signal).toBe("SIGKILL");
      expect(cu.peakRssMiB as number).toBeGreaterThan(0);
    }
    // tsraft-kv's follower was 410 entries behind, more than the leader's log kept: it needed a snapshot.
    const ours = lines.find((l) => l.type === "system" && l.system === "tsraft-kv")!;
    const cu = ours.catchUp as {
      receivedSnapshot: boolean;
      evidence: string[];
      restoredSec: number | null;
      catchUpSec: number;
    };
    expect(cu.receivedSnapshot, cu.evidence.join("\n")).toBe(true);
    // The transfer's end was seen (the image installed), no later than the whole catch-up's.
    expect(cu.restoredSec, cu.evidence.join("\n")).not.toBeNull();
    expect(cu.restoredSec!).toBeLessThanOrEqual(cu.catchUpSec);

    const summary = lines[lines.length - 1]!;
    expect(summary.type).toBe("summary");
    expect(summary.sizeMeetsAcceptance).toBe(false);
    const checks = summary.checks as { name: string; value: unknown; target: string; pass: unknown }[];
    expect(checks.map((c) => c.name)).toEqual([
      "minWindowRatio",
      "maxP99Ratio",
      "maxNodeRssMiB",
      "etcdRatio",
      "catchUpBySnapshot",
      "catchUpRssMiB",
      "transferWritesRatio",
    ]);
    for (const c of checks) {
      expect(typeof c.target).toBe("string");
      if (c.name === "etcdRatio" && !ETCD_INSTALLED) expect(c.pass).toBeNull();
      else expect(typeof c.pass, c.name).toBe("boolean");
    }
    // The run's directories are gone.
    expect(leftovers().filter((n) => !before.has(n))).toEqual([]);
  }, 180_000);
});

// The soak bench (pnpm bench soak), tiny: 3 s of 128 B PUTs in 0.5 s windows, 1 s of warm-up.
describe.skipIf(NOT_BUILT !== undefined || !existsSync(KV_CLI))("soak bench (tiny parameters)", () => {
  test("windows, then a summary whose checks come from the windows after the warm-up", {
    timeout: 150_000,
  }, () => {
    const lines = runStreamChild([
      "soak",
      "put-fresh-128B",
      "--duration",
      "3",
      "--window",
      "0.5",
      "--warmup",
      "1",
    ]);
    const windows = lines.filter((l) => l.type === "window");
    expect(windows.length).toBeGreaterThanOrEqual(4);
    const summary = lines[lines.length - 1]!;
    expect(summary).toMatchObject({ type: "summary", bench: "soak" });
    const steady = windows.filter(
      (w) => !w.partial && (w.tSec as number) - (w.durSec as number) >= 1,
    ) as unknown as WindowLine[];
    expect(summary.windows).toBe(steady.length);
    expect(summary).toMatchObject(soakFigures(steady, 1));
    const checks = summary.checks as { name: string; value: unknown; pass: unknown }[];
    expect(checks.map((c) => c.name)).toEqual(["minWindowRatio", "maxRssDrift"]);
    for (const c of checks) expect(typeof c.pass, c.name).toBe("boolean");
  });

  test("soakFigures: RSS drift against each node's median, the worst window against the median rate", () => {
    const w = (tSec: number, writesPerSec: number, rss: number[]): WindowLine =>
      ({
        type: "window",
        partial: false,
        tSec,
        durSec: 10,
        writesPerSec,
        nodes: rss.map((rssMiB, i) => ({ node: i + 1, rssMiB })),
      }) as unknown as WindowLine;
    const f = soakFigures(
      [
        w(10, 10, [500, 500, 500]),
        w(20, 100, [100, 200, 300]),
        w(30, 80, [110, 200, 300]),
        w(40, 50, [100, 220, 300]),
      ],
      10,
    );
    expect(f.windows).toBe(3); // the first ends at 10 s: inside the warm-up
    expect(f.medianWritesPerSec).toBe(80);
    expect(f.minWindowRatio).toBe(0.625);
    expect(f.rss).toEqual([
      { node: 1, medianMiB: 100, maxDrift: 0.1 },
      { node: 2, medianMiB: 200, maxDrift: 0.1 },
      { node: 3, medianMiB: 300, maxDrift: 0 },
    ]);
    expect(f.maxRssDrift).toBe(0.1);
  });
});
