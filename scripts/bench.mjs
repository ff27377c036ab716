#!/usr/bin/env node
// `pnpm bench [name...] [--json] [--runs N] [--n N] [--dir DIR] [--duration S] [--cpu-prof DIR] [--list] [family options]`
//
// Builds the packages and the bench programs (bench/, compiled to bench/dist, run on the packages'
// dist/ — what users get), then runs every case of every selected bench family once per run, each
// run in a fresh `node --expose-gc` child process so that neither JIT state nor heap carries over
// from one measurement to the next. With several runs it reports the median of each figure, with
// the min and max of the throughputs. A table by default; with --json one JSON line per case.
//
// A name is a family (`core`, `micro`), or one case of it (`core/3v-b64-step`). No name: all
// families except the streaming ones (growth: minutes and gigabytes), which run only when named;
// they print their JSON lines as they come (one per time window, then a summary) and accept options
// of their own (`--gib 0.5`), listed by --list. Exits 1 if a run fails or a case's work counters
// differ from its reference's, 2 on bad arguments. `TSRAFT_NO_BUILD=1` skips the build.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "bench", "dist");

/** Filled in once the families are loaded: their own options, for the usage text. */
let familyOptionsHelp = "";

function usage(msg) {
  if (msg) console.error(`bench: ${msg}`);
  console.error(
    "usage: pnpm bench [name...] [--json] [--runs N] [--n N] [--dir DIR] [--duration S] [--cpu-prof DIR] [--list] [family options]\n" +
      "  name      a family (core, micro, wal, ...) or one case of it (core/3v-b64-step); default: all but growth\n" +
      "  --json    one JSON line per case instead of a table\n" +
      "  --runs N  runs per case, each in a fresh process; medians with min/max (default 1)\n" +
      "  --n N     operations per run (the core's N; each family has its default)\n" +
      "  --dir DIR where disk-bound families (wal, cluster, growth) put their files; default: the temp dir\n" +
      "  --duration S  seconds per timed phase of time-bound families (cluster: default 10; growth: a bound)\n" +
      "  --cpu-prof DIR  write a V8 CPU profile of every run into DIR (node --cpu-prof)\n" +
      "  --list    list the families, their cases and their own options" +
      familyOptionsHelp,
  );
  process.exit(2);
}

// --- build
if (!process.env.TSRAFT_NO_BUILD) {
  const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-b", "bench"], {
    cwd: root,
    stdio: "inherit",
  });
  if (tsc.status !== 0) {
    console.error("bench: build failed");
    process.exit(1);
  }
}

const { REGISTRY } = await import(pathToFileURL(join(dist, "registry.js")).href);
const families = [];
for (const entry of REGISTRY) {
  const fam = await entry.load();
  families.push({
    name: fam.name,
    summary: fam.summary,
    cases: fam.cases(),
    stream: fam.kind === "stream",
    options: fam.options ?? [],
    format: fam.format,
  });
}
familyOptionsHelp = families
  .filter((f) => f.options.length > 0)
  .map(
    (f) =>
      `\n${f.name} options:${f.options.map((o) => `\n  --${o.name}${o.takesValue ? " V" : ""}  ${o.help}`).join("")}`,
  )
  .join("");

// --- arguments
const args = process.argv.slice(2);
const opts = {
  json: false,
  runs: 1,
  n: undefined,
  dir: undefined,
  duration: undefined,
  cpuProf: undefined,
  list: false,
  names: [],
  /** Family options as given: [{name, value?}], passed through to the children that know them. */
  extra: [],
};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  const count = (v) => {
    const x = Number(v.replaceAll("_", ""));
    if (!Number.isSafeInteger(x) || x <= 0) usage(`${a} wants a positive integer, not ${v}`);
    return x;
  };
  if (a === "--json") opts.json = true;
  else if (a === "--runs") opts.runs = count(value());
  else if (a === "--n") opts.n = count(value());
  else if (a === "--dir") opts.dir = resolve(value());
  else if (a === "--duration") {
    const v = value();
    opts.duration = Number(v);
    if (!(opts.duration > 0 && Number.isFinite(opts.duration)))
      usage(`--duration wants seconds > 0, not ${v}`);
  } else if (a === "--cpu-prof") opts.cpuProf = resolve(value());
  else if (a === "--list") opts.list = true;
  else if (a === "--help" || a === "-h") usage();
  else if (a.startsWith("--") && families.some((f) => f.options.some((o) => o.name === a.slice(2)))) {
    const spec = families.flatMap((f) => f.options).find((o) => o.name === a.slice(2));
    opts.extra.push(spec.takesValue ? { name: spec.name, value: value() } : { name: spec.name });
  } else if (a.startsWith("-")) usage(`unknown option ${a}`);
  else opts.names.push(a);
}

