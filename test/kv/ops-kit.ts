/**
 * Helpers of the operations tests (backup, restore, force-new-cluster): running a `tsraft-kv`
 * subcommand as an operator would, a write load that records what was acknowledged and when, and
 * the `/debug/hash` and `/status` of a node by URL.
 */
import type { ChildProcess } from "node:child_process";
import type { StateHash } from "@tsraft/kv";
import { httpRequest, runCommand } from "@tsraft/testkit";
import { CLI, getJson, type Status, sleep } from "./cluster.js";

/**
 * Runs `tsraft-kv <args>` to its exit: the exit code and what it printed. `onSpawn` sees the
 * process as it starts (to sample its memory).
 */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  onSpawn?: (p: ChildProcess) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = await runCommand(process.execPath, [CLI, ...args], { env, ...(onSpawn ? { onSpawn } : {}) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export type { StateHash };

/** `/debug/hash` of the node at `url`. */
export function debugHash(url: string): Promise<StateHash> {
  return getJson<StateHash>(url, "/debug/hash", 5000);
}

export function statusOf(url: string): Promise<Status> {
  return getJson<Status>(url, "/status");
}

/** A write acknowledged (204) by the cluster. */
export interface Ack {
  key: string;
  value: string;
  /** performance.now() when the answer arrived. */
  at: number;
}

/**
 * Writes unique keys (`<prefix>-<worker>-<n>`, each with an Idempotency-Key, so the store also
 * holds idempotency records) from `workers` concurrent clients to the URLs `urls()` names, until
 * `stop()`; every 204 is recorded. A write that fails is retried with its key (exactly once).
 */
export function startLoad(prefix: string, urls: () => string[], workers = 4) {
  const acks: Ack[] = [];
  let stopped = false;
  let failures = 0;
  const worker = async (w: number) => {
    for (let n = 0; !stopped; n++) {
      const key = `${prefix}-${w}-${String(n).padStart(6, "0")}`;
      const value = `v-${key}-${"x".repeat(64)}`;
      for (let attempt = 0; !stopped; attempt++) {
        const list = urls();
        const url = list[(w + attempt) % list.length]!;
        const r = await httpRequest({
          method: "PUT",
          port: Number(new URL(url).port),
          path: `/kv/${key}`,
          body: value,
          headers: { "idempotency-key": key },
          timeoutMs: 10_000,
        });
        if (r.kind === "answer" && r.status === 204) {
          acks.push({ key, value, at: performance.now() });
          break;
        }
        failures++;
        await sleep(50);
      }
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    acks,
    get failures() {
      return failures;
    },
    async stop(): Promise<void> {
      stopped = true;
      await running;
    },
  };
}
