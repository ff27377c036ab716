/**
 * The bench families `pnpm bench` knows, in the order it runs them. A new family is one file
 * exporting `family: BenchFamily` (or a `StreamFamily`; see lib.ts) plus one line here.
 */
import type { AnyFamily } from "./lib.js";

/** A family's name, what it measures, and how to load it. */
export interface RegistryEntry {
  readonly name: string;
  readonly load: () => Promise<AnyFamily>;
}

export const REGISTRY: readonly RegistryEntry[] = [
  { name: "core", load: async () => (await import("./core.js")).family },
  { name: "micro", load: async () => (await import("./micro.js")).family },
  { name: "wal", load: async () => (await import("./wal.js")).family },
  { name: "transport", load: async () => (await import("./transport.js")).family },
  { name: "cluster", load: async () => (await import("./cluster.js")).family },
  { name: "growth", load: async () => (await import("./growth.js")).family },
  { name: "soak", load: async () => (await import("./soak.js")).family },
];

/** The entry for `name`, or an error listing the known names. */
export function lookup(name: string): RegistryEntry {
  const e = REGISTRY.find((x) => x.name === name);
  if (e === undefined) {
    throw new Error(
      `unknown bench ${JSON.stringify(name)}; known: ${REGISTRY.map((x) => x.name).join(", ")}`,
    );
  }
  return e;
}
