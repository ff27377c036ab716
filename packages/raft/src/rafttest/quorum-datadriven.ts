/**
 * The datadriven harness of etcd's quorum tests (the corpus's `quorum/*.txt`): `committed` prints a
 * commit index with its describe table, `vote` a vote result. Like etcd's, it recomputes every answer
 * in ways that must agree (another algorithm, a joint config with an empty or identical half, the
 * halves swapped, lowered acks that should not matter) and prints any disagreement, so the expected
 * outputs double as checks of those equivalences.
 *
 * Arguments: `cfg=(ids)` the (incoming) majority config; `cfgj=(ids)` or `cfgj=zero` makes it a joint
 * test with that second half; `idx=(...)` the acked index of each voter, in order of first appearance
 * in cfg then cfgj, `_` for none (0 is not allowed: "unknown" and 0 must not be confused); `votes=(...)`
 * likewise with `y`, `n` or `_`.
 */
import { JointConfig } from "../quorum/joint.js";
import { MajorityConfig } from "../quorum/majority.js";
import { type AckedIndexer, formatIndex, INDEX_UNBOUNDED, VoteResult } from "../quorum/quorum.js";
import type { DatadrivenHandler, TestData } from "./datadriven.js";

/** Parses an unsigned decimal as Go's strconv.ParseUint(s, 10, 64) would, limited to safe integers. */
function parseUint(s: string, d: TestData): number {
  const n = Number(s);
  if (!/^[0-9]+$/.test(s) || !Number.isSafeInteger(n)) {
    throw new Error(`${d.pos}: strconv.ParseUint: parsing "${s}": invalid syntax`);
  }
  return n;
}

/**
 * A second way to compute a majority's committed index (etcd's `alternativeMajorityCommittedIndex`):
 * count, for each index some voter acked, how many voters acked it or more, and take the largest
 * index a quorum reached. Quadratic, and independent of the sorting that the real one relies on.
 */
export function alternativeMajorityCommittedIndex(c: MajorityConfig, l: AckedIndexer): number {
  if (c.size === 0) return INDEX_UNBOUNDED;
  const acked: number[] = [];
  for (const id of c) {
    const idx = l(id);
    if (idx !== undefined) acked.push(idx);
  }
  const q = Math.floor(c.size / 2) + 1;
  let best = 0;
  for (const candidate of acked) {
    const votes = acked.filter((idx) => idx >= candidate).length;
    if (votes >= q && candidate > best) best = candidate;
  }
  return best;
}

/**
 * Maps the voters of `ids` then `idsj` (each once, in order of first appearance) to the values of
 * `input`, dropping the zeros that stand for `_`.
 */
function makeLookup(
  input: readonly number[],
  ids: readonly number[],
  idsj: readonly number[],
): Map<number, number> {
  const m = new Map<number, number>();
  let p = 0;
  for (const id of [...ids, ...idsj]) {
    if (m.has(id)) continue;
    if (p < input.length) m.set(id, input[p++]!);
  }
  for (const [id, v] of m) if (v === 0) m.delete(id);
  return m;
}

const lookupOf =
  (m: ReadonlyMap<number, number>): AckedIndexer =>
  (id) =>
    m.get(id);

/** `l`, except that voter `id` of `c` acked `idx` (and only voters of `c` are known). */
function overlay(c: MajorityConfig, l: AckedIndexer, id: number, idx: number): AckedIndexer {
  const m = new Map<number, number>();
  for (const vid of c) {
    const v = vid === id ? idx : l(vid);
    if (v !== undefined) m.set(vid, v);
  }
  return lookupOf(m);
}

/** Go's `%v` of a `map[uint64]struct{}`: `map[1:{} 2:{}]`, keys sorted. */
function goSetString(ids: Iterable<number>): string {
  return `map[${Array.from(ids, (id) => `${id}:{}`).join(" ")}]`;
}

