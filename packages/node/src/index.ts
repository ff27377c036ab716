export { createNodeMetrics, type NodeMetrics } from "./metrics.js";
