import type { TestData } from "./datadriven.js";
import { InteractionError, nodeAt, nodeIdxs } from "./interaction-args.js";
import type { InteractionEnv } from "./interaction-env.js";

/** `report-unreachable <id> <peer>`: tells the first node that the second is unreachable. */
export function handleReportUnreachable(env: InteractionEnv, d: TestData): void {
  const sl = nodeIdxs(d);
  if (sl.length !== 2) {
    throw new InteractionError(
      "must specify exactly two node indexes: node on which to report, and reported node",
    );
  }
  const [on, peer] = sl as [number, number];
  nodeAt(env, on).rawNode.reportUnreachable(nodeAt(env, peer).config.id);
}
