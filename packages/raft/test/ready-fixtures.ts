/** A Ready for the tests that build one by hand. */
import type { Ready } from "../src/ready.js";

/** A Ready with the fields given in `f` and nothing else in it (an empty Ready without `f`). */
export function newReady(f: Partial<Ready> = {}): Ready {
  return {
    softState: undefined,
    hardState: undefined,
    readStates: [],
    entries: [],
    snapshot: undefined,
    committedEntries: [],
    messages: [],
    mustSync: false,
    ...f,
  };
}
