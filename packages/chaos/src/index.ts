/**
 * `@tsraft/chaos`: robustness testing for tsraft-kv, after etcd's robustness suite and Jepsen. The
 * linearizability checker lives in the `./lincheck` subpath.
 */
export { Rng } from "./random.js";
