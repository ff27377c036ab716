/**
 * The growth benchmark (issue 13, item 6): what happens to a 3-node tsraft-kv as its data grows to
 * gigabytes, next to a 3-member etcd under the same load in the same run.
 *
 * Per system (tsraft-kv, then etcd when installed): a fresh cluster in a fresh directory; 16
 * closed-loop clients (`--clients`) PUT fresh keys (`growth/c<c>/k<seq>`) with 16 KiB random values
 * (`--value-bytes`) to the leader until 2 GiB of values are acknowledged (`--gib`; every member
 * stores them all) or `--duration` seconds, one JSON line per 10 s window (`--window`); then a
 * follower is stopped (SIGTERM, or `--signal KILL`), 1 GiB more is written (`--catchup-gib`), and it
 * is restarted and timed until it has caught up; then a line summing the system up. A last line
 * holds issue 13's acceptance figures, each with its target and pass/fail.
 *
 * Everything is read from outside: /status and /metrics over HTTP, RSS from /proc, sizes from the
 * file system, so the bench measures whatever tsraft-kv the workspace builds.
 */
import { mkdirSync } from "node:fs";
import { findEtcd } from "./cluster-procs.js";
import { benchParent, fsTypeOf } from "./disk.js";
import {
  familyOptions,
  type LoadDefaults,
  type LoadSettings,
  loadOptions,
  loadSettings,
} from "./family-options.js";
import { freeDiskBytes } from "./growth-probes.js";
import { acceptanceChecks, type CatchUpFigures, formatLine, type SystemSummary } from "./growth-report.js";
import { type GrowthParams, RUN_PARAMS, runGrowth } from "./growth-run.js";
import { etcdSystem, TSRAFT_SYSTEM } from "./growth-systems.js";
import { type BenchCase, type FamilyOption, findCase, type RunOptions, type StreamFamily } from "./lib.js";

const GiB = 1024 ** 3;
const CASE: BenchCase = { id: "put-fresh", params: RUN_PARAMS };

const LOAD_DEFAULTS: LoadDefaults = { clients: 16, valueBytes: 16384 };

const OPTIONS: readonly FamilyOption[] = [
  ...loadOptions(LOAD_DEFAULTS),
  { name: "gib", takesValue: true, help: "GiB of values to write per node in the growth phase (default 2)" },
  {
    name: "catchup-gib",
    takesValue: true,
    help: "GiB written while a follower is down (default 1; 0 skips the catch-up)",
  },
  { name: "signal", takesValue: true, help: "how the follower is stopped: TERM (default) or KILL" },
  {
    name: "catchup-timeout",
    takesValue: true,
    help: "seconds the restarted follower has to catch up (default 600)",
  },
  { name: "no-etcd", takesValue: false, help: "skip the etcd comparison" },
  { name: "etcd-quota-gib", takesValue: true, help: "etcd's --quota-backend-bytes, GiB (default 8)" },
  { name: "kv-args", takesValue: true, help: 'extra tsraft-kv flags, e.g. "--snapshot-count 500"' },
  { name: "etcd-args", takesValue: true, help: 'extra etcd flags, e.g. "--snapshot-count 500"' },
  {
    name: "catchup-log",
    takesValue: true,
    help: "file to write the restarted follower's log lines to, each prefixed with the run's second",
  },
];

/** The growth bench's settings, from the common options and its own. */
interface Settings extends LoadSettings {
  readonly gib: number;
  readonly catchupGib: number;
  readonly signal: "SIGTERM" | "SIGKILL";
  readonly catchupTimeoutSec: number;
  readonly durationSec: number | undefined;
  readonly etcd: boolean;
  readonly etcdQuotaGib: number;
  readonly kvArgs: readonly string[];
  readonly etcdArgs: readonly string[];
  readonly catchupLog: string | undefined;
}

