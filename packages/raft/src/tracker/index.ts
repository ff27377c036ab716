/** The leader's view of its followers: Progress, Inflights and the ProgressTracker. */
export { Inflights } from "./inflights.js";
export { Progress, type ProgressInit, ProgressMap } from "./progress.js";
export { ProgressState } from "./state.js";
export { ProgressTracker, TrackerConfig, type VoteTally } from "./tracker.js";
