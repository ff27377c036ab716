export { createNodeMetrics, type NodeMetrics } from "./metrics.js";
// Transport (WebSocket between peers): see src/transport/transport.ts and README "Wire format".
export { CloseCode, PROTOCOL_VERSION, RAFT_PATH } from "./transport/frame.js";
export type { TransportHandler, TransportOptions, TransportTLS } from "./transport/options.js";
export type { PeerInfo } from "./transport/peer.js";
export { Transport } from "./transport/transport.js";
