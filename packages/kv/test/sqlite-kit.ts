/**
 * Helpers of the SQLite state machine's tests (packages/kv/src/*.test.ts): temp directories and
 * state machines closed after each test, entry builders, images, and crash copies.
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ApplyEntry } from "@tsraft/raft";
import { afterEach } from "vitest";
import { type Command, encodeCommand } from "../src/command.js";
import { encodeIdempotent } from "../src/idempotency.js";
import { SqliteStateMachine, type SqliteStateMachineOptions } from "../src/sqlite-state-machine.js";

const dirs: string[] = [];
const opened: SqliteStateMachine[] = [];

/** Registers the cleanup (close every state machine, remove every temp dir) after each test. */
export function useSqliteKit(): void {
  afterEach(() => {
    for (const sm of opened.splice(0)) sm.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
}

/** A fresh directory, removed after the test. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tsraft-kv-sm-"));
  dirs.push(d);
  return d;
}

/** Opens a state machine in `dir`, closed after the test. */
export function openSm(dir: string, options: SqliteStateMachineOptions = {}): SqliteStateMachine {
  const sm = SqliteStateMachine.open(dir, options);
  opened.push(sm);
  return sm;
}

export const b = (s: string) => new TextEncoder().encode(s);
export const text = (v: Uint8Array | undefined) =>
  v === undefined ? undefined : new TextDecoder().decode(v);

export const normal = (index: number, cmd: Command): ApplyEntry => ({
  index,
  term: 1,
  kind: "normal",
  data: encodeCommand(cmd),
});

/** An entry of an encoded command (`command.ts` or `txn-command.ts`) sent with idempotency key `key`. */
export const keyedEntry = (index: number, key: string, command: Uint8Array): ApplyEntry => ({
  index,
  term: 1,
  kind: "normal",
  data: encodeIdempotent(b(key), command),
});

export const put = (index: number, k: string | Uint8Array, v: string | Uint8Array, prev?: string) =>
  normal(index, {
    op: "put",
    key: typeof k === "string" ? b(k) : k,
    value: typeof v === "string" ? b(v) : v,
    ...(prev === undefined ? {} : { prev: b(prev) }),
  });

export const del = (index: number, k: string, prev?: string) =>
  normal(index, { op: "delete", key: b(k), ...(prev === undefined ? {} : { prev: b(prev) }) });

/** The whole image of `sm`'s current state, as chunks, and the index it is at. */
export async function imageOf(sm: SqliteStateMachine): Promise<{ index: number; chunks: Uint8Array[] }> {
  const s = await sm.snapshot();
  try {
    const chunks: Uint8Array[] = [];
    for await (const c of s.read()) chunks.push(c);
    return { index: s.index, chunks };
  } finally {
    s.release();
  }
}

/**
 * What a process crash right now would leave: a new directory with copies of every file of `dir`
 * as they are (no close, no commit; SQLite's -shm included, as a killed process leaves it).
 */
export function crashCopy(dir: string): string {
  const to = tempDir();
  for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(to, f));
  return to;
}