if (opts.list) {
  for (const f of families) {
    console.log(`${f.name}: ${f.summary}${f.stream ? " (streamed; runs only when named)" : ""}`);
    for (const c of f.cases) console.log(`  ${f.name}/${c.id}  ${JSON.stringify(c.params)}`);
    for (const o of f.options) console.log(`    --${o.name}${o.takesValue ? " V" : ""}  ${o.help}`);
  }
  process.exit(0);
}

// --- selection: [{family, case}] in registry order, without duplicates
const selected = [];
const want = opts.names.length === 0 ? families.filter((f) => !f.stream).map((f) => f.name) : opts.names;
for (const name of want) {
  const [fname, cid] = name.split("/", 2);
  const fam = families.find((f) => f.name === fname);
  if (fam === undefined) {
    usage(`unknown bench ${JSON.stringify(name)}; known: ${families.map((f) => f.name).join(", ")}`);
  }
  const cases = cid === undefined ? fam.cases : fam.cases.filter((c) => c.id === cid);
  if (cases.length === 0) {
    usage(`unknown case ${JSON.stringify(name)}; ${fam.name} has: ${fam.cases.map((c) => c.id).join(", ")}`);
  }
  for (const c of cases) {
    if (!selected.some((s) => s.family === fam.name && s.case === c.id)) {
      selected.push({ family: fam.name, case: c.id });
    }
  }
}
selected.sort(
  (a, b) => families.findIndex((f) => f.name === a.family) - families.findIndex((f) => f.name === b.family),
);
for (const x of opts.extra) {
  const owners = new Set(selected.map((s) => s.family));
  const known = families.some((f) => owners.has(f.name) && f.options.some((o) => o.name === x.name));
  if (!known)
    usage(
      `--${x.name} is an option of ${families
        .filter((f) => f.options.some((o) => o.name === x.name))
        .map((f) => f.name)
        .join(", ")}, which is not selected`,
    );
}

// --- running
/** The child's arguments for one run of `family`/`caseId`: node flags, the common options, the family's own. */
function childArgs(family, caseId, run) {
  const nodeArgs = ["--expose-gc"];
  if (opts.cpuProf !== undefined) {
    mkdirSync(opts.cpuProf, { recursive: true });
    nodeArgs.push(
      "--cpu-prof",
      `--cpu-prof-dir=${opts.cpuProf}`,
      `--cpu-prof-name=${family}-${caseId}-run${run}.cpuprofile`,
    );
  }
  const args = [...nodeArgs, join(dist, "child.js"), family, caseId];
  if (opts.n !== undefined) args.push("--n", String(opts.n));
  if (opts.dir !== undefined) args.push("--dir", opts.dir);
  if (opts.duration !== undefined) args.push("--duration", String(opts.duration));
  const own = families.find((f) => f.name === family).options;
  for (const x of opts.extra) {
    if (own.some((o) => o.name === x.name))
      args.push(`--${x.name}`, ...(x.value === undefined ? [] : [x.value]));
  }
  return args;
}

