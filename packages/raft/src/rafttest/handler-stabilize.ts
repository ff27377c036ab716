import type { TestData } from "./datadriven.js";
import { deliverMsgs, splitMsgs } from "./handler-deliver-msgs.js";
import { logLevel } from "./handler-log-level.js";
import { processAppendThread } from "./handler-process-append-thread.js";
import { processApplyThread } from "./handler-process-apply-thread.js";
import { processReady } from "./handler-process-ready.js";
import { isReportable, nodeAt, nodeIdxs } from "./interaction-args.js";
import type { InteractionEnv, Node } from "./interaction-env.js";

/**
 * `stabilize [<id>...] [log-level=<level>]`: handles Readies, delivers messages and runs the
 * storage threads on the nodes listed (all if none) until nothing changes; with log-level, at that
 * level for the duration.
 */
export function handleStabilize(env: InteractionEnv, d: TestData): void {
  const idxs = nodeIdxs(d);
  const old = env.output.lvl;
  try {
    for (const arg of d.cmdArgs) {
      for (const val of arg.vals) {
        if (arg.key === "log-level") logLevel(env, val);
      }
    }
    stabilize(env, ...idxs);
  } finally {
    env.output.lvl = old;
  }
}

/**
 * See {@link InteractionEnv.stabilize}. Each round: every node with a Ready handles it, then every
 * node receives its messages, then runs its append thread, then its apply thread (each step in the
 * order the nodes were given), until a round finds nothing to do.
 */
export function stabilize(env: InteractionEnv, ...idxs: number[]): void {
  const nodes: Node[] = idxs.length > 0 ? idxs.map((i) => nodeAt(env, i)) : [...env.nodes];
  for (;;) {
    let done = true;
    for (const n of nodes) {
      if (!n.rawNode.hasReady()) continue;
      const idx = n.config.id - 1;
      env.output.writeString(`> ${idx + 1} handling Ready\n`);
      env.withIndent(() => processReady(env, idx));
      done = false;
    }
    for (const n of nodes) {
      const id = n.config.id;
      // Only to decide whether to print the header; deliverMsgs splits again.
      if (splitMsgs(env.messages, id, undefined, false)[0].length === 0) continue;
      env.output.writeString(`> ${id} receiving messages\n`);
      env.withIndent(() => deliverMsgs(env, undefined, { id, drop: false }));
      done = false;
    }
    for (const n of nodes) {
      if (n.appendWork.length === 0) continue;
      const idx = n.config.id - 1;
      env.output.writeString(`> ${idx + 1} processing append thread\n`);
      while (n.appendWork.length > 0) env.withIndent(() => processAppendThread(env, idx));
      done = false;
    }
    for (const n of nodes) {
      if (n.applyWork.length === 0) continue;
      const idx = n.config.id - 1;
      env.output.writeString(`> ${idx + 1} processing apply thread\n`);
      while (n.applyWork.length > 0) {
        // etcd's Stabilize ignores apply errors here (the work item is consumed regardless).
        env.withIndent(() => {
          try {
            processApplyThread(env, idx);
          } catch (e) {
            if (!isReportable(e)) throw e;
          }
        });
      }
      done = false;
    }
    if (done) return;
  }
}
