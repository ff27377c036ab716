/**
 * @tsraft/testkit: what tsraft's tests, benchmarks and chaos runner share, once. Private: not
 * published, and nothing in the published packages imports it.
 */

export { ephemeralLow, freePorts } from "./ports.js";