function runOnce(family, caseId, run) {
  const p = spawnSync(process.execPath, childArgs(family, caseId, run), {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 26,
  });
  if (p.status !== 0) {
    return { error: `${family}/${caseId} run ${run} failed (exit ${p.status}):\n${p.stderr}` };
  }
  const line = p.stdout.trim().split("\n").pop();
  try {
    return { result: JSON.parse(line) };
  } catch {
    return { error: `${family}/${caseId} run ${run}: no JSON result in ${JSON.stringify(p.stdout)}` };
  }
}

function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const r3 = (x) => Math.round(x * 1000) / 1000;

/** Medians over runs of every numeric figure; min/max of the throughputs; counters must agree. */
function aggregate(results) {
  const first = results[0];
  const med = (get) => median(results.map(get));
  const pick = (obj, get) =>
    obj === undefined
      ? undefined
      : Object.fromEntries(Object.keys(obj).map((k) => [k, r3(med((r) => get(r)[k]))]));
  const countersVaried = results.some((r) => JSON.stringify(r.counters) !== JSON.stringify(first.counters));
  const ops = results.map((r) => r.opsPerSec);
  const cpuOps = results.map((r) => r.cpuOpsPerSec);
  const agg = {
    bench: first.bench,
    case: first.case,
    params: first.params,
    runs: results.length,
    ops: first.ops,
    wallMs: r3(med((r) => r.wallMs)),
    cpuMs: r3(med((r) => r.cpuMs)),
    opsPerSec: Math.round(median(ops)),
    opsPerSecMin: Math.min(...ops),
    opsPerSecMax: Math.max(...ops),
    cpuOpsPerSec: Math.round(median(cpuOps)),
    cpuOpsPerSecMin: Math.min(...cpuOps),
    cpuOpsPerSecMax: Math.max(...cpuOps),
  };
  if (first.latency !== undefined) {
    agg.latency = {
      unit: first.latency.unit,
      of: first.latency.of,
      samples: first.latency.samples,
      p50: r3(med((r) => r.latency.p50)),
      p90: r3(med((r) => r.latency.p90)),
      p99: r3(med((r) => r.latency.p99)),
      ...(first.latency.p999 !== undefined ? { p999: r3(med((r) => r.latency.p999)) } : {}),
      max: r3(med((r) => r.latency.max)),
    };
  }
  agg.counters = first.counters;
  if (first.figures !== undefined) {
    agg.figures = pick(first.figures, (r) => r.figures);
    if (results.length > 1) {
      const over = (f) =>
        Object.fromEntries(
          Object.keys(first.figures).map((k) => [k, r3(f(...results.map((r) => r.figures[k])))]),
        );
      agg.figuresMin = over(Math.min);
      agg.figuresMax = over(Math.max);
    }
  }
  if (countersVaried) agg.countersVaried = results.map((r) => r.counters);
  agg.gc = pick(first.gc, (r) => r.gc);
  agg.heap = pick(first.heap, (r) => r.heap);
  if (first.reference !== undefined) {
    agg.reference = first.reference;
    if (first.reference.cpuOpsPerSec) agg.targetRatio = r3(agg.cpuOpsPerSec / first.reference.cpuOpsPerSec);
  }
  if (first.counterDiffs !== undefined) agg.counterDiffs = first.counterDiffs;
  if (first.notes !== undefined) agg.notes = first.notes;
  return agg;
}

// --- output
const fmt = (x) => (x === undefined ? "" : Math.round(x).toLocaleString("en-US"));
const columns = [
  ["case", (a) => `${a.bench}/${a.case}`],
  ["ops", (a) => fmt(a.ops)],
  ["ops/s", (a) => fmt(a.opsPerSec)],
  ["ops/CPU-s", (a) => fmt(a.cpuOpsPerSec)],
  ["min..max ops/CPU-s", (a) => (a.runs > 1 ? `${fmt(a.cpuOpsPerSecMin)}..${fmt(a.cpuOpsPerSecMax)}` : "")],
  ["target", (a) => fmt(a.reference?.cpuOpsPerSec)],
  ["ratio", (a) => (a.targetRatio === undefined ? "" : `${a.targetRatio.toFixed(2)}x`)],
  ["p50/p99", (a) => (a.latency ? `${a.latency.p50}/${a.latency.p99} ${a.latency.unit}` : "")],
  ["gc minor/major", (a) => `${a.gc.minor}/${a.gc.major + a.gc.incremental}`],
  ["counters", (a) => counterText(a)],
  ["figures", (a) => figureText(a)],
];

