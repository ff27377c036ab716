/** Quorum arithmetic: majority and joint configurations, committed indexes and vote results. */
export { JointConfig } from "./joint.js";
export { MajorityConfig } from "./majority.js";
export { type AckedIndexer, formatIdSet, formatIndex, INDEX_UNBOUNDED, VoteResult } from "./quorum.js";
