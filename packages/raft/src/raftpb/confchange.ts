import {
  type ConfChange,
  type ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  EMPTY_BYTES,
} from "./types.js";

/**
 * Either kind of configuration change. The core works on V2 internally; a V1 ConfChange is the
 * special case of a V2 with one change and the automatic transition. The two are told apart by shape:
 * a V2 has `changes`.
 */
export type ConfChangeI = ConfChange | ConfChangeV2;

/** True if `cc` is a ConfChangeV2. */
export function isConfChangeV2(cc: ConfChangeI): cc is ConfChangeV2 {
  return "changes" in cc;
}

/** The V2 change carrying out the same operation (the identity for a V2). */
export function asV2(cc: ConfChangeI): ConfChangeV2 {
  if (isConfChangeV2(cc)) return cc;
  return {
    transition: ConfChangeTransition.ConfChangeTransitionAuto,
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/** The V1 ConfChange if `cc` is one, else undefined (a V2 has no V1 form). */
export function asV1(cc: ConfChangeI): ConfChange | undefined {
  return isConfChangeV2(cc) ? undefined : cc;
}

/**
 * Whether `cc` enters a joint configuration, and if so whether that is left automatically.
 * Joint consensus is used when there is more than one change or a joint transition is asked for.
 */
export function enterJoint(cc: ConfChangeV2): { autoLeave: boolean; ok: boolean } {
  if (cc.transition !== ConfChangeTransition.ConfChangeTransitionAuto || cc.changes.length > 1) {
    switch (cc.transition) {
      case ConfChangeTransition.ConfChangeTransitionAuto:
      case ConfChangeTransition.ConfChangeTransitionJointImplicit:
        return { autoLeave: true, ok: true };
      case ConfChangeTransition.ConfChangeTransitionJointExplicit:
        return { autoLeave: false, ok: true };
      default:
        throw new Error(`unknown transition: ${String(cc.transition)}`);
    }
  }
  return { autoLeave: false, ok: false };
}

/** True if `cc` leaves a joint configuration: a zero ConfChangeV2 (its context aside). */
export function leaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length === 0;
}

/**
 * Parses a space-separated list of operations: `vN` makes N a voter, `lN` a learner, `rN` removes N,
 * `uN` updates N. The inverse of {@link confChangesToString}. Throws an Error with etcd's text on an
 * unknown operation or a bad id (the test harnesses print it).
 */
export function confChangesFromString(s: string): ConfChangeSingle[] {
  const trimmed = s.trim();
  if (trimmed === "") return [];
  const out: ConfChangeSingle[] = [];
  for (const tok of trimmed.split(" ")) {
    if (tok.length < 2) throw new Error(`unknown token ${tok}`);
    let type: ConfChangeType;
    switch (tok[0]) {
      case "v":
        type = ConfChangeType.ConfChangeAddNode;
        break;
      case "l":
        type = ConfChangeType.ConfChangeAddLearnerNode;
        break;
      case "r":
        type = ConfChangeType.ConfChangeRemoveNode;
        break;
      case "u":
        type = ConfChangeType.ConfChangeUpdateNode;
        break;
      default:
        throw new Error(`unknown input: ${tok}`);
    }
    // Go's strconv.ParseUint errors; ids past 2^53 - 1 are out of range here.
    const digits = tok.slice(1);
    if (!/^[0-9]+$/.test(digits)) throw new Error(`strconv.ParseUint: parsing "${digits}": invalid syntax`);
    const id = Number(digits);
    if (!Number.isSafeInteger(id))
      throw new Error(`strconv.ParseUint: parsing "${digits}": value out of range`);
    out.push({ type, nodeId: id });
  }
  return out;
}

/** Formats changes as `v1 l2 r3 u4` (see {@link confChangesFromString}). */
export function confChangesToString(ccs: readonly ConfChangeSingle[]): string {
  const parts: string[] = [];
  for (const cc of ccs) {
    let p: string;
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
        p = "v";
        break;
      case ConfChangeType.ConfChangeAddLearnerNode:
        p = "l";
        break;
      case ConfChangeType.ConfChangeRemoveNode:
        p = "r";
        break;
      case ConfChangeType.ConfChangeUpdateNode:
        p = "u";
        break;
      default:
        p = "unknown";
    }
    parts.push(`${p}${cc.nodeId}`);
  }
  return parts.join(" ");
}

/** A ConfChangeV2 with the given changes and the automatic transition. */
export function simpleConfChangeV2(changes: ConfChangeSingle[]): ConfChangeV2 {
  return { transition: ConfChangeTransition.ConfChangeTransitionAuto, changes, context: EMPTY_BYTES };
}
