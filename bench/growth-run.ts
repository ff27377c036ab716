/**
 * One system's growth run: a fresh 3-member cluster, closed-loop clients PUTting fresh keys to its
 * leader until N GiB are written per member (or the time is up), a JSON line per window; then a
 * follower stopped while more is written, restarted, and timed until it has caught up; then the
 * cluster stopped and its directory removed.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { loadavg } from "node:os";
import { type Cluster, type Member, processCpuMs, profiling, withFlag } from "./cluster-procs.js";
import { benchDir } from "./disk.js";
import type { HistogramDelta, MetricsPage } from "./growth-probes.js";
import {
  diskUsageBytes,
  freeDiskBytes,
  memAvailableBytes,
  metricsDelta,
  parseMetrics,
  RssSampler,
  toMiB,
} from "./growth-probes.js";
import type { CatchUpFigures, NodeWindow, SystemSummary, WindowLine } from "./growth-report.js";
import { growthFigures, latencyFigures, round1 } from "./growth-report.js";
import { leaderOf, type MemberStatus, type SystemAdapter, scrapeMetrics } from "./growth-systems.js";
import { round3 } from "./lib.js";
import { closedLoop, type PhaseResult } from "./loadgen.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** How long a window's /status and /metrics scrapes may take before the member counts as not answering. */
const SCRAPE_TIMEOUT_MS = 3000;
/** The run stops (with an error) when the disk or the machine's memory gets this low. */
const MIN_FREE_DISK = 512 * MiB;
const MIN_FREE_MEMORY = 768 * MiB;

/** The benchmark case parameters of a run (the growth and soak benches' cases). */
export const RUN_PARAMS = { op: "PUT fresh keys (closed loop)", servers: 3, fsync: true } as const;

/** What one system's run is asked to do. */
export interface GrowthParams {
  readonly clients: number;
  readonly valueBytes: number;
  /** Stop the growth phase after this many value bytes acknowledged... */
  readonly growthBytes: number;
  /** ...or this long, whichever first (also bounds the follower-down phase). */
  readonly phaseMaxMs: number;
  /** Value bytes to write while the follower is down; 0 skips the catch-up phase. */
  readonly catchupBytes: number;
  readonly catchupTimeoutMs: number;
  readonly signal: "SIGTERM" | "SIGKILL";
  readonly windowMs: number;
  /** Parent of the run's fresh directory (`--dir`); undefined: the bench default. */
  readonly dir: string | undefined;
  /** Added to every member's command line. */
  readonly extraArgs: readonly string[];
  /** Where the restarted follower's log lines go, each prefixed with the run's second (undefined: nowhere). */
  readonly catchupLog?: string | undefined;
}

/** An accumulator of acknowledged writes and failed attempts over a time span (a window, or a whole phase). */
class Span {
  ok = 0;
  errors = 0;
  /** Latency of each write acknowledged in the span: first attempt → acknowledged, retries included. */
  readonly lat: number[] = [];
  readonly errorSamples: string[] = [];
  constructor(readonly startMs: number) {}

  acked(latencyMs: number): void {
    this.ok++;
    this.lat.push(latencyMs);
  }

  failed(error: string | undefined): void {
    this.errors++;
    if (error !== undefined && this.errorSamples.length < 3) this.errorSamples.push(error);
  }
}

/** The catch-up's figures computed against the growth phase's. */
type RatioFields = "writesRatio" | "transferWritesRatio" | "p99Ratio";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A log line's message (pino's and zap's `msg`, with its index and size fields) when it is about a
 * snapshot, shortened, for the catch-up's evidence; undefined otherwise.
 */
function snapshotLogLine(line: string): string | undefined {
  let msg = line;
  let extra = "";
  try {
    const j = JSON.parse(line) as Record<string, unknown>;
    msg = String(j.msg ?? "");
    const fields = JSON.stringify({ index: j.index, bytes: j.bytes, size: j.size });
    if (fields !== "{}") extra = ` ${fields}`;
  } catch {
    // Not JSON: the whole line is the message.
  }
  return /snap/i.test(msg) ? `log: ${msg.slice(0, 160)}${extra}` : undefined;
}

