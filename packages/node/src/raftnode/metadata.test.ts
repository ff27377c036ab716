/** What the node stores beside the state machine's image: snapshot metadata and WAL metadata. */
import { describe, expect, it } from "vitest";
import {
  decodeSnapshotMetadata,
  decodeWalMetadata,
  encodeSnapshotMetadata,
  encodeWalMetadata,
} from "./metadata.js";

const members = [
  { id: 1, url: "ws://a:1", learner: false },
  { id: 4, url: "ws://d:1", learner: true },
];

describe("snapshot metadata", () => {
  it("round-trips membership, with and without an image digest", () => {
    const plain = decodeSnapshotMetadata(encodeSnapshotMetadata({ members, removed: [3] }));
    expect(plain).toEqual({ members, removed: [3] });
    const image = { size: 12345, sha256: "ab".repeat(32) };
    const withImage = decodeSnapshotMetadata(encodeSnapshotMetadata({ members, removed: [], image }));
    expect(withImage).toEqual({ members, removed: [], image });
  });

  it("refuses foreign, truncated or malformed data with a reason", () => {
    expect(() => decodeSnapshotMetadata(Uint8Array.of(0, 1, 2, 255))).toThrow(/bad magic/);
    const truncated = encodeSnapshotMetadata({ members, removed: [] }).slice(0, 20);
    expect(() => decodeSnapshotMetadata(truncated)).toThrow(/runs past/);
    const future = encodeSnapshotMetadata({ members, removed: [] });
    future[4] = 9;
    expect(() => decodeSnapshotMetadata(future)).toThrow(/version 9/);
    const badImage = encodeSnapshotMetadata({ members, removed: [], image: { size: 1, sha256: "nothex" } });
    expect(() => decodeSnapshotMetadata(badImage)).toThrow(/image description/);
  });

  it("reads version 1 (earlier releases), whose image is inline after the JSON", () => {
    const json = new TextEncoder().encode(JSON.stringify({ members, removed: [2] }));
    const app = Uint8Array.of(9, 8, 7);
    const v1 = new Uint8Array(9 + json.length + app.length);
    v1.set([0x54, 0x53, 0x52, 0x4e, 1]);
    new DataView(v1.buffer).setUint32(5, json.length);
    v1.set(json, 9);
    v1.set(app, 9 + json.length);
    const d = decodeSnapshotMetadata(v1);
    expect(d.members).toEqual(members);
    expect(d.removed).toEqual([2]);
    expect([...(d.inlineImage ?? [])]).toEqual([9, 8, 7]);
  });
});

describe("WAL metadata", () => {
  it("round-trips; anything else is not ours", () => {
    expect(decodeWalMetadata(encodeWalMetadata(0xabc, 7))).toEqual({ id: 0xabc, clusterId: 7 });
    expect(decodeWalMetadata(new Uint8Array(0))).toBeUndefined();
    expect(decodeWalMetadata(new TextEncoder().encode('{"id":"x"}'))).toBeUndefined();
  });
});
