/**
 * 32-bit FNV-1a, the one non-cryptographic hash of the tests and tools: the simulator's checksum
 * state machine hashes entry data with it, the chaos runner's linearizability models hash their
 * states (packages/chaos/src/lincheck). Fast and allocation-free; not for anything an adversary
 * chooses, and never for checksums on disk or on the wire (those are CRC-32C and SHA-256).
 */

/** FNV-1a's 32-bit offset basis: the hash of nothing, where a chain of calls starts. */
export const FNV1A_OFFSET = 0x811c9dc5;

const FNV1A_PRIME = 0x01000193;

/** The hash of `b`'s bytes, continuing from `h` (for chaining). Unsigned 32 bits. */
export function fnv1a(b: Uint8Array, h = FNV1A_OFFSET): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, FNV1A_PRIME);
  return h >>> 0;
}

/**
 * The hash of `s`'s UTF-16 code units (no encoding step, nothing allocated), continuing from `h`.
 * Unsigned 32 bits. Two strings that a chain must tell apart by their boundary ("a" + "bc" against
 * "ab" + "c") need a separator between them: {@link fnv1aUnit}.
 */
export function fnv1aString(s: string, h = FNV1A_OFFSET): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV1A_PRIME);
  return h >>> 0;
}

/** `h` extended by one unit `u` (a separator, or a marker for an absent value). Unsigned 32 bits. */
export function fnv1aUnit(u: number, h: number): number {
  return Math.imul(h ^ u, FNV1A_PRIME) >>> 0;
}
