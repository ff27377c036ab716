/**
 * @tsraft/node/testing: what tests and tools use to break a node on purpose, kept out of the main
 * entry point. Failpoints crash or fail a file-system operation by name (`TSRAFT_FAILPOINTS`, used
 * by the crash harness), {@link MemFileSystem} is an in-memory FileSystem that can "crash" and keep
 * only what was made durable, and the segment-name helpers read and write WAL file names. The
 * frame kinds and the Hello decoder are for tools that watch the transport's bytes (the chaos
 * runner's proxy reads the dialer's id from its Hello). The two CRC-32C implementations behind
 * `crc32c` are here for benches and tests that compare them.
 */

export { crc32cImplementation, crc32cNative, crc32cSoftware } from "./crc32c.js";
export {
  type CrashFn,
  FAILPOINTS_ENV,
  type Failpoint,
  type FailpointAction,
  type FailpointName,
  failpointFileSystem,
  fileSystemFromEnv,
  parseFailpoints,
} from "./failpoints.js";
export {
  type CrashImageOptions,
  MemFileSystem,
  type MemFsHook,
  type MemFsOp,
  type MemFsOpKind,
} from "./mem-fs.js";
export { decodeHello, FrameKind, type Hello } from "./transport/frame.js";
export { parseSegmentName, segmentFileName } from "./wal/segment.js";
