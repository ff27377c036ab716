/**
 * TEMPORARY: a minimal decoder for ConfChange/ConfChangeV2 until the raftpb codec (branch `raftpb`)
 * lands on main; describe.ts and the harness then import `decodeConfChange`/`decodeConfChangeV2` from
 * there and this file goes away.
 */
import { RaftError } from "./errors.js";
import {
  type ConfChange,
  type ConfChangeSingle,
  type ConfChangeV2,
  newConfChange,
  newConfChangeV2,
} from "./raftpb/types.js";

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new RaftError("Decode", "proto: unexpected EOF");
      const b = this.buf[this.pos++] as number;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new RaftError("Decode", "proto: unexpected EOF");
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new RaftError("Decode", "proto: cannot parse invalid wire-format data");
  }
}

function fields(buf: Uint8Array, f: (r: Reader, field: number, wire: number) => boolean): void {
  const r = new Reader(buf);
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (!f(r, Math.floor(tag / 8), tag & 7)) r.skip(tag & 7);
  }
}

export function decodeConfChange(buf: Uint8Array): ConfChange {
  const cc = newConfChange();
  fields(buf, (r, field, wire) => {
    if (field === 1 && wire === 0) cc.id = r.varint();
    else if (field === 2 && wire === 0) cc.type = r.varint();
    else if (field === 3 && wire === 0) cc.nodeId = r.varint();
    else if (field === 4 && wire === 2) cc.context = r.bytes();
    else return false;
    return true;
  });
  return cc;
}

export function decodeConfChangeV2(buf: Uint8Array): ConfChangeV2 {
  const cc = newConfChangeV2();
  fields(buf, (r, field, wire) => {
    if (field === 1 && wire === 0) cc.transition = r.varint();
    else if (field === 2 && wire === 2) {
      const single: ConfChangeSingle = { type: 0, nodeId: 0 };
      fields(r.bytes(), (r2, f2, w2) => {
        if (f2 === 1 && w2 === 0) single.type = r2.varint();
        else if (f2 === 2 && w2 === 0) single.nodeId = r2.varint();
        else return false;
        return true;
      });
      cc.changes.push(single);
    } else if (field === 3 && wire === 2) cc.context = r.bytes();
    else return false;
    return true;
  });
  return cc;
}
