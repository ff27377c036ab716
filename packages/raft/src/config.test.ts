import { describe, expect, it } from "vitest";
import { newTestStorage } from "../test/network.js";
import { type Config, validateConfig } from "./config.js";
import { LocalAppendThread, LocalApplyThread, NO_LIMIT } from "./constants.js";
import { isRaftError } from "./errors.js";
import { RawNode } from "./raw-node.js";
import { ReadOnlyOption } from "./read-only.js";
import { MemoryStorage } from "./storage.js";

const base = (): Config => ({
  id: 1,
  electionTick: 10,
  heartbeatTick: 1,
  storage: newTestStorage([1]),
  maxInflightMsgs: 256,
});

describe("Config validation (etcd's messages)", () => {
  const cases: [string, Partial<Config>, string][] = [
    ["id 0", { id: 0 }, "cannot use none as id"],
    ["the append thread's id", { id: LocalAppendThread }, "cannot use local target as id"],
    ["the apply thread's id", { id: LocalApplyThread }, "cannot use local target as id"],
    ["heartbeat 0", { heartbeatTick: 0 }, "heartbeat tick must be greater than 0"],
    ["election = heartbeat", { electionTick: 1 }, "election tick must be greater than heartbeat tick"],
    ["no inflight messages", { maxInflightMsgs: 0 }, "max inflight messages must be greater than 0"],
    [
      "inflight bytes below message size",
      { maxSizePerMsg: 100, maxInflightBytes: 99 },
      "max inflight bytes must be >= max message size",
    ],
    [
      "lease-based reads without CheckQuorum",
      { readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased },
      "CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased",
    ],
  ];
  for (const [name, patch, message] of cases) {
    it(`refuses ${name}`, () => {
      let err: unknown;
      try {
        new RawNode({ ...base(), ...patch });
      } catch (e) {
        err = e;
      }
      expect(isRaftError(err, "ConfigInvalid")).toBe(true);
      expect((err as Error).message).toBe(message);
    });
  }

  it("refuses a missing storage", () => {
    const c = { ...base(), storage: undefined } as unknown as Config;
    expect(() => validateConfig(c)).toThrow("storage cannot be nil");
  });

  it("fills in etcd's defaults", () => {
    const v = validateConfig({ ...base(), maxSizePerMsg: 1024 });
    expect(v.maxUncommittedEntriesSize).toBe(NO_LIMIT);
    expect(v.maxCommittedSizePerReady).toBe(1024);
    expect(v.maxInflightBytes).toBe(NO_LIMIT);
    expect(v.readOnlyOption).toBe(ReadOnlyOption.ReadOnlySafe);
    expect(v.random).toBeUndefined();
    const w = validateConfig({
      ...base(),
      maxSizePerMsg: 1024,
      maxCommittedSizePerReady: 7,
      maxInflightBytes: 2048,
    });
    expect([w.maxCommittedSizePerReady, w.maxInflightBytes]).toEqual([7, 2048]);
  });

  it("accepts the read-only option as a string", () => {
    expect(
      validateConfig({ ...base(), checkQuorum: true, readOnlyOption: "lease-based" }).readOnlyOption,
    ).toBe(ReadOnlyOption.ReadOnlyLeaseBased);
    expect(() => validateConfig({ ...base(), readOnlyOption: "fast" as "safe" })).toThrow(
      expect.objectContaining({ code: "ConfigInvalid" }),
    );
  });
});

describe("maxCommittedSizePerReady default", () => {
  it("is one entry at a time when maxSizePerMsg is 0 too (etcd would panic at the first commit)", () => {
    const storage = new MemoryStorage();
    const c = validateConfig({ id: 1, electionTick: 10, heartbeatTick: 1, storage, maxInflightMsgs: 1 });
    expect(c.maxCommittedSizePerReady).toBe(1);
    const c2 = validateConfig({
      id: 1,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      maxInflightMsgs: 1,
      maxSizePerMsg: 4096,
    });
    expect(c2.maxCommittedSizePerReady).toBe(4096);
  });
});
