/**
 * The in-memory file system's crash semantics, which the WAL's crash harness relies on: only fsynced
 * data and synced directory entries survive a "durable" crash image; a torn write lands a prefix.
 */
import { describe, expect, it } from "vitest";
import { MemFileSystem, type MemFsOp } from "./mem-fs.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

describe("MemFileSystem", () => {
  it("keeps unsynced writes out of a durable image, and in a current one", async () => {
    const fs = new MemFileSystem();
    await fs.mkdir("/d");
    await fs.syncDir("/");
    const fh = await fs.open("/d/f", "create");
    await fs.syncDir("/d");
    await fh.write(bytes("hello "), 0, 6, 0);
    await fh.datasync();
    await fh.write(bytes("world"), 0, 5, 6);
    expect(text(await fs.crashImage({ data: "durable", dirs: "durable" }).readFile("/d/f"))).toBe("hello ");
    expect(text(await fs.crashImage({ data: "current", dirs: "durable" }).readFile("/d/f"))).toBe(
      "hello world",
    );
    await fh.truncate(2);
    expect(text(await fs.crashImage({ data: "durable", dirs: "durable" }).readFile("/d/f"))).toBe("hello ");
    await fh.sync();
    expect(text(await fs.crashImage({ data: "durable", dirs: "durable" }).readFile("/d/f"))).toBe("he");
  });

  it("keeps creations, renames and unlinks out of a durable image until the directory is synced", async () => {
    const fs = new MemFileSystem();
    const a = await fs.open("/a", "create");
    await a.write(bytes("A"), 0, 1, 0);
    await a.sync();
    expect(await fs.crashImage({ data: "durable", dirs: "durable" }).readdir("/")).toEqual([]);
    await fs.syncDir("/");
    await fs.rename("/a", "/b");
    expect(await fs.crashImage({ data: "durable", dirs: "durable" }).readdir("/")).toEqual(["a"]);
    expect(await fs.crashImage({ data: "durable", dirs: "current" }).readdir("/")).toEqual(["b"]);
    await fs.syncDir("/");
    await fs.unlink("/b");
    expect(await fs.crashImage({ data: "durable", dirs: "durable" }).readdir("/")).toEqual(["b"]);
    expect(await fs.crashImage({ data: "durable", dirs: "current" }).readdir("/")).toEqual([]);
  });

  it("a torn image lands only a prefix of the write in progress", async () => {
    const fs = new MemFileSystem();
    const fh = await fs.open("/f", "create");
    await fh.write(bytes("0123"), 0, 4, 0);
    let torn = "";
    fs.hook = async (op: MemFsOp) => {
      if (op.kind !== "write") return;
      const image = fs.crashImage({ data: "current", dirs: "current", torn: { op, bytes: 3 } });
      torn = text(await image.readFile("/f"));
    };
    await fh.write(bytes("abcdef"), 0, 6, 4);
    expect(torn).toBe("0123abc");
    expect(text(await fs.readFile("/f"))).toBe("0123abcdef");
  });

  it("images are copy-on-write: neither side sees the other's later changes", async () => {
    const fs = new MemFileSystem();
    const fh = await fs.open("/f", "create");
    await fh.write(bytes("base"), 0, 4, 0);
    const image = fs.clone();
    await fh.write(bytes("LIVE"), 0, 4, 0);
    const ih = await image.open("/f", "readWrite");
    await ih.write(bytes("IMG!"), 0, 4, 0);
    expect(text(await fs.readFile("/f"))).toBe("LIVE");
    expect(text(await image.readFile("/f"))).toBe("IMG!");
    expect(text(await fs.clone().readFile("/f"))).toBe("LIVE");
  });

  it("a hook that throws fails the operation, which then has no effect", async () => {
    const fs = new MemFileSystem((op) => {
      if (op.kind === "write") throw Object.assign(new Error("EIO"), { code: "EIO" });
    });
    const fh = await fs.open("/f", "create");
    await expect(fh.write(bytes("x"), 0, 1, 0)).rejects.toMatchObject({ code: "EIO" });
    fs.hook = undefined;
    expect((await fs.readFile("/f")).length).toBe(0);
    await expect(fs.open("/f", "create")).rejects.toMatchObject({ code: "EEXIST" });
    await expect(fs.open("/nope", "readWrite")).rejects.toMatchObject({ code: "ENOENT" });
  });
});
