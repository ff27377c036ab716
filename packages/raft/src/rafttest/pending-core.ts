/**
 * The core's API the harness codes against, now backed by the real modules (branch `core` landed
 * them). Kept as a re-export so the harness's imports need not change; the harness may import the
 * modules directly and drop this file.
 */
export type { Config } from "../config.js";
export { RawNode, setRandomizedElectionTimeout } from "../raw-node.js";
export { ReadOnlyOption } from "../read-only.js";
export type { BasicStatus, Status } from "../status.js";
export { MemoryStorage, type Storage } from "../storage.js";
export { Progress } from "../tracker/index.js";