/** A family's own figures (MB/s, the raw fdatasync rate, ratios), medians; up to 4 significant digits. */
function figureText(a) {
  if (a.figures === undefined) return "";
  return Object.entries(a.figures)
    .map(([k, v]) => `${k}=${Math.abs(v) >= 1000 ? fmt(v) : Number(v.toPrecision(4))}`)
    .join(" ");
}

function counterText(a) {
  const c = a.counters;
  const base =
    a.bench === "core"
      ? `rounds=${c.rounds} readys=${c.readys} msgs=${c.messages}`
      : Object.entries(c)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ");
  if (a.countersVaried) return `${base} VARIED ACROSS RUNS`;
  if (a.counterDiffs === undefined) return base;
  const diffs = Object.entries(a.counterDiffs);
  const against = a.reference?.cpuOpsPerSec !== undefined ? "reference" : "formula";
  if (diffs.length === 0) return `${base} (= ${against})`;
  return `${base} DIFFERS: ${diffs.map(([k, [o, r]]) => `${k} ${o} vs ${r}`).join(", ")}`;
}

function printTable(rows) {
  const cells = [columns.map(([h]) => h), ...rows.map((a) => columns.map(([, f]) => f(a)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const r of cells) {
    console.log(
      r
        .map((c, i) => (i === 0 || i >= r.length - 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
        .join("  ")
        .trimEnd(),
    );
  }
}

/**
 * One run of a streaming family: its JSON lines forwarded as they come (as they are with --json,
 * else as the family formats them), its stderr passed through. Resolves with whether it succeeded.
 */
function runStreamed(family, caseId, run) {
  const fam = families.find((f) => f.name === family);
  const child = spawn(process.execPath, childArgs(family, caseId, run), {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    if (opts.json) {
      console.log(line);
      return;
    }
    try {
      console.log(fam.format(JSON.parse(line)));
    } catch {
      console.log(line);
    }
  });
  return new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      if (code !== 0) console.error(`${family}/${caseId} run ${run} failed (${signal ?? `exit ${code}`})`);
      resolve(code === 0);
    });
  });
}

let failed = false;
const rows = [];
for (const s of selected) {
  if (families.find((f) => f.name === s.family).stream) {
    for (let run = 1; run <= opts.runs; run++) {
      if (!opts.json) process.stderr.write(`bench: ${s.family}/${s.case} run ${run}/${opts.runs}\n`);
      if (!(await runStreamed(s.family, s.case, run))) {
        failed = true;
        break;
      }
    }
    continue;
  }
  const results = [];
  for (let run = 1; run <= opts.runs; run++) {
    if (!opts.json) process.stderr.write(`bench: ${s.family}/${s.case} run ${run}/${opts.runs}\n`);
    const r = runOnce(s.family, s.case, run);
    if (r.error !== undefined) {
      console.error(r.error);
      failed = true;
      break;
    }
    results.push(r.result);
  }
  if (results.length !== opts.runs) continue;
  const a = aggregate(results);
  if (a.countersVaried || (a.counterDiffs !== undefined && Object.keys(a.counterDiffs).length > 0)) {
    failed = true;
  }
  if (opts.json) console.log(JSON.stringify(a));
  else rows.push(a);
}
if (!opts.json && rows.length > 0) {
  console.log(
    `node ${process.version}, ${opts.runs} run(s) per case, medians; ratio = ops/CPU-s / reference target`,
  );
  printTable(rows);
  for (const a of rows) {
    for (const note of a.notes ?? [])
      if (!note.startsWith("post-conditions")) console.log(`note ${a.case}: ${note}`);
  }
}
process.exit(failed ? 1 : 0);
