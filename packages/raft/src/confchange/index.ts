/** Configuration changes: simple, entering and leaving joint consensus, and restoring a ConfState. */
export { Changer, type ChangerTracker, type ConfChangeResult } from "./confchange.js";
export { restore } from "./restore.js";
