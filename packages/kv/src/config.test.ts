import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deriveClusterId, parseCliArgs, parseCluster } from "./config.js";

const CLUSTER = "ws://127.0.0.1:12379,ws://127.0.0.1:22379,ws://127.0.0.1:32379";

describe("tsraft-kv flags", () => {
  it("parses raftexample's flags plus ours, with etcd's defaults", () => {
    const p = parseCliArgs(["--id", "2", "--cluster", CLUSTER, "--port", "22380"], {});
    expect(p.kind).toBe("run");
    if (p.kind !== "run") return;
    expect(p.config).toMatchObject({
      id: 2,
      join: false,
      host: "127.0.0.1",
      port: 22380,
      dataDir: "./data/node-2",
      snapshotCount: 10000,
      snapshotCatchUpEntries: 5000,
      snapshotSendBytesPerSec: 32 * 1024 * 1024,
      catchUpBytesPerSec: 32 * 1024 * 1024,
      restoreNice: 19,
      maxRequestBytes: 1.5 * 1024 * 1024,
      logLevel: "info",
      peerToken: undefined,
      peerTls: undefined,
      walIo: "blocking",
      listenPeerUrl: undefined,
      historyEntries: 100_000,
      historyAgeSec: 0,
      watchSlowMs: 10_000,
    });
    expect([...p.config.cluster]).toEqual([
      [1, "ws://127.0.0.1:12379"],
      [2, "ws://127.0.0.1:22379"],
      [3, "ws://127.0.0.1:32379"],
    ]);
  });

  it("--help, and usage errors that say what is wrong", () => {
    expect(parseCliArgs(["--help"]).kind).toBe("help");
    const bad: [string[], RegExp][] = [
      [["--id", "4", "--cluster", CLUSTER], /--id 4 is not in --cluster/],
      [["--id", "x"], /--id must be an integer/],
      [["--port", "70000"], /--port/],
      [["--cluster", "http://h:1"], /ws:\/\/host:port/],
      [["--cluster", "ws://h:1,ws://h:1"], /appears twice/],
      [["--snapshot-count", "0"], /--snapshot-count/],
      [["--log-level", "loud"], /--log-level/],
      [["--bogus"], /bogus/],
      [["--cluster", "wss://h:1"], /wss:\/\//],
      [["--peer-cert-file", "c.pem"], /go together/],
      [["--heartbeat-tick", "10"], /below --election-tick/],
      [["--wal-io", "sideways"], /--wal-io must be blocking, async or hybrid/],
      [["--restore-nice", "20"], /--restore-nice must be an integer in \[0, 19\]/],
      [["--wal-preallocate", "fallocate"], /--wal-preallocate must be sparse or zero-fill/],
      [["--listen-peer-url", "http://h:1"], /--listen-peer-url/],
      [["--listen-peer-url", "ws://h"], /--listen-peer-url/],
      [["--history-entries", "many"], /--history-entries must be an integer/],
      [["--watch-slow-ms", "0"], /--watch-slow-ms/],
    ];
    for (const [argv, re] of bad) {
      const p = parseCliArgs(argv, {});
      expect(p.kind, argv.join(" ")).toBe("error");
      if (p.kind === "error") expect(p.message).toMatch(re);
    }
  });

  it("--wal-io async puts the WAL on libuv's thread pool, hybrid only its fdatasyncs", () => {
    const p = parseCliArgs(["--wal-io", "async"], {});
    expect(p.kind === "run" && p.config.walIo).toBe("async");
    const h = parseCliArgs(["--wal-io", "hybrid"], {});
    expect(h.kind === "run" && h.config.walIo).toBe("hybrid");
  });

  it("--wal-preallocate zero-fill writes WAL segments with zeros up front; sparse by default", () => {
    const p = parseCliArgs(["--wal-preallocate", "zero-fill"], {});
    expect(p.kind === "run" && p.config.walPreallocate).toBe("zero-fill");
    const d = parseCliArgs([], {});
    expect(d.kind === "run" && d.config.walPreallocate).toBe("sparse");
  });

  it("accepts id=url pairs and takes the peer token from the environment", () => {
    const p = parseCliArgs(["--id", "5", "--cluster", "1=ws://h:1,5=ws://h:5", "--join"], {
      TSRAFT_PEER_TOKEN: "s3",
    });
    expect(p.kind).toBe("run");
    if (p.kind !== "run") return;
    expect([...p.config.cluster.keys()]).toEqual([1, 5]);
    expect(p.config.join).toBe(true);
    expect(p.config.peerToken).toBe("s3");
  });

  it("--listen-peer-url: listen elsewhere than the URL the peers dial (a proxy in front)", () => {
    const p = parseCliArgs(
      ["--id", "2", "--cluster", CLUSTER, "--listen-peer-url", "ws://127.0.0.1:5555"],
      {},
    );
    expect(p.kind === "run" && p.config.listenPeerUrl).toBe("ws://127.0.0.1:5555");
    expect(p.kind === "run" && p.config.cluster.get(2)).toBe("ws://127.0.0.1:22379");
  });

  it("reads the peer token from --peer-token-file (trimmed), over the environment", () => {
    const dir = mkdtempSync(join(tmpdir(), "tsraft-kv-token-"));
    try {
      const file = join(dir, "token");
      writeFileSync(file, "from-file\n");
      const p = parseCliArgs(["--peer-token-file", file], { TSRAFT_PEER_TOKEN: "from-env" });
      expect(p.kind === "run" && p.config.peerToken).toBe("from-file");
      const missing = parseCliArgs(["--peer-token-file", join(dir, "absent")], {});
      expect(missing.kind).toBe("error");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("derives one cluster id for the founders and for a node that joins later", () => {
    const founders = deriveClusterId(parseCluster(CLUSTER));
    const joiner = deriveClusterId(parseCluster(`${CLUSTER},ws://127.0.0.1:42379`));
    expect(joiner).toBe(founders);
    expect(Number.isSafeInteger(founders) && founders > 0).toBe(true);
    expect(deriveClusterId(parseCluster("ws://127.0.0.1:9999"))).not.toBe(founders);
    const p = parseCliArgs(["--cluster-id", "77"], {});
    expect(p.kind === "run" && p.config.clusterId).toBe(77);
  });
});