/** Log messages that only a snapshot sent by the leader produces (tsraft-kv's and etcd's wording). */
const RECEIVED_SNAPSHOT_LOG = /receiv|incoming|^log: appl(y|ied|ying) snapshot/i;

/** Runs the growth and catch-up phases against a fresh cluster of `sys`, emitting window lines. */
export async function runGrowth(
  sys: SystemAdapter,
  p: GrowthParams,
  emit: (line: object) => void,
): Promise<SystemSummary> {
  const dir = await benchDir(`tsraft-bench-growth-${sys.name}-`, p.dir);
  let cluster: Cluster | undefined;
  try {
    cluster = await sys.start(dir.path, p.extraArgs);
    return await new GrowthDriver(sys, cluster, p, emit, dir.path).run();
  } finally {
    // Its data is thrown away: no graceful stop (etcd's leader would first hand over its leadership),
    // unless the servers are profiled (V8 writes a profile only at a normal exit).
    await cluster?.stop(profiling() ? "SIGTERM" : "SIGKILL");
    await dir.cleanup();
  }
}

/** The state of one run; `run()` reads top-down: growth, follower down, catch-up. */
class GrowthDriver {
  readonly #members: readonly Member[];
  readonly #sampler: RssSampler;
  readonly #windows: WindowLine[] = [];
  readonly #lastPage: (MetricsPage | undefined)[];
  readonly #lastCpu: { pid: number | undefined; ms: number }[];
  readonly #peakDisk: number[];
  readonly #value: Buffer;
  #ids: (string | undefined)[] = [];
  #target = 0;
  #down = -1;
  #phase = "growth";
  #window: Span;
  #phaseSpan: Span;
  #windowNo = 0;
  #okTotal = 0;
  #errorsTotal = 0;
  #leaderChanges = 0;
  #stopLoad = false;
  #t0 = performance.now();
  /**
   * Per client, the write it is trying to get acknowledged: its sequence number and when it was
   * first sent. A failed attempt (503, 504, a timeout) is retried with the same key and value
   * (a PUT is idempotent), so a write's latency spans its retries, as a user waiting for it sees.
   */
  readonly #pending: ({ seq: number; firstSentMs: number } | undefined)[] = [];
  readonly #nextSeq: number[] = [];

  constructor(
    private readonly sys: SystemAdapter,
    private readonly cluster: Cluster,
    private readonly p: GrowthParams,
    private readonly emit: (line: object) => void,
    private readonly dirPath: string,
  ) {
    this.#members = cluster.members;
    this.#sampler = new RssSampler(() => this.#members.map((m) => m.pid), this.#members.length);
    this.#lastPage = this.#members.map(() => undefined);
    this.#lastCpu = this.#members.map((m) => ({ pid: m.pid, ms: processCpuMs(m.pid) }));
    this.#peakDisk = this.#members.map(() => 0);
    // Values are random (nothing downstream can compress them), then stamped per request.
    this.#value = randomBytes(p.valueBytes);
    this.#window = new Span(this.#t0);
    this.#phaseSpan = new Span(this.#t0);
  }