function settingsOf(opts: RunOptions): Settings {
  const x = opts.extra ?? {};
  const reader = familyOptions("growth", opts);
  const { number, words } = reader;
  const sig = x.signal === undefined ? "TERM" : String(x.signal).replace(/^SIG/, "");
  if (sig !== "TERM" && sig !== "KILL")
    throw new Error(`growth: --signal wants TERM or KILL, not ${String(x.signal)}`);
  return {
    ...loadSettings(reader, LOAD_DEFAULTS),
    gib: number("gib", 2, (v) => v > 0, "GiB > 0"),
    catchupGib: number("catchup-gib", 1, (v) => v >= 0, "GiB ≥ 0"),
    signal: sig === "KILL" ? "SIGKILL" : "SIGTERM",
    catchupTimeoutSec: number("catchup-timeout", 600, (v) => v > 0, "seconds > 0"),
    durationSec: opts.durationSec,
    etcd: x["no-etcd"] !== true,
    etcdQuotaGib: number("etcd-quota-gib", 8, (v) => v > 0, "GiB > 0"),
    kvArgs: words("kv-args"),
    etcdArgs: words("etcd-args"),
    catchupLog: x["catchup-log"] === undefined ? undefined : String(x["catchup-log"]),
  };
}

/** The value of `flag` in `args`, as a number, or `dflt`. */
function flagValue(args: readonly string[], flag: string, dflt: number): number {
  const i = args.indexOf(flag);
  const v = i >= 0 ? Number(args[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

/**
 * A conservative estimate of the disk space the run needs, bytes, per system (they run one after
 * the other, each directory removed before the next starts). tsraft-kv today: per node, the SQLite
 * database, up to 5 snapshot files (`maxSnapshotFiles`), each a full image taken every
 * `--snapshot-count` entries, and the WAL since the last one; etcd: the bbolt file, the WAL since
 * its last snapshot (every 100,000 entries by default), some segments of slack. All × 3 nodes.
 */
export function diskNeed(s: Settings): { tsraft: number; etcd: number } {
  const data = (s.gib + s.catchupGib) * GiB * 1.15;
  const between = flagValue(s.kvArgs, "--snapshot-count", 10_000) * s.valueBytes * 1.15;
  let snapshots = 0;
  for (let k = 0; k < 5; k++) snapshots += Math.max(0, data - k * between);
  const tsraft = 3 * (data + snapshots + 2 * between + 128 * 1024 ** 2);
  const etcdWal = Math.min(data, flagValue(s.etcdArgs, "--snapshot-count", 100_000) * s.valueBytes * 1.05);
  const etcd = 3 * (data * 1.3 + etcdWal + 384 * 1024 ** 2);
  return { tsraft, etcd };
}

async function stream(caseId: string, opts: RunOptions, emit: (line: object) => void): Promise<void> {
  findCase(family, caseId);
  const s = settingsOf(opts);
  const etcd = s.etcd ? findEtcd() : undefined;
  const notes: string[] = [];
  if (s.etcd && etcd === undefined) {
    const msg =
      "etcd not installed: comparison skipped (Debian: `apt-get install etcd-server`, or set ETCD_BIN)";
    process.stderr.write(`bench: ${msg}\n`);
    notes.push(msg);
  }

  // Refuse to start a run the disk cannot hold.
  const parent = benchParent(opts.dir);
  mkdirSync(parent, { recursive: true });
  const need = diskNeed(s);
  const needBytes = Math.max(need.tsraft, etcd !== undefined ? need.etcd : 0) + GiB;
  const free = freeDiskBytes(parent);
  const gib = (b: number) => (b / GiB).toFixed(1);
  if (free < needBytes) {
    throw new Error(
      `growth: ${parent} has ${gib(free)} GiB free; this run needs about ${gib(needBytes)} GiB ` +
        `(tsraft-kv ${gib(need.tsraft)}, etcd ${gib(need.etcd)}, + 1 GiB slack: 3 nodes × (data + WAL + snapshots)). ` +
        "Use --dir on a larger disk, or a smaller --gib/--catchup-gib.",
    );
  }
  process.stderr.write(
    `bench: growth: ~${gib(needBytes)} GiB needed under ${parent} (${gib(free)} GiB free)\n`,
  );

  const params: GrowthParams = {
    clients: s.clients,
    valueBytes: s.valueBytes,
    growthBytes: s.gib * GiB,
    phaseMaxMs: (s.durationSec ?? Number.POSITIVE_INFINITY) * 1000,
    catchupBytes: s.catchupGib * GiB,
    catchupTimeoutMs: s.catchupTimeoutSec * 1000,
    signal: s.signal,
    windowMs: s.windowSec * 1000,
    dir: opts.dir,
    extraArgs: s.kvArgs,
    catchupLog: s.catchupLog,
  };
  const ours = await runGrowth(TSRAFT_SYSTEM, params, emit);
  emit(ours);
  let theirs: SystemSummary | null = null;
  if (etcd !== undefined) {
    const sys = etcdSystem(etcd.bin, Math.round(s.etcdQuotaGib * GiB));
    const etcdLog = s.catchupLog === undefined ? undefined : `${s.catchupLog}.etcd`;
    theirs = await runGrowth(sys, { ...params, extraArgs: s.etcdArgs, catchupLog: etcdLog }, emit);
    emit(theirs);
    notes.push(
      `etcd ${etcd.version} (${etcd.bin}) via its v3 JSON gateway, --quota-backend-bytes ${s.etcdQuotaGib} GiB`,
    );
  }
  const checks = acceptanceChecks(ours, theirs);
  const brief = (x: SystemSummary) => ({
    writtenGiB: x.writtenGiB,
    medianWritesPerSec: x.growth.medianWritesPerSec,
    minWindowRatio: x.growth.minWindowRatio,
    medianWindowP99Ms: x.growth.medianWindowP99Ms,
    maxP99Ratio: x.growth.maxP99Ratio,
    peakRssMiB: x.peakRssMiB,
    catchUp: x.catchUp === null ? null : catchUpBrief(x.catchUp),
  });
  emit({
    type: "summary",
    bench: family.name,
    case: caseId,
    params: {
      clients: s.clients,
      valueBytes: s.valueBytes,
      gib: s.gib,
      catchupGib: s.catchupGib,
      windowSec: s.windowSec,
      signal: s.signal,
      durationSec: s.durationSec ?? null,
      kvArgs: s.kvArgs.join(" "),
      etcdArgs: s.etcdArgs.join(" "),
    },
    fsType: fsTypeOf(parent),
    /** The acceptance asks for ≥ 2 GiB per node and a ≥ 1 GiB catch-up; a smaller run is indicative only. */
    sizeMeetsAcceptance: ours.writtenGiB >= 2 && (ours.catchUp?.behindGiB ?? 0) >= 1,
    tsraft: brief(ours),
    etcd: theirs === null ? null : brief(theirs),
    etcdRatio: checks.find((c) => c.name === "etcdRatio")?.value ?? null,
    checks,
    notes,
  });
}

function catchUpBrief(c: CatchUpFigures) {
  return {
    behindGiB: c.behindGiB,
    catchUpSec: c.catchUpSec,
    peakRssMiB: c.peakRssMiB,
    receivedSnapshot: c.receivedSnapshot,
    leaderWritesPerSec: c.leaderWritesPerSec,
    restoredSec: c.restoredSec,
    transferWritesRatio: c.transferWritesRatio,
    writesRatio: c.writesRatio,
    leaderP99Ms: c.leaderP99Ms,
    p99Ratio: c.p99Ratio,
  };
}

/** The growth family: one case, streamed. */
export const family: StreamFamily = {
  kind: "stream",
  name: "growth",
  summary:
    "3 tsraft-kv processes, 16 clients PUTting fresh 16 KiB values until 2 GiB per node, 10 s windows, a follower's catch-up; vs etcd",
  options: OPTIONS,
  cases: () => [CASE],
  stream,
  format: formatLine,
};
