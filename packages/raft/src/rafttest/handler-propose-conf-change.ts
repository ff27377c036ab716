import { type ConfChangeI, confChangesFromString } from "../raftpb/confchange.js";
import { ConfChangeTransition, EMPTY_BYTES } from "../raftpb/types.js";
import type { TestData } from "./datadriven.js";
import { firstAsNodeIdx, InteractionError, nodeAt, parseBool } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/**
 * `propose-conf-change <id> [v1=<bool>] [transition=auto|implicit|explicit]` with the changes as
 * input (`v1 l2 r3 u4`: add voter 1, learner 2, remove 3, update 4): proposes a ConfChangeV2, or with
 * v1=true a (single) ConfChange. An empty input with a V2 leaves a joint configuration. Nodes added
 * to the configuration must still be created with add-nodes.
 */
export function handleProposeConfChange(env: InteractionEnv, d: TestData): void {
  const idx = firstAsNodeIdx(d);
  let v1 = false;
  let transition = ConfChangeTransition.ConfChangeTransitionAuto;
  for (const arg of d.cmdArgs.slice(1)) {
    for (const val of arg.vals) {
      switch (arg.key) {
        case "v1":
          v1 = parseBool(val);
          break;
        case "transition":
          switch (val) {
            case "auto":
              transition = ConfChangeTransition.ConfChangeTransitionAuto;
              break;
            case "implicit":
              transition = ConfChangeTransition.ConfChangeTransitionJointImplicit;
              break;
            case "explicit":
              transition = ConfChangeTransition.ConfChangeTransitionJointExplicit;
              break;
            default:
              throw new InteractionError(`unknown transition ${val}`);
          }
          break;
        default:
          throw new InteractionError(`unknown command ${arg.key}`);
      }
    }
  }
  let ccs: ReturnType<typeof confChangesFromString>;
  try {
    ccs = confChangesFromString(d.input);
  } catch (e) {
    throw new InteractionError((e as Error).message);
  }
  let cc: ConfChangeI;
  if (v1) {
    const first = ccs[0];
    if (ccs.length > 1 || transition !== ConfChangeTransition.ConfChangeTransitionAuto) {
      throw new InteractionError("v1 conf change can only have one operation and no transition");
    }
    if (first === undefined) throw new InteractionError("v1 conf change needs one operation");
    cc = { id: 0, type: first.type, nodeId: first.nodeId, context: EMPTY_BYTES };
  } else {
    cc = { transition, changes: ccs, context: EMPTY_BYTES };
  }
  proposeConfChange(env, idx, cc);
}

/** See {@link InteractionEnv.proposeConfChange}. */
export function proposeConfChange(env: InteractionEnv, idx: number, cc: ConfChangeI): void {
  nodeAt(env, idx).rawNode.proposeConfChange(cc);
}
