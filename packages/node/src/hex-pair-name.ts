/**
 * etcd's file names for WAL segments and snapshots: two numbers as 16 lower-case hex digits each,
 * then an extension: `<a:016x>-<b:016x>.<ext>` (segment: sequence and first index; snapshot: term
 * and index).
 */

/** The name of (`a`, `b`) with extension `ext` (no dot). */
export function hexPairName(a: number, b: number, ext: string): string {
  return `${a.toString(16).padStart(16, "0")}-${b.toString(16).padStart(16, "0")}.${ext}`;
}

/**
 * The two numbers of `name` if `re` (whose groups 1 and 2 are the hex fields) matches it and both
 * are safe integers; undefined otherwise.
 */
export function parseHexPairName(re: RegExp, name: string): [number, number] | undefined {
  const m = re.exec(name);
  if (m === null) return undefined;
  const a = Number.parseInt(m[1]!, 16);
  const b = Number.parseInt(m[2]!, 16);
  return Number.isSafeInteger(a) && Number.isSafeInteger(b) ? [a, b] : undefined;
}