function committedMajority(c: MajorityConfig, l: AckedIndexer): string {
  const idx = c.committedIndex(l);
  let out = c.describe(l);
  const alt = alternativeMajorityCommittedIndex(c, l);
  if (alt !== idx) out += `${formatIndex(alt)} <-- via alternative computation\n`;
  const zeroJoint = new JointConfig(c, new MajorityConfig()).committedIndex(l);
  if (zeroJoint !== idx) out += `${formatIndex(zeroJoint)} <-- via zero-joint quorum\n`;
  const selfJoint = new JointConfig(c, c).committedIndex(l);
  if (selfJoint !== idx) out += `${formatIndex(selfJoint)} <-- via self-joint quorum\n`;
  for (const id of c) {
    const iidx = l(id) ?? 0;
    if (idx > iidx && iidx > 0) {
      // The commit index was above this voter's ack, so lowering that ack must not change it.
      // (etcd prints these two lines without a newline; so does this.)
      const lower = c.committedIndex(overlay(c, l, id, iidx - 1));
      if (lower !== idx) out += `${formatIndex(lower)} <-- overlaying ${id}->${iidx}`;
      const zero = c.committedIndex(overlay(c, l, id, 0));
      if (zero !== idx) out += `${formatIndex(zero)} <-- overlaying ${id}->0`;
    }
  }
  return `${out}${formatIndex(idx)}\n`;
}

function committedJoint(c: MajorityConfig, cj: MajorityConfig, l: AckedIndexer): string {
  const cc = new JointConfig(c, cj);
  let out = cc.describe(l);
  const idx = cc.committedIndex(l);
  const swapped = new JointConfig(cj, c).committedIndex(l);
  if (swapped !== idx) out += `${formatIndex(swapped)} <-- via symmetry\n`;
  return `${out}${formatIndex(idx)}\n`;
}

/**
 * The handler for the corpus's `quorum/*.txt`. It keeps no state between directives; a fresh one per
 * file is still the way to use it, like every datadriven handler here.
 */
export function quorumDatadrivenHandler(): DatadrivenHandler {
  return (d) => {
    let joint = false;
    const ids: number[] = [];
    const idsj: number[] = [];
    // Acked indexes, and votes as 0 (`_`), 1 (no) and 2 (yes), in order of first appearance.
    const idxs: number[] = [];
    const votes: number[] = [];
    for (const arg of d.cmdArgs) {
      for (const val of arg.vals) {
        switch (arg.key) {
          case "cfg":
            ids.push(parseUint(val, d));
            break;
          case "cfgj":
            joint = true;
            if (val === "zero") {
              if (arg.vals.length !== 1) throw new Error(`${d.pos}: cannot mix 'zero' into configuration`);
            } else {
              idsj.push(parseUint(val, d));
            }
            break;
          case "idx": {
            let n = 0;
            if (val !== "_") {
              n = parseUint(val, d);
              if (n === 0) throw new Error(`${d.pos}: cannot use 0 as idx`);
            }
            idxs.push(n);
            break;
          }
          case "votes":
            if (val === "y") votes.push(2);
            else if (val === "n") votes.push(1);
            else if (val === "_") votes.push(0);
            else throw new Error(`${d.pos}: unknown vote: ${val}`);
            break;
          default:
            throw new Error(`${d.pos}: unknown arg ${arg.key}`);
        }
      }
    }
    const c = new MajorityConfig(ids);
    const cj = new MajorityConfig(idsj);

    const input = d.cmd === "vote" ? votes : idxs;
    const voters = new JointConfig(c, cj).ids();
    if (voters.size !== input.length) {
      return `error: mismatched input (explicit or _) for voters ${goSetString(voters)}: [${input.map(formatIndex).join(" ")}]`;
    }

    switch (d.cmd) {
      case "committed": {
        const l = lookupOf(makeLookup(idxs, ids, idsj));
        return joint ? committedJoint(c, cj, l) : committedMajority(c, l);
      }
      case "vote": {
        const l = new Map<number, boolean>();
        for (const [id, v] of makeLookup(votes, ids, idsj)) l.set(id, v !== 1);
        if (!joint) return `${VoteResult[c.voteResult(l)]}\n`;
        const r = new JointConfig(c, cj).voteResult(l);
        const swapped = new JointConfig(cj, c).voteResult(l);
        let out = "";
        if (swapped !== r) out += `${VoteResult[swapped]} <-- via symmetry\n`;
        return `${out}${VoteResult[r]}\n`;
      }
      default:
        throw new Error(`${d.pos}: unknown command: ${d.cmd}`);
    }
  };
}
