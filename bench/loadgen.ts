/**
 * The cluster bench's closed-loop HTTP load generator: `clients` independent clients, each sending
 * its next request as soon as the previous answer has arrived, over node:http keep-alive
 * connections (one per client), for a fixed time. The same generator drives tsraft-kv and etcd, so
 * the two see the same load; only the request shape differs ({@link RequestShape}).
 */
import { Agent, type IncomingHttpHeaders } from "node:http";
import { httpRequest, runClosedLoop } from "@tsraft/testkit";

/** One HTTP request to send. */
export interface RequestSpec {
  readonly method: string;
  readonly path: string;
  readonly body: Buffer | undefined;
  readonly contentType: string;
}

/** How a system under test spells a PUT and a linearizable GET of a key, and what it answers. */
export interface RequestShape {
  put(key: string, value: Buffer): RequestSpec;
  get(key: string): RequestSpec;
  /** The status code of a successful PUT (204 for tsraft-kv, 200 for etcd's gateway). */
  readonly putOk: number;
  readonly getOk: number;
}

/** What a closed-loop phase did. */
export interface PhaseResult {
  /** Requests answered with the expected status. */
  readonly ok: number;
  /** Requests answered otherwise, or failed (connection errors); not in `ok` nor in the latencies. */
  readonly errors: number;
  /** Latency of every successful request, ms, in completion order (empty with `keepLatencies: false`). */
  readonly latenciesMs: Float64Array;
  readonly wallMs: number;
  /** The first few error descriptions, for the notes. */
  readonly errorSamples: string[];
}

/** The bytes of a 128-byte value unique to (client, seq): its id, then filler. */
export function uniqueValue(client: number, seq: number, bytes = 128): Buffer {
  const v = Buffer.alloc(bytes, 0x2e); // '.'
  v.write(`c${client}:s${seq}:`, 0, "latin1");
  return v;
}

/** The key client `client` writes at its `seq`th request: each client cycles over 1000 keys of its own. */
export function keyOf(client: number, seq: number): string {
  return `bench/c${client}/k${seq % 1000}`;
}

/**
 * Sends `spec` once through the test kit's client; rejects on a connection error, or when the
 * whole answer has not arrived within `o.timeoutMs` (if given).
 */
export async function sendSpec(
  port: number,
  spec: RequestSpec,
  o: { host?: string; agent?: Agent; timeoutMs?: number | undefined; discardBody?: boolean } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const r = await httpRequest({
    ...o,
    port,
    method: spec.method,
    path: spec.path,
    ...(spec.body !== undefined ? { body: spec.body } : {}),
    headers: { "content-type": spec.contentType },
    timeoutMs: o.timeoutMs,
  });
  if (r.kind === "failure") throw new Error(r.error);
  return r;
}

/**
 * Sends one request on `agent`, the body read and dropped; resolves with the status code once the
 * whole answer is read (see {@link sendSpec}).
 */
export async function send(
  agent: Agent,
  host: string,
  port: number,
  spec: RequestSpec,
  timeoutMs?: number,
): Promise<number> {
  return (await sendSpec(port, spec, { host, agent, timeoutMs, discardBody: true })).status;
}

/**
 * Runs `clients` closed-loop clients (the test kit's `runClosedLoop`) against host:port for
 * `durationMs`: client c sends `make(c, seq)` (called right before the request goes out) for
 * seq = 0, 1, ... and counts an answer with status `okStatus` as a success. A request in flight when
 * the time is up is awaited, and counted (the phase lasts until the last answer). `counts[c]` is set
 * to the number of requests client c sent.
 *
 * For long phases aggregated by time window (the growth bench): `port` may be a function, asked
 * before each request (the load follows a new leader); `onAnswer` hears every outcome as it
 * happens; `until` ends the phase early once it returns true (checked before each request);
 * `errorPauseMs` spaces out retries after a failure; `timeoutMs` bounds each request; and
 * `keepLatencies: false` keeps memory flat however long the phase runs.
 */
export async function closedLoop(opts: {
  host: string;
  port: number | (() => number);
  clients: number;
  durationMs: number;
  make: (client: number, seq: number) => RequestSpec;
  okStatus: number;
  counts?: number[];
  onAnswer?: (ok: boolean, latencyMs: number, error: string | undefined, client: number) => void;
  until?: () => boolean;
  errorPauseMs?: number;
  timeoutMs?: number;
  keepLatencies?: boolean;
}): Promise<PhaseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.clients, maxFreeSockets: opts.clients });
  const lat: number[] = [];
  let ok = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const keep = opts.keepLatencies ?? true;
  const portOf = typeof opts.port === "number" ? () => opts.port as number : opts.port;
  const t0 = performance.now();
  const counts = await runClosedLoop({
    clients: opts.clients,
    durationMs: opts.durationMs,
    until: opts.until,
    client: (c) => async (seq) => {
      const spec = opts.make(c, seq);
      const start = performance.now();
      let error: string | undefined;
      try {
        const status = await send(agent, opts.host, portOf(), spec, opts.timeoutMs);
        if (status !== opts.okStatus) error = `${spec.method} ${spec.path}: HTTP ${status}`;
      } catch (err) {
        error = `${spec.method} ${spec.path}: ${String(err)}`;
      }
      const ms = performance.now() - start;
      opts.onAnswer?.(error === undefined, ms, error, c);
      if (error === undefined) {
        ok++;
        if (keep) lat.push(ms);
        return 0;
      }
      errors++;
      if (errorSamples.length < 5) errorSamples.push(error);
      return opts.errorPauseMs;
    },
  }).finished;
  const wallMs = performance.now() - t0;
  agent.destroy();
  if (opts.counts !== undefined) for (const [c, n] of counts.entries()) opts.counts[c] = n;
  return { ok, errors, latenciesMs: Float64Array.from(lat), wallMs, errorSamples };
}

/** tsraft-kv's HTTP API (README.md, "HTTP API"): `PUT /kv/<key>` → 204, `GET /kv/<key>` (linearizable) → 200. */
export const TSRAFT_SHAPE: RequestShape = {
  put: (key, value) => ({
    method: "PUT",
    path: `/kv/${encodeURIComponent(key)}`,
    body: value,
    contentType: "application/octet-stream",
  }),
  get: (key) => ({
    method: "GET",
    path: `/kv/${encodeURIComponent(key)}`,
    body: undefined,
    contentType: "text/plain",
  }),
  putOk: 204,
  getOk: 200,
};

/**
 * etcd v3's JSON gateway (grpc-gateway in front of its own gRPC API): `POST /v3/kv/put` and a
 * linearizable `POST /v3/kv/range` (serializable is false by default), keys and values in base64.
 */
export const ETCD_SHAPE: RequestShape = {
  put: (key, value) => ({
    method: "POST",
    path: "/v3/kv/put",
    body: Buffer.from(
      JSON.stringify({ key: Buffer.from(key).toString("base64"), value: value.toString("base64") }),
    ),
    contentType: "application/json",
  }),
  get: (key) => ({
    method: "POST",
    path: "/v3/kv/range",
    body: Buffer.from(JSON.stringify({ key: Buffer.from(key).toString("base64") })),
    contentType: "application/json",
  }),
  putOk: 200,
  getOk: 200,
};
