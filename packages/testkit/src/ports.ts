/**
 * Ports for the servers a test starts: found free, released, then bound again by the processes
 * under test. Between the two, any other process may take the port; the classic way of finding one
 * (listen on port 0) picks it from the kernel's ephemeral range, where every outgoing connection on
 * the machine also takes its source port — a CI run on a busy machine saw a node refused at start
 * with EADDRINUSE that way. So ports are drawn at random below that range, where only a process
 * that asks for a port by number can land, and each is checked by binding it.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The first port of the kernel's ephemeral range (32768 if it cannot be read). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 12_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** True if 127.0.0.1:`port` could be bound just now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * `n` distinct TCP ports of 127.0.0.1 that were free a moment ago, drawn at random from 10000 up
 * to the kernel's ephemeral range (not from it: see the file comment).
 */
export async function freePorts(n: number): Promise<number[]> {
  const low = 10_000;
  const high = ephemeralLow();
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries > 1000) throw new Error(`freePorts: no ${n} free ports found in [${low}, ${high})`);
    const p = low + Math.floor(Math.random() * (high - low));
    if (!ports.includes(p) && (await canBind(p))) ports.push(p);
  }
  return ports;
}