  async run(): Promise<SystemSummary> {
    const members = this.#members;
    const first = await this.#statusesUntil((s) => s.every((x) => x !== undefined), 30_000);
    this.#ids = first.map((s) => s?.id);
    this.#target = members.findIndex((m) => m.clientPort === this.cluster.leaderPort);
    await this.#scrapeMetrics(); // baseline: the start-up's events are not the run's
    this.#t0 = performance.now();
    this.#window = new Span(this.#t0);
    this.#phaseSpan = new Span(this.#t0);

    const load = this.#startLoad();
    let catchUp: Omit<CatchUpFigures, RatioFields> | null = null;
    let growthSec = 0;
    try {
      // Growth: until N GiB per member, or the time is up.
      await this.#runPhase(
        "growth",
        () => this.#bytes() >= this.p.growthBytes || this.#elapsed() >= this.p.phaseMaxMs,
      );
      growthSec = this.#elapsed() / 1000;
      if (this.p.catchupBytes > 0) catchUp = await this.#catchUp();
    } finally {
      this.#stopLoad = true;
      this.#sampler.stop();
      // Requests still in flight end with their answer, or when the cluster is stopped after 30 s.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([load, new Promise<void>((r) => (timer = setTimeout(r, 30_000)))]);
      clearTimeout(timer);
    }
    const growth = growthFigures(this.#windows);
    return {
      type: "system",
      system: this.sys.name,
      writes: this.#okTotal,
      writtenGiB: round3(this.#bytes() / GiB),
      errors: this.#errorsTotal,
      growthSec: round1(growthSec),
      growth,
      peakRssMiB: this.#sampler.peak.map((x) => (x === undefined ? null : round1(x))),
      peakDiskMiB: this.#peakDisk.map((b) => toMiB(b)),
      leaderChanges: this.#leaderChanges,
      catchUp: catchUp === null ? null : { ...catchUp, ...this.#catchUpRatios(catchUp, growth) },
    };
  }

  /** Stop a follower, write `catchupBytes` more, restart it, wait until it has caught up. */
  async #catchUp(): Promise<Omit<CatchUpFigures, RatioFields>> {
    const members = this.#members;
    const statuses = await this.#statusesUntil((s) => leaderOf(s, this.#ids) !== undefined, 30_000);
    const leader = leaderOf(statuses, this.#ids)!;
    this.#target = leader;
    // The highest-numbered member that does not lead.
    const f = [2, 1, 0].find((i) => i !== leader)!;
    const appliedAtStop = statuses[f]?.applied ?? null;
    const snapIndexBefore = statuses[f]?.snapshotIndex;
    const okAtStop = this.#okTotal;
    const tStop = performance.now();
    await members[f]!.stop(this.p.signal);
    this.#down = f;
    await this.#runPhase(
      "follower-down",
      () =>
        (this.#okTotal - okAtStop) * this.p.valueBytes >= this.p.catchupBytes ||
        performance.now() - tStop >= this.p.phaseMaxMs,
    );
    const behindBytes = (this.#okTotal - okAtStop) * this.p.valueBytes;

    // Restart it, logging at info so that its snapshot messages can be seen.
    const commitAtRestart = (await this.sys.status(members[this.#target]!, SCRAPE_TIMEOUT_MS))?.commit;
    const evidence: string[] = [];
    const logTo = this.p.catchupLog;
    const unsubscribe = members[f]!.onLine((line) => {
      const e = snapshotLogLine(line);
      if (e !== undefined && evidence.length < 10) evidence.push(e);
      if (logTo !== undefined) appendFileSync(logTo, `${(this.#elapsed() / 1000).toFixed(1)} ${line}\n`);
    });
    const tRestart = performance.now();
    const downSec = (tRestart - tStop) / 1000;
    members[f]!.restart((args) => withFlag(args, "--log-level", "info"));
    this.#lastPage[f] = undefined;
    this.#down = -1;
    const track = this.#sampler.track(f);

    let reachedRestartCommitSec: number | null = null;
    // An index the leader's image is past and the follower's own log is not: half-way from what it
    // had applied at the stop to the leader's commit at the restart (≥ 1 GiB of entries apart).
    const imageFloor =
      commitAtRestart !== undefined && appliedAtStop !== null
        ? Math.max(snapIndexBefore ?? 0, Math.floor((appliedAtStop + commitAtRestart) / 2))
        : snapIndexBefore;
    let restoredSec: number | null = null;
    let restoredElapsedSec: number | null = null;
    let catchUpSec: number | null = null;
    let done = false;
    let snapIndexAfter: number | undefined;
    const poll = async () => {
      let prevLeaderCommit: number | undefined;
      while (!done) {
        const ls = await this.sys.status(members[this.#target]!, 2000);
        const fs = await this.sys.status(members[f]!, 2000);
        const since = (performance.now() - tRestart) / 1000;
        if (fs !== undefined) {
          snapIndexAfter = fs.snapshotIndex;
          if (
            reachedRestartCommitSec === null &&
            commitAtRestart !== undefined &&
            fs.applied >= commitAtRestart
          ) {
            reachedRestartCommitSec = round1(since);
          }
          // The transfer ends when the image it was sent is installed: its snapshot index past
          // `imageFloor` (its own compactions of the entries it had cannot get there), and its
          // applied index there.
          if (
            restoredSec === null &&
            imageFloor !== undefined &&
            fs.snapshotIndex !== undefined &&
            fs.snapshotIndex > imageFloor &&
            fs.applied >= fs.snapshotIndex
          ) {
            restoredSec = round1(since);
            restoredElapsedSec = this.#elapsed() / 1000;
          }
          if (prevLeaderCommit !== undefined && fs.applied >= prevLeaderCommit) {
            catchUpSec = round1(since);
            done = true;
            break;
          }
        }
        if (!members[f]!.running) {
          evidence.push(`exited: ${members[f]!.output.slice(-5).join(" | ")}`);
          done = true;
          break;
        }
        if (since * 1000 >= this.p.catchupTimeoutMs) {
          done = true;
          break;
        }
        if (ls !== undefined) prevLeaderCommit = ls.commit;
        await sleep(250);
      }
    };
    const poller = poll();
    const phase = await this.#runPhase("catch-up", () => done);
    await poller;
    const peakRss = track.end();
    unsubscribe();

    // Did a snapshot travel? Counters of sent/received snapshots on any member while it was down or catching up.
    const moved = new Map<string, number>();
    for (const w of this.#windows) {
      if (w.phase !== "follower-down" && w.phase !== "catch-up") continue;
      for (const n of w.nodes) {
        for (const [k, v] of Object.entries(n.events)) {
          if (typeof v !== "number" || !/snap/i.test(k) || !/sen[dt]|receiv/i.test(k)) continue;
          if (/fail|error|reject/i.test(k)) continue;
          const key = `n${n.node} ${k}`;
          moved.set(key, (moved.get(key) ?? 0) + v);
        }
      }
    }
    const metricEvidence = [...moved].map(([k, v]) => `metric: ${k} +${v}`);
    if (snapIndexBefore !== undefined || snapIndexAfter !== undefined) {
      evidence.push(
        `status: snapshotIndex ${snapIndexBefore ?? "?"} before the stop, ${snapIndexAfter ?? "?"} after`,
      );
    }
    const logSaysReceived = evidence.some((e) => e.startsWith("log:") && RECEIVED_SNAPSHOT_LOG.test(e));
    const lat = latencyFigures(Float64Array.from(phase.lat));
    const phaseSec = (performance.now() - phase.startMs) / 1000;
    const leaderWritesPerSec = phaseSec > 0 ? phase.ok / phaseSec : 0;
    const fullish = this.#windows.filter(
      (w) => w.phase === "catch-up" && w.durSec * 1000 >= this.p.windowMs / 2,
    );
    const minWindow =
      fullish.length > 0 ? Math.min(...fullish.map((w) => w.writesPerSec)) : leaderWritesPerSec;
    const transfer =
      restoredElapsedSec === null ? [] : fullish.filter((w) => w.tSec - w.durSec < restoredElapsedSec!);
    const transferMin =
      restoredElapsedSec === null
        ? null
        : transfer.length > 0
          ? Math.min(...transfer.map((w) => w.writesPerSec))
          : leaderWritesPerSec;
    return {
      follower: f + 1,
      signal: this.p.signal,
      downSec: round1(downSec),
      behindGiB: round3(behindBytes / GiB),
      behindEntries:
        commitAtRestart !== undefined && appliedAtStop !== null ? commitAtRestart - appliedAtStop : null,
      caughtUp: catchUpSec !== null,
      reachedRestartCommitSec,
      catchUpSec,
      restoredSec,
      peakRssMiB: peakRss === undefined ? null : round1(peakRss),
      receivedSnapshot: metricEvidence.length > 0 || logSaysReceived,
      evidence: [...metricEvidence, ...evidence],
      leaderWritesPerSec: round1(leaderWritesPerSec),
      transferMinWindowWritesPerSec: transferMin === null ? null : round1(transferMin),
      leaderMinWindowWritesPerSec: round1(minWindow),
      leaderP99Ms: lat.p99Ms,
    };
  }

  #catchUpRatios(
    c: Omit<CatchUpFigures, RatioFields>,
    g: ReturnType<typeof growthFigures>,
  ): Pick<CatchUpFigures, RatioFields> {
    const med = g.medianWritesPerSec;
    const medP99 = g.medianWindowP99Ms;
    return {
      writesRatio: med === null || med === 0 ? null : round3(c.leaderMinWindowWritesPerSec / med),
      transferWritesRatio:
        med === null || med === 0 || c.transferMinWindowWritesPerSec === null
          ? null
          : round3(c.transferMinWindowWritesPerSec / med),
      p99Ratio:
        medP99 === null || medP99 === 0 || c.leaderP99Ms === null ? null : round3(c.leaderP99Ms / medP99),
    };
  }

  /** Runs one phase until `done()`, closing a window every `windowMs` and a last (partial) one at the end. */
  async #runPhase(name: string, done: () => boolean): Promise<Span> {
    this.#phase = name;
    const now = performance.now();
    this.#window = new Span(now);
    this.#phaseSpan = new Span(now);
    while (!done()) {
      if (performance.now() - this.#window.startMs >= this.p.windowMs) await this.#closeWindow();
      await sleep(100);
    }
    const span = this.#phaseSpan;
    await this.#closeWindow(); // every phase ends with a window, partial or not
    return span;
  }

  #startLoad(): Promise<PhaseResult> {
    const shape = this.sys.shape;
    const vb = this.p.valueBytes;
    return closedLoop({
      host: "127.0.0.1",
      port: () => this.#members[this.#target]!.clientPort,
      clients: this.p.clients,
      durationMs: Number.POSITIVE_INFINITY,
      // make() is called right before each attempt goes out: a new write, or the pending one again.
      make: (c) => {
        let w = this.#pending[c];
        if (w === undefined) {
          const seq = this.#nextSeq[c] ?? 0;
          this.#nextSeq[c] = seq + 1;
          w = { seq, firstSentMs: performance.now() };
          this.#pending[c] = w;
        }
        const v = Buffer.allocUnsafe(vb);
        this.#value.copy(v);
        v.write(`c${c}:s${w.seq}:`, 0, "latin1");
        return shape.put(`growth/c${c}/k${w.seq}`, v);
      },
      okStatus: shape.putOk,
      onAnswer: (ok, _ms, error, c) => {
        if (ok) {
          const latency = performance.now() - this.#pending[c]!.firstSentMs;
          this.#pending[c] = undefined;
          this.#window.acked(latency);
          this.#phaseSpan.acked(latency);
          this.#okTotal++;
        } else {
          this.#window.failed(error);
          this.#phaseSpan.failed(error);
          this.#errorsTotal++;
        }
      },
      until: () => this.#stopLoad,
      errorPauseMs: 100,
      // A client gives up on an attempt after 30 s and retries the write at the leader of the moment.
      timeoutMs: 30_000,
      keepLatencies: false,
    });
  }

  /** Ends the current window: its answers and RSS maxima now, then /status and /metrics of every member. */
  async #closeWindow(): Promise<void> {
    const w = this.#window;
    const end = performance.now();
    this.#window = new Span(end);
    const waiting = this.#pending.filter((w) => w !== undefined).map((w) => w!.firstSentMs);
    const oldestInFlightMs = waiting.length === 0 ? null : round1(end - Math.min(...waiting));
    const durSec = (end - w.startMs) / 1000;
    const rss = this.#sampler.takeWindow();
    const cpu = this.#members.map((m, i) => {
      const pid = m.pid;
      const ms = processCpuMs(pid);
      const prev = this.#lastCpu[i]!;
      this.#lastCpu[i] = { pid, ms };
      if (pid === undefined || !Number.isFinite(ms)) return null;
      const used = prev.pid === pid && Number.isFinite(prev.ms) ? ms - prev.ms : ms; // restarted: all of it
      return round1((used / (durSec * 1000)) * 100);
    });
    const writtenGiB = round3(this.#bytes() / GiB);
    const [statuses, events] = await Promise.all([this.#statuses(SCRAPE_TIMEOUT_MS), this.#scrapeMetrics()]);
    const leader = leaderOf(statuses, this.#ids);
    const nodes: NodeWindow[] = this.#members.map((m, i) => {
      const disk = diskUsageBytes(m.dataDir);
      this.#peakDisk[i] = Math.max(this.#peakDisk[i]!, disk);
      const s = statuses[i];
      const role =
        i === this.#down ? "down" : leader === undefined ? "unknown" : i === leader ? "leader" : "follower";
      return {
        node: i + 1,
        role,
        rssMiB: rss[i] === undefined ? null : round1(rss[i]!),
        diskMiB: toMiB(disk),
        cpuPct: cpu[i] ?? null,
        applied: s?.applied ?? null,
        ...(s?.snapshotIndex !== undefined ? { snapshotIndex: s.snapshotIndex } : {}),
        events: events[i] ?? {},
      };
    });
    let leaderChange = false;
    if (leader !== undefined && leader !== this.#target && leader !== this.#down) {
      this.#target = leader;
      this.#leaderChanges++;
      leaderChange = true;
    }
    const line: WindowLine = {
      type: "window",
      system: this.sys.name,
      phase: this.#phase,
      window: ++this.#windowNo,
      tSec: round1((end - this.#t0) / 1000),
      durSec: round3(durSec),
      partial: durSec * 1000 < this.p.windowMs * 0.99,
      writes: w.ok,
      writesPerSec: round1(w.ok / durSec),
      ...latencyFigures(Float64Array.from(w.lat)),
      oldestInFlightMs,
      errors: w.errors,
      writtenGiB,
      loadAvg1m: round1(loadavg()[0]!),
      nodes,
      ...(leaderChange ? { leaderChange } : {}),
      ...(w.errorSamples.length > 0 ? { errorSamples: w.errorSamples } : {}),
    };
    this.#windows.push(line);
    this.emit(line);

    const freeDisk = freeDiskBytes(this.dirPath);
    if (freeDisk < MIN_FREE_DISK) {
      throw new Error(`growth: stopping: ${toMiB(freeDisk)} MiB left on the disk of ${this.dirPath}`);
    }
    const freeMem = memAvailableBytes();
    if (freeMem < MIN_FREE_MEMORY) {
      throw new Error(
        `growth: stopping: the machine has ${toMiB(freeMem)} MiB of memory available (RSS now ${rss.map((x) => Math.round(x ?? 0)).join("/")} MiB)`,
      );
    }
  }

  #statuses(timeoutMs: number): Promise<(MemberStatus | undefined)[]> {
    return Promise.all(
      this.#members.map((m, i) => (i === this.#down ? undefined : this.sys.status(m, timeoutMs))),
    );
  }

  /** Polls the statuses every 200 ms until `ok` holds of them; throws after `ms`. */
  async #statusesUntil(
    ok: (s: (MemberStatus | undefined)[]) => boolean,
    ms: number,
  ): Promise<(MemberStatus | undefined)[]> {
    const deadline = performance.now() + ms;
    for (;;) {
      const s = await this.#statuses(SCRAPE_TIMEOUT_MS);
      if (ok(s)) return s;
      if (performance.now() > deadline) {
        throw new Error(`growth: ${this.sys.name} statuses never settled: ${JSON.stringify(s)}`);
      }
      await sleep(200);
    }
  }

  /** Every answering member's snapshot/compaction events since its previous page. */
  async #scrapeMetrics(): Promise<(Record<string, number | HistogramDelta> | undefined)[]> {
    const texts = await Promise.all(
      this.#members.map((m, i) => (i === this.#down ? undefined : scrapeMetrics(m, SCRAPE_TIMEOUT_MS))),
    );
    return texts.map((t, i) => {
      if (t === undefined) return undefined;
      const page = parseMetrics(t);
      const d = metricsDelta(this.#lastPage[i], page);
      this.#lastPage[i] = page;
      return d;
    });
  }

  #bytes(): number {
    return this.#okTotal * this.p.valueBytes;
  }

  #elapsed(): number {
    return performance.now() - this.#t0;
  }
}
